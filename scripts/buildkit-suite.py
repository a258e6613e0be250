#!/usr/bin/env python3
"""BuildKit's Dockerfile integration tests, ported as data (testdata/buildkit-suite/README.md).

  run --builder rbuild --rbuild BIN --root STORE [--filter S] [--jobs N] [CASE_DIR...]
  run --builder buildctl --addr ADDR [--buildctl BIN] [--filter S] [--jobs N] [CASE_DIR...]
  table [--out docs/CONFORMANCE.md] [--check]
  missing --git-dir BUILDKIT_GIT_DIR   Go tests of the ported groups that have no directory

`run` builds every "ported" case, exports it as an OCI archive, reads the image's root
filesystem and config from it and checks expect.toml. One line per case, then the totals;
the exit status is 1 when a case FAILs or XPASSes (an `rbuild_differs` case passing on rbuild:
the difference is fixed, drop the key).
"""

import argparse
import concurrent.futures
import gzip
import hashlib
import io
import json
import os
import posixpath
import shutil
import stat
import subprocess
import sys
import tarfile
import tempfile
import tomllib

import buildkit_suite_http
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
SUITE = PROJECT / "testdata" / "buildkit-suite"
STATUSES = ("ported", "waiting", "n/a")
# Seconds one build may take before the case fails.
BUILD_TIMEOUT = 600


# ---------------------------------------------------------------- cases


class Case:
    """One case directory and its parsed expect.toml."""

    def __init__(self, path: Path):
        self.path = path
        self.name = path.relative_to(SUITE).as_posix() if path.is_relative_to(SUITE) else str(path)
        with open(path / "expect.toml", "rb") as f:
            self.spec = tomllib.load(f)
        self.build = self.spec.get("build", {})
        self.expect = self.spec.get("expect", {})
        self.befores = []  # the images of the [[before]] builds, once built
        self.http_url = ""  # the case's http server, while it runs
        self.layouts = {}  # [[before]] oci_layout name: (its directory, its manifest's digest)

    @property
    def status(self) -> str:
        return self.spec.get("status", "")

    @property
    def differs(self) -> str:
        return self.spec.get("rbuild_differs", "")

    @property
    def go_test(self) -> str:
        """`group/testName`: the Go test this case ports (variants after `@` dropped)."""
        return self.name.split("@", 1)[0]


def case_dirs(roots):
    """Case directories under `roots` (a case dir itself, or any dir holding some), sorted."""
    found = []
    for root in roots:
        root = Path(root).resolve()
        if (root / "expect.toml").is_file():
            found.append(root)
            continue
        found.extend(p.parent for p in root.rglob("expect.toml"))
    return sorted(set(found))


def validate(case: Case) -> list:
    """What is wrong with a case's expect.toml (empty when it is valid)."""
    errors = []
    spec = case.spec
    known = {"buildkit", "status", "reason", "note", "rbuild_differs", "build", "before", "expect"}
    errors += [f"unknown key {k!r}" for k in spec if k not in known]
    group = case.go_test.split("/")[0]
    # errors_test.go and exclude_patterns_test.go lack the dockerfile_ prefix in BuildKit.
    if not str(spec.get("buildkit", "")).startswith((f"dockerfile_{group}_test.go:", f"{group}_test.go:")):
        errors.append("buildkit must name the Go test: [dockerfile_]<group>_test.go:testName")
    elif not spec["buildkit"].endswith(":" + case.go_test.split("/")[-1]):
        errors.append(f"buildkit {spec['buildkit']!r} does not end with the directory's test name")
    if case.status not in STATUSES:
        errors.append(f"status {case.status!r} is not one of {STATUSES}")
    if case.status in ("waiting", "n/a") and not spec.get("reason"):
        errors.append(f"status {case.status!r} needs a reason")
    if case.differs and case.status != "ported":
        errors.append("rbuild_differs is for ported cases only")
    errors += unknown_keys(case)
    errors += [f"before: no directory {step['dir']!r}" for step in case.spec.get("before", [])
               if "dir" in step and not (case.path / step["dir"]).is_dir()]
    if case.status == "ported" and "context" not in case.build:
        names = [case.build["dockerfile"]] if "dockerfile" in case.build else ["Dockerfile", "dockerfile"]
        if not any((case.path / "context" / name).is_file() for name in names):
            errors.append(f"context/{names[0]} is missing")
    return errors


