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
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import buildkit_suite_http
from buildkit_suite_cases import KNOWN, SUITE, Case, case_dirs
from buildkit_suite_check import check_build, check_file, check_same, short, tail
from buildkit_suite_image import read_oci
from buildkit_suite_table import missing, table

# Seconds one build may take before the case fails.
BUILD_TIMEOUT = 600


def rbuild_command(opts, case: Case, ctx: Path, work: Path, out: Path, no_cache: bool) -> list:
    """The rbuild command line building `ctx` into the OCI archive `out`."""
    b = case.build
    cmd = [opts.rbuild, "--root", opts.root, "build", "--progress", "plain"]
    if "dockerfile" in b:  # with a remote context: a path inside it (BuildKit's filename=)
        cmd += ["-f", b["dockerfile"] if "context" in b else str(ctx / b["dockerfile"])]
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
    out = subprocess.run(["ssh-agent", "-s", "-a", str(sock)], check=True, capture_output=True, text=True).stdout
    # `ssh-agent -k` finds the agent by SSH_AGENT_PID, which only this output tells.
    pid = re.search(r"SSH_AGENT_PID=(\d+)", out)
    if pid:
        (work / "agent.pid").write_text(pid.group(1))
    env = dict(os.environ, SSH_AUTH_SOCK=str(sock))
    subprocess.run(["ssh-add", "-q", str(key)], env=env, check=True, capture_output=True)
    return str(sock)


def stop_ssh_agent(work: Path):
    """Stops the agent `ssh_agent` started for this case, if any."""
    pid = work / "agent.pid"
    if pid.exists():
        env = dict(os.environ, SSH_AUTH_SOCK=str(work / "agent.sock"), SSH_AGENT_PID=pid.read_text())
        subprocess.run(["ssh-agent", "-k"], env=env, capture_output=True)


def run_quiet(cmd: list):
    subprocess.run(cmd, check=True, capture_output=True)


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
