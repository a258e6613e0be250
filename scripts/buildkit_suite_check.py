"""The checks of a case's [expect] against a finished build and the image it exported."""

import hashlib
import json
import tarfile
from pathlib import Path

from buildkit_suite_cases import Case
from buildkit_suite_image import Image, read_oci, resolve


def check_build(case: Case, proc, archive: Path) -> list:
    """The build's outcome against `[expect]`: problems, empty when it meets them."""
    output = proc.stdout + proc.stderr
    if not case.expect.get("success", True):
        if proc.returncode == 0:
            return ["the build succeeded, expected it to fail"]
        error = case.expect.get("error", "")
        if error and error not in output:
            return [f"the error lacks {error!r}:\n{tail(output)}"]
        return []
    if proc.returncode != 0:
        return [f"the build failed (exit {proc.returncode}):\n{tail(output)}"]
    lacking = [text for text in case.expect.get("output", []) if text not in output]
    if lacking:
        return [f"the build's output lacks {lacking!r}:\n{tail(output)}"]
    try:
        image = read_oci(archive, case.build.get("platform", ""))
    except (OSError, KeyError, ValueError, tarfile.TarError) as e:
        return [f"cannot read the exported image: {e}"]
    return check_image(case, image)


def check_image(case: Case, image: Image) -> list:
    """Every expectation of `case` the image does not meet, as messages."""
    problems = []
    for want in case.expect.get("file", []):
        problems += check_file(image.fs, want)
        problems += check_same(image.fs, want, case.befores)
    for want in case.expect.get("config", []):
        problems += check_config(image.config, want)
    for want in case.expect.get("history", []):
        problems += check_history(image.config.get("history", []), want)
    return problems


def check_file(fs: dict, want: dict) -> list:
    path = want["path"]
    kind = want.get("type", "file")
    key = resolve(fs, path, follow_last=kind not in ("symlink", "absent"))
    entry = fs.get(key) if key is not None else None
    if kind == "absent":
        return [] if entry is None else [f"{path}: exists ({entry.kind}), expected absent"]
    if entry is None:
        return [f"{path}: missing, expected a {kind}"]
    if entry.kind != kind:
        return [f"{path}: is a {entry.kind}, expected a {kind}"]
    problems = []
    if "content" in want and entry.data != want["content"].encode():
        problems.append(f"{path}: content {short(entry.data)}, expected {short(want['content'].encode())}")
    if "sha256" in want and hashlib.sha256(entry.data).hexdigest() != want["sha256"]:
        problems.append(f"{path}: sha256 {hashlib.sha256(entry.data).hexdigest()}, expected {want['sha256']}")
    if "contains" in want and want["contains"].encode() not in entry.data:
        problems.append(f"{path}: content {short(entry.data)} lacks {want['contains']!r}")
    if "lacks" in want and want["lacks"].encode() in entry.data:
        problems.append(f"{path}: content {short(entry.data)} contains {want['lacks']!r}")
    if "mode" in want and entry.mode != int(want["mode"], 8):
        problems.append(f"{path}: mode {entry.mode:04o}, expected {want['mode']}")
    for field in ("uid", "gid", "mtime"):
        if field in want and getattr(entry, field) != want[field]:
            problems.append(f"{path}: {field} {getattr(entry, field)}, expected {want[field]}")
    if "link" in want and entry.link != want["link"]:
        problems.append(f"{path}: links to {entry.link!r}, expected {want['link']!r}")
    if "same_file" in want:
        other = resolve(fs, want["same_file"], follow_last=True)
        if fs.get(other) is not entry:
            problems.append(f"{path}: is not the same file (hard link) as {want['same_file']}")
    return problems


def check_same(fs: dict, want: dict, befores: list) -> list:
    """`same_as` / `not_same_as = N`: the file's content against the same path in before-build N."""
    problems = []
    for key, equal in (("same_as", True), ("not_same_as", False)):
        if key not in want:
            continue
        n = want[key]
        if not 0 <= n < len(befores):
            problems.append(f"{want['path']}: {key} = {n}, but there are {len(befores)} before-builds")
            continue
        mine = fs.get(resolve(fs, want["path"], follow_last=True))
        theirs = befores[n].fs.get(resolve(befores[n].fs, want["path"], follow_last=True))
        if theirs is None:
            problems.append(f"{want['path']}: missing in before-build {n}")
        elif mine is not None and (mine.data == theirs.data) != equal:
            verb = "differs from" if equal else "equals"
            problems.append(f"{want['path']}: content {short(mine.data)} {verb} before-build {n}'s {short(theirs.data)}")
    return problems


def short(data: bytes) -> str:
    text = repr(data[:200])
    return text + ("…" if len(data) > 200 else "")


def pointer(doc, ptr: str):
    """The value at JSON pointer `ptr`, or None when it names nothing."""
    if ptr == "":
        return doc
    for raw in ptr.lstrip("/").split("/"):
        token = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(doc, dict):
            doc = doc.get(token)
        elif isinstance(doc, list) and token.lstrip("-").isdigit() and -len(doc) <= int(token) < len(doc):
            doc = doc[int(token)]
        else:
            return None
        if doc is None:
            return None
    return doc


def check_config(config: dict, want: dict) -> list:
    value = pointer(config, want["pointer"])
    if want.get("absent"):
        return [] if value is None else [f"config {want['pointer']}: {json.dumps(value)}, expected absent"]
    expected = json.loads(want["equals"])
    if value != expected:
        return [f"config {want['pointer']}: {json.dumps(value)}, expected {json.dumps(expected)}"]
    return []


def check_history(history: list, want: dict) -> list:
    index = want["index"]
    if not -len(history) <= index < len(history):
        return [f"history[{index}]: the history has {len(history)} entries"]
    entry = history[index]
    problems = []
    if "created_by" in want and entry.get("created_by") != want["created_by"]:
        problems.append(f"history[{index}].created_by {entry.get('created_by')!r}, expected {want['created_by']!r}")
    if "empty_layer" in want and bool(entry.get("empty_layer", False)) != want["empty_layer"]:
        problems.append(f"history[{index}].empty_layer {entry.get('empty_layer', False)}, expected {want['empty_layer']}")
    return problems


def tail(text: str, lines: int = 15) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines()[-lines:])