# The keys of each table README.md describes: a misspelt one would silently check nothing.
KNOWN = {
    "build": {"dockerfile", "target", "args", "platform", "contexts", "secrets", "ssh", "no_cache", "opts", "labels", "http", "http_last_modified", "context"},
    "expect": {"success", "error", "output", "reproducible", "file", "config", "history"},
    "file": {"path", "type", "content", "contains", "mode", "uid", "gid", "link", "mtime", "same_file", "sha256", "lacks",
             "same_as", "not_same_as"},
    "config": {"pointer", "equals", "absent"},
    # [[before]]: an earlier build: [build] keys it changes, `dir` (a case directory that
    # replaces context/ for it) and `file` (expectations on its image).
    "before": {"dir", "file", "oci_layout", "target", "args", "platform", "no_cache", "opts"},
    "history": {"index", "created_by", "empty_layer"},
}


def unknown_keys(case: Case) -> list:
    tables = [("build", case.build), ("expect", case.expect)]
    for step in case.spec.get("before", []):
        tables += [("before", step)] + [("file", t) for t in step.get("file", [])]
    for kind in ("file", "config", "history"):
        tables += [(kind, t) for t in case.expect.get(kind, [])]
    return [f"unknown key {k!r} in [{kind}]" for kind, t in tables for k in t if k not in KNOWN[kind]]


# ---------------------------------------------------------------- builders


def rbuild_command(opts, case: Case, ctx: Path, work: Path, out: Path, no_cache: bool) -> list:
    """The rbuild command line building `ctx` into the OCI archive `out`."""
    b = case.build
    cmd = [opts.rbuild, "--root", opts.root, "build", "--progress", "plain"]
    if "dockerfile" in b and "context" not in b:
        cmd += ["-f", str(ctx / b["dockerfile"])]
    for k, v in b.get("args", {}).items():
        cmd += ["--build-arg", f"{k}={v}"]
    if "target" in b:
        cmd += ["--target", b["target"]]
    if "platform" in b:
        cmd += ["--platform", b["platform"]]
    for name, src in named_contexts(case, work).items():
        layout = case.layouts.get(src.removeprefix("oci-layout://")) if src.startswith("oci-layout://") else None
        if layout:
            src = f"oci-layout://{layout[0]}@{layout[1]}"
        cmd += ["--build-context", f"{name}={src}"]
    for k, v in b.get("opts", {}).items():
        cmd += [f"--{k}", v]
    for k, v in b.get("labels", {}).items():
        cmd += ["--label", f"{k}={v}"]
    if isinstance(b.get("no_cache"), str):  # stages: BuildKit's no-cache=s1,s2
        cmd += ["--no-cache-filter", b["no_cache"]]
    cmd += shared_flags(case, work, no_cache)
    return cmd + ["-o", f"type=oci,dest={out}", b.get("context", str(ctx))]


