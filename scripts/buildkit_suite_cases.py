"""The cases of testdata/buildkit-suite/ (README.md there): directories and expect.toml."""

import tomllib
from pathlib import Path

PROJECT = Path(__file__).resolve().parent.parent
SUITE = PROJECT / "testdata" / "buildkit-suite"
STATUSES = ("ported", "waiting", "n/a")


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
