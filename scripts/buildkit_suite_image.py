"""An image read from an OCI archive: its config and its root filesystem, in memory.

Layers are applied in order with their whiteouts (`.wh.NAME`, `.wh..wh..opq`); paths are
resolved inside the image, as in a chroot, so no symlink of the image leads out of it.
"""

import gzip
import io
import json
import posixpath
import subprocess
import tarfile
from pathlib import Path


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