def buildctl_command(opts, case: Case, ctx: Path, work: Path, out: Path, no_cache: bool) -> list:
    """The buildctl command line building `ctx` with the Dockerfile frontend into `out`."""
    b = case.build
    dockerfile = ctx / b.get("dockerfile", "Dockerfile")
    cmd = [opts.buildctl, "--addr", opts.addr, "build", "--progress", "plain", "--frontend", "dockerfile.v0"]
    if "context" in b:  # a remote context: the Dockerfile comes from it too
        cmd += ["--opt", f"context={b['context']}"]
    else:
        cmd += ["--local", f"context={ctx}", "--local", f"dockerfile={dockerfile.parent}"]
    if "dockerfile" in b:  # otherwise the frontend's default: Dockerfile, or else dockerfile
        cmd += ["--opt", f"filename={dockerfile.name}"]
    for k, v in b.get("args", {}).items():
        cmd += ["--opt", f"build-arg:{k}={v}"]
    if "target" in b:
        cmd += ["--opt", f"target={b['target']}"]
    if "platform" in b:
        cmd += ["--opt", f"platform={b['platform']}"]
    for name, src in named_contexts(case, work).items():
        layout_name = src.removeprefix("oci-layout://")
        if src.startswith("oci-layout://") and layout_name in case.layouts:
            path, digest = case.layouts[layout_name]
            cmd += ["--oci-layout", f"{layout_name}={path}", "--opt", f"context:{name}={src}@{digest}"]
        elif "://" in src:
            cmd += ["--opt", f"context:{name}={src}"]
        else:
            cmd += ["--local", f"{name}={src}", "--opt", f"context:{name}=local:{name}"]
    for k, v in b.get("opts", {}).items():
        cmd += ["--opt", f"{k}={v}"]
    for k, v in b.get("labels", {}).items():
        cmd += ["--opt", f"label:{k}={v}"]
    if isinstance(b.get("no_cache"), str):
        cmd += ["--opt", f"no-cache={b['no_cache']}"]
    cmd += shared_flags(case, work, no_cache)
    return cmd + ["--output", f"type=oci,dest={out}"]


def shared_flags(case: Case, work: Path, no_cache: bool) -> list:
    """--secret, --ssh and --no-cache: rbuild and buildctl spell them alike."""
    flags = []
    for sid, path in secret_files(case, work).items():
        flags += ["--secret", f"id={sid},src={path}"]
    if case.build.get("ssh"):
        flags += ["--ssh", f"default={ssh_agent(work)}"]
    return flags + (["--no-cache"] if no_cache is True else [])


BUILDERS = {"rbuild": rbuild_command, "buildctl": buildctl_command}


def named_contexts(case: Case, work: Path) -> dict:
    """Named contexts: a URL as given, a case subdirectory copied into `work`."""
    result = {}
    for name, src in case.build.get("contexts", {}).items():
        if "://" in src:
            result[name] = src
            continue
        dest = work / f"named-{name}"
        if not dest.exists():
            shutil.copytree(case.path / src, dest, symlinks=True)
        result[name] = str(dest)
    return result


def secret_files(case: Case, work: Path) -> dict:
    """Each secret's value written to a file in `work`."""
    result = {}
    for sid, value in case.build.get("secrets", {}).items():
        path = work / f"secret-{sid}"
        path.write_text(value)
        result[sid] = str(path)
    return result


def ssh_agent(work: Path) -> str:
    """Starts an ssh-agent on a socket in `work` holding a fresh key; returns the socket."""
    sock = work / "agent.sock"
    if sock.exists():
        return str(sock)
    key = work / "id_ed25519"
    run_quiet(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(key)])
    run_quiet(["ssh-agent", "-a", str(sock)])
    env = dict(os.environ, SSH_AUTH_SOCK=str(sock))
    subprocess.run(["ssh-add", "-q", str(key)], env=env, check=True, capture_output=True)
    return str(sock)


def stop_ssh_agent(work: Path):
    """Stops the agent `ssh_agent` started for this case, if any."""
    sock = work / "agent.sock"
    if sock.exists():
        env = dict(os.environ, SSH_AUTH_SOCK=str(sock))
        subprocess.run(["ssh-agent", "-k"], env=env, capture_output=True)


def run_quiet(cmd: list):
    subprocess.run(cmd, check=True, capture_output=True)


# ---------------------------------------------------------------- OCI archive → image


class Image:
    """An image read from an OCI archive: its config and its root filesystem."""

    def __init__(self, config: dict, fs: dict):
        self.config = config
        self.fs = fs  # path without leading slash ("" is the root) → Entry


class Entry:
    """One filesystem entry: kind is "file", "dir", "symlink" or "other"."""

    def __init__(self, kind, mode=0o755, uid=0, gid=0, data=b"", link="", mtime=0):
        self.kind, self.mode, self.uid, self.gid = kind, mode, uid, gid
        self.data, self.link, self.mtime = data, link, mtime


def read_oci(archive: Path, platform: str = "") -> Image:
    """The image in an OCI archive (for an index of several, the one for `platform`)."""
    with tarfile.open(archive) as outer:

        def blob(digest: str) -> bytes:
            algo, hexa = digest.split(":", 1)
            return outer.extractfile(f"blobs/{algo}/{hexa}").read()

        desc = pick_manifest(json.loads(outer.extractfile("index.json").read()), blob, platform)
        manifest = json.loads(blob(desc["digest"]))
        config = json.loads(blob(manifest["config"]["digest"]))
        fs = {"": Entry("dir")}
        for layer in manifest.get("layers") or []:  # BuildKit writes null for no layers
            apply_layer(fs, decompress(blob(layer["digest"]), layer.get("mediaType", "")))
    return Image(config, fs)


def pick_manifest(index: dict, blob, platform: str) -> dict:
    """The image manifest's descriptor, going down nested indexes."""
    manifests = index.get("manifests", [])
    if not manifests:
        raise ValueError("index.json names no manifest")
    chosen = manifests[0]
    if platform:
        want = platform.split("/")
        for m in manifests:
            p = m.get("platform", {})
            have = [p.get("os", ""), p.get("architecture", "")] + ([p["variant"]] if p.get("variant") else [])
            if have[: len(want)] == want:
                chosen = m
                break
    if "index" in chosen.get("mediaType", "") or "manifest.list" in chosen.get("mediaType", ""):
        return pick_manifest(json.loads(blob(chosen["digest"])), blob, platform)
    return chosen


def decompress(data: bytes, media_type: str) -> bytes:
    if data[:2] == b"\x1f\x8b":
        return gzip.decompress(data)
    if data[:4] == b"\x28\xb5\x2f\xfd":
        return subprocess.run(["zstd", "-dc"], input=data, capture_output=True, check=True).stdout
    return data


def clean(name: str) -> str:
    """A tar member name as a path key: no leading ./ or /, normalized, never above the root."""
    path = posixpath.normpath("/" + name).lstrip("/")
    return "" if path == "." else path


def apply_layer(fs: dict, data: bytes):
    """Applies one layer tar: its whiteouts to the lower layers first, then its entries."""
    with tarfile.open(fileobj=io.BytesIO(data)) as tar:
        members = tar.getmembers()
        for m in members:
            path = clean(m.name)
            base = posixpath.basename(path)
            parent = posixpath.dirname(path)
            if base == ".wh..wh..opq":
                remove_tree(fs, parent, keep_root=True)
            elif base.startswith(".wh."):
                remove_tree(fs, posixpath.join(parent, base[4:]), keep_root=False)
        for m in members:
            path = clean(m.name)
            if posixpath.basename(path).startswith(".wh.") or path == "":
                if path == "" and m.isdir():
                    fs[""] = Entry("dir", m.mode & 0o7777, m.uid, m.gid)
                continue
            add_member(fs, tar, m, path)


def remove_tree(fs: dict, path: str, keep_root: bool):
    prefix = path + "/" if path else ""
    for key in [k for k in fs if k.startswith(prefix) and k != path]:
        del fs[key]
    if not keep_root:
        fs.pop(path, None)


def add_member(fs: dict, tar: tarfile.TarFile, m: tarfile.TarInfo, path: str):
    make_parents(fs, path)
    old = fs.get(path)
    if old is not None and not (old.kind == "dir" and m.isdir()):
        remove_tree(fs, path, keep_root=False)
    mode = m.mode & 0o7777
    if m.isdir():
        fs[path] = Entry("dir", mode, m.uid, m.gid, mtime=m.mtime)
    elif m.issym():
        fs[path] = Entry("symlink", mode, m.uid, m.gid, link=m.linkname, mtime=m.mtime)
    elif m.islnk():
        target = fs.get(clean(m.linkname))
        if target is not None:
            fs[path] = target  # one entry under two names, as one inode is
    elif m.isfile():
        fs[path] = Entry("file", mode, m.uid, m.gid, tar.extractfile(m).read(), mtime=m.mtime)
    else:
        fs[path] = Entry("other", mode, m.uid, m.gid, mtime=m.mtime)


def make_parents(fs: dict, path: str):
    parent = posixpath.dirname(path)
    while parent and parent not in fs:
        fs[parent] = Entry("dir")
        parent = posixpath.dirname(parent)


def resolve(fs: dict, path: str, follow_last: bool):
    """The key of `path` in the image, symlinks resolved inside the image (as in a chroot)."""
    todo = [c for c in path.split("/") if c]
    done = []
    hops = 0
    while todo:
        comp = todo.pop(0)
        if comp == ".":
            continue
        if comp == "..":
            done = done[:-1]
            continue
        key = "/".join(done + [comp])
        entry = fs.get(key)
        if entry is not None and entry.kind == "symlink" and (todo or follow_last):
            hops += 1
            if hops > 40:
                return None
            if entry.link.startswith("/"):
                done = []
            todo = [c for c in entry.link.split("/") if c] + todo
            continue
        done.append(comp)
    return "/".join(done)


# ---------------------------------------------------------------- checks


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


def tail(text: str, lines: int = 15) -> str:
    return "\n".join("    " + line for line in text.rstrip().splitlines()[-lines:])


# ---------------------------------------------------------------- run


def run_case(opts, case: Case) -> tuple:
    """Builds one case; returns (verdict, message)."""
    with tempfile.TemporaryDirectory(prefix="bksuite-") as tmp:
        work = Path(tmp)
        ctx = work / "context"
        server = None
        try:
            if (case.path / "context").is_dir():
                shutil.copytree(case.path / "context", ctx, symlinks=True)
            else:  # a remote context ([build] context)
                ctx.mkdir()
            if case.build.get("http"):
                server = start_server(case, work, ctx)
            setup = case.path / "setup.sh"
            if setup.exists():
                env = {**os.environ, "HTTP_DIR": str(work / "http")}
                subprocess.run([str(setup)], cwd=ctx, env=env, check=True, capture_output=True, text=True)
            problems = build_befores(opts, case, ctx, work)
            archive = work / "image.tar"
            proc = build(opts, case, ctx, work, archive, case.build.get("no_cache", False))
            problems = problems or check_build(case, proc, archive)
            if not problems and case.expect.get("reproducible"):
                problems = check_reproducible(opts, case, ctx, work, archive)
        except subprocess.CalledProcessError as e:
            problems = [f"{e.cmd[0]} failed: {e.stderr}"]
        except subprocess.TimeoutExpired:
            problems = [f"the build took more than {BUILD_TIMEOUT}s"]
        finally:
            stop_ssh_agent(work)
            if server:
                server.close()
    return verdict(opts, case, problems)


def start_server(case: Case, work: Path, ctx: Path):
    """Serves a copy of the case's http/ (setup.sh may add to it: $HTTP_DIR) and puts its URL
    for {{HTTP}} into the copied Dockerfile and into the case's [build] values."""
    served = work / "http"
    if (case.path / "http").is_dir():
        shutil.copytree(case.path / "http", served, symlinks=True)
    else:
        served.mkdir()
    server = buildkit_suite_http.Server(served, case.build.get("http_last_modified", True))
    case.http_url = server.url
    dockerfile = ctx / case.build.get("dockerfile", "Dockerfile")
    if dockerfile.is_file():
        fill_in_url(dockerfile, server.url)
    case.build = fill_in_values(case.build, server.url)
    return server


def fill_in_url(dockerfile: Path, url: str):
    """Replaces {{HTTP}} in the (copied) Dockerfile by the case's server URL."""
    dockerfile.write_text(dockerfile.read_text().replace("{{HTTP}}", url))


def fill_in_values(value, url: str):
    """`value` (a [build] string, table or list) with {{HTTP}} replaced by the server URL."""
    if isinstance(value, str):
        return value.replace("{{HTTP}}", url)
    if isinstance(value, dict):
        return {k: fill_in_values(v, url) for k, v in value.items()}
    if isinstance(value, list):
        return [fill_in_values(v, url) for v in value]
    return value


def build_befores(opts, case: Case, ctx: Path, work: Path) -> list:
    """`[[before]]`: the earlier builds, in order, with the same context path, store and daemon
    (a step's `dir` replaces the context from then on; context/ is back for the last). Their images
    go to `case.befores`; returns the problems (a failed build, unmet `file` expectations)."""
    main_build = case.build
    try:
        for i, step in enumerate(case.spec.get("before", [])):
            if "dir" in step:
                replace_dir(case, ctx, case.path / step["dir"])
            # The step's own target/args/platform/no_cache/opts, not the checked build's.
            shared = {k: v for k, v in main_build.items() if k not in KNOWN["before"]}
            case.build = {**shared, **{k: v for k, v in step.items() if k not in ("dir", "file")}}
            archive = work / f"before-{i}.tar"
            proc = build(opts, case, ctx, work, archive, case.build.get("no_cache", False))
            if proc.returncode != 0:
                return [f"before-build {i} failed (exit {proc.returncode}):\n{tail(proc.stdout + proc.stderr)}"]
            try:
                image = read_oci(archive, case.build.get("platform", ""))
            except (OSError, KeyError, ValueError, tarfile.TarError) as e:
                return [f"before-build {i}: cannot read the exported image: {e}"]
            problems = [f"before-build {i}: {p}" for want in step.get("file", [])
                        for p in check_file(image.fs, want) + check_same(image.fs, want, case.befores)]
            if problems:
                return problems
            case.befores.append(image)
            if "oci_layout" in step:
                case.layouts[step["oci_layout"]] = unpack_layout(archive, work / f"layout-{i}")
    finally:
        case.build = main_build
    if any("dir" in step for step in case.spec.get("before", [])):
        replace_dir(case, ctx, case.path / "context")  # setup.sh is not run again
    return []


def unpack_layout(archive: Path, dest: Path) -> tuple:
    """The OCI archive unpacked as a layout directory: (its path, the digest index.json names)."""
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    index = json.loads((dest / "index.json").read_text())
    return str(dest), index["manifests"][0]["digest"]


def replace_dir(case: Case, ctx: Path, source: Path):
    """The build context directory `ctx` becomes a copy of `source`, at the same path (with the
    case's server URL for {{HTTP}} in its Dockerfile)."""
    shutil.rmtree(ctx)
    shutil.copytree(source, ctx, symlinks=True)
    dockerfile = ctx / case.build.get("dockerfile", "Dockerfile")
    if case.http_url and dockerfile.is_file():
        fill_in_url(dockerfile, case.http_url)


def build(opts, case: Case, ctx: Path, work: Path, archive: Path, no_cache: bool):
    """Runs the builder; returns the completed process (text output)."""
    cmd = BUILDERS[opts.builder](opts, case, ctx, work, archive, no_cache)
    return subprocess.run(cmd, capture_output=True, text=True, errors="replace",
                          timeout=BUILD_TIMEOUT, stdin=subprocess.DEVNULL)


def check_reproducible(opts, case: Case, ctx: Path, work: Path, first: Path) -> list:
    """Builds the case again without cache: the index.json must be the same, byte for byte."""
    again = work / "image-again.tar"
    proc = build(opts, case, ctx, work, again, True)
    if proc.returncode != 0:
        return [f"the second build (no cache) failed:\n{tail(proc.stdout + proc.stderr)}"]
    indexes = []
    for archive in (first, again):
        with tarfile.open(archive) as tar:
            indexes.append(tar.extractfile("index.json").read())
    if indexes[0] != indexes[1]:
        return [f"not reproducible: index.json {short(indexes[0])} then {short(indexes[1])}"]
    return []


def verdict(opts, case: Case, problems: list) -> tuple:
    expected_fail = opts.builder == "rbuild" and case.differs
    if expected_fail:
        if problems:
            return "XFAIL", f"rbuild differs: {case.differs}"
        return "XPASS", f"passes: rbuild no longer differs ({case.differs}); drop rbuild_differs"
    if problems:
        return "FAIL", "; ".join(problems)
    return "PASS", ""


def run(opts) -> int:
    roots = opts.cases or [SUITE]
    cases = [Case(p) for p in case_dirs(roots)]
    cases = [c for c in cases if c.status == "ported" and (not opts.filter or opts.filter in c.name)]
    counts = {k: 0 for k in ("PASS", "FAIL", "XFAIL", "XPASS")}
    with concurrent.futures.ThreadPoolExecutor(max_workers=opts.jobs) as pool:
        for case, (word, msg) in zip(cases, pool.map(lambda c: run_case(opts, c), cases)):
            counts[word] += 1
            print(f"{word} {case.name}" + (f": {msg}" if msg else ""), flush=True)
    total = sum(counts.values())
    print(f"totals ({opts.builder}): {total} cases: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 1 if counts["FAIL"] or counts["XPASS"] or total == 0 else 0


# ---------------------------------------------------------------- table


def go_tests(cases: list) -> dict:
    """Cases grouped by Go test (`group/testName`), in order."""
    tests = {}
    for case in cases:
        tests.setdefault(case.go_test, []).append(case)
    return dict(sorted(tests.items()))


def test_row(cases: list) -> tuple:
    """(status, differs, text) of one Go test from its cases."""
    statuses = [c.status for c in cases]
    ported = statuses.count("ported")
    if ported == len(cases):
        status = "ported"
    else:
        status = "waiting" if "waiting" in statuses else "n/a"
    texts = []
    if 0 < ported < len(cases):
        texts.append(f"{ported} of {len(cases)} cases ported")
    differs = [c for c in cases if c.differs]
    for c in differs:
        texts.append(f"rbuild differs ({variant(c)}): {c.differs}")
    for c in cases:
        for key in ("reason", "note"):
            if c.spec.get(key) and c.spec[key] not in texts:
                texts.append(c.spec[key] if len(cases) == 1 else f"{variant(c)}: {c.spec[key]}")
    return status, bool(differs) and status == "ported", "; ".join(texts)


def variant(case: Case) -> str:
    return "@" + case.name.split("@", 1)[1] if "@" in case.name else "main case"


def table_text() -> str:
    tests = go_tests([Case(p) for p in case_dirs([SUITE])])
    groups = {}
    for name, cases in tests.items():
        groups.setdefault(name.split("/")[0], []).append((name.split("/", 1)[1], test_row(cases)))
    lines = [
        "# Conformance with BuildKit's Dockerfile integration tests",
        "",
        "Generated by `scripts/buildkit-suite.py table` from `testdata/buildkit-suite/` (do not edit;",
        "`tests/e2e_buildkit_suite.rs` checks that it is current). One row per Go test of",
        "`frontend/dockerfile/dockerfile_<group>_test.go` in moby/buildkit. *ported*: its builds and",
        "assertions are cases in `testdata/buildkit-suite/<group>/<test>[@variant]/`, run on rbuild by",
        "`tests/e2e_buildkit_suite.rs` (every one passes there, except those marked *rbuild differs*,",
        "which are expected to fail until the difference is fixed) and on BuildKit by",
        "`scripts/buildkit-reference.sh`; *waiting*: needs a feature rbuild lacks; *n/a*: cannot run",
        "on this offline machine, or checks nothing of the Dockerfile's semantics.",
        "",
        "## Totals",
        "",
        "| group | ported | of which rbuild differs | passing on rbuild | waiting | n/a | total |",
        "|---|---|---|---|---|---|---|",
    ]
    all_rows = []
    for group, rows in groups.items():
        lines.append(totals_line(group, [r for _, r in rows]))
        all_rows += [r for _, r in rows]
    lines.append(totals_line("**all**", all_rows))
    for group, rows in groups.items():
        lines += ["", f"## {group}", "", "| test | status | reason / note |", "|---|---|---|"]
        for test, (status, differs, text) in rows:
            shown = status + (", rbuild differs" if differs else "")
            cell = text.replace("|", "\\|")
            lines.append(f"| {test} | {shown} | {cell} |")
    return "\n".join(lines) + "\n"


def totals_line(group: str, rows: list) -> str:
    ported = sum(1 for s, _, _ in rows if s == "ported")
    differs = sum(1 for s, d, _ in rows if s == "ported" and d)
    waiting = sum(1 for s, _, _ in rows if s == "waiting")
    na = sum(1 for s, _, _ in rows if s == "n/a")
    return f"| {group} | {ported} | {differs} | {ported - differs} | {waiting} | {na} | {len(rows)} |"


def table(opts) -> int:
    bad = [(c.name, e) for c in map(Case, case_dirs([SUITE])) for e in validate(c)]
    for name, error in bad:
        print(f"invalid {name}: {error}", file=sys.stderr)
    text = table_text()
    out = PROJECT / opts.out
    if opts.check:
        if not out.exists() or out.read_text() != text:
            print(f"{opts.out} is not what `scripts/buildkit-suite.py table` generates; run it", file=sys.stderr)
            return 1
    else:
        out.write_text(text)
    return 1 if bad else 0


def missing(opts) -> int:
    """Lists Go tests of the groups present here that have no case directory."""
    have = {c.go_test for c in map(Case, case_dirs([SUITE]))}
    groups = sorted({name.split("/")[0] for name in have} | set(opts.group or []))
    gone = 0
    for group in groups:
        source = ""
        for name in (f"dockerfile_{group}_test.go", f"{group}_test.go"):
            source = source or subprocess.run(
                ["git", "--git-dir", opts.git_dir, "show", f"HEAD:frontend/dockerfile/{name}"],
                capture_output=True, text=True).stdout
        for line in source.splitlines():
            if line.startswith("func test"):
                name = line[5:].split("(", 1)[0]
                if f"{group}/{name}" not in have:
                    print(f"{group}/{name}")
                    gone += 1
    return 1 if gone else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="build the ported cases and check them")
    r.add_argument("--builder", choices=sorted(BUILDERS), required=True)
    r.add_argument("--rbuild", help="rbuild binary (builder rbuild)")
    r.add_argument("--root", help="rbuild store holding busybox:latest (builder rbuild)")
    r.add_argument("--addr", help="buildkitd address (builder buildctl)")
    r.add_argument("--buildctl", default="buildctl", help="buildctl binary (builder buildctl)")
    r.add_argument("--filter", help="only cases whose path contains this")
    r.add_argument("--jobs", type=int, default=4, help="cases built at once")
    r.add_argument("cases", nargs="*", help="case directories, or directories holding some")
    t = sub.add_parser("table", help="write docs/CONFORMANCE.md")
    t.add_argument("--out", default="docs/CONFORMANCE.md")
    t.add_argument("--check", action="store_true", help="only check it is current")
    m = sub.add_parser("missing", help="Go tests with no case directory")
    m.add_argument("--git-dir", required=True, help="a git dir of moby/buildkit")
    m.add_argument("--group", action="append", help="also this group (core, copy, ...)")
    opts = parser.parse_args()
    if opts.command == "run":
        needed = ("rbuild", "root") if opts.builder == "rbuild" else ("addr",)
        lacking = [f"--{n}" for n in needed if not getattr(opts, n)]
        if lacking:
            parser.error(f"--builder {opts.builder} needs {' '.join(lacking)}")
        return run(opts)
    return table(opts) if opts.command == "table" else missing(opts)


if __name__ == "__main__":
    sys.exit(main())
