//! Layers end to end: filesystem semantics across layers as umoci (not rbuild) unpacks them,
//! and hostile archives that must not write outside the root filesystem.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::{text, tree, write_file, Entry, Env};

/// Sets `security.capability` (cap_net_bind_service=ep, VFS revision 2) on argv[1]; busybox
/// has no setcap. Static, so it runs in the busybox image.
const SETCAP_C: &str = r#"
#include <stdio.h>
#include <sys/xattr.h>
int main(int argc, char **argv) {
    unsigned char cap[20] = {1,0,0,2, 0,4,0,0, 0,0,0,0, 0,0,0,0, 0,0,0,0};
    if (argc != 2) return 2;
    if (setxattr(argv[1], "security.capability", cap, sizeof cap, 0) != 0) { perror("setxattr"); return 1; }
    return 0;
}
"#;

/// The expected value of that xattr.
const CAP_BYTES: [u8; 20] = [1, 0, 0, 2, 0, 4, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

fn compile_setcap(out: &Path) {
    let gcc = rbuild_testkit::require_tool("gcc", "gcc (with static glibc: libc6-dev)");
    let src = out.with_extension("c");
    std::fs::write(&src, SETCAP_C).unwrap();
    let res = Command::new(gcc)
        .args(["-static", "-O2", "-o"])
        .arg(out)
        .arg(&src)
        .output()
        .unwrap();
    assert!(res.status.success(), "gcc -static failed: {}", text(&res));
}

/// Three 100-character components: a 300+ character path (PAX headers in the layer).
fn long_dir() -> String {
    ["a", "b", "c"].map(|c| c.repeat(100)).join("/")
}

fn semantics_context(dir: &Path) {
    compile_setcap(&dir.join("setcap"));
    let long = long_dir();
    let dockerfile = format!(
        r#"FROM busybox:latest
COPY setcap /usr/local/bin/setcap-x
RUN set -e; mkdir -p /t/del /t/d2f/x /t/f2d /t/ren/olddir /t/opq/sub; \
    echo a > /t/del/gone; echo keep > /t/del/kept; echo in > /t/d2f/x/inner; \
    echo file > /t/f2d/y; echo moved > /t/ren/old; echo deep > /t/ren/olddir/f; \
    echo o1 > /t/opq/a; echo o2 > /t/opq/sub/b; \
    mkdir /t/links; echo data > /t/links/h1; ln /t/links/h1 /t/links/h2
RUN set -e; rm /t/del/gone; rm -rf /t/d2f/x; echo now-a-file > /t/d2f/x; \
    rm /t/f2d/y; mkdir /t/f2d/y; echo inside > /t/f2d/y/z; \
    mv /t/ren/old /t/ren/new; mv /t/ren/olddir /t/ren/newdir; \
    rm -rf /t/opq; mkdir /t/opq; echo fresh > /t/opq/c
RUN set -e; ln /t/links/h1 /t/links/h3; chown 1000:50 /t/links/h1; chmod 2750 /t/links; \
    ln -s h1 /t/links/rel; ln -s /t/links/h1 /t/links/abs; ln -s /does/not/exist /t/links/dangling; \
    printf '#!/bin/sh\necho suid\n' > /t/suid; chmod 4755 /t/suid; \
    printf '#!/bin/sh\necho cap\n' > /t/cap-bin; chmod 0755 /t/cap-bin; setcap-x /t/cap-bin; \
    mkdir -p /t/empty/a/b /t/sticky; chmod 1777 /t/sticky; \
    echo same > /t/links/s1; ln /t/links/s1 /t/links/s2; ln /t/links/s1 /t/links/s3; \
    mkdir -p /t/long/{long}; echo long > /t/long/{long}/file.txt
"#
    );
    write_file(&dir.join("Dockerfile"), dockerfile.as_bytes(), 0o644);
}

fn e(kind: char, mode: u32, data: &str) -> Entry {
    Entry {
        kind,
        mode,
        uid: 0,
        gid: 0,
        data: data.to_string(),
        link_group: None,
    }
}

/// The `/t` tree the Dockerfile above must produce, exactly.
fn expected_tree() -> BTreeMap<String, Entry> {
    let mut m = BTreeMap::new();
    let dirs = [
        "del",
        "d2f",
        "f2d",
        "f2d/y",
        "ren",
        "ren/newdir",
        "opq",
        "empty",
        "empty/a",
        "empty/a/b",
        "long",
    ];
    for d in dirs {
        m.insert(d.to_string(), e('d', 0o755, ""));
    }
    let files = [
        ("del/kept", "keep\n"),
        ("d2f/x", "now-a-file\n"),
        ("f2d/y/z", "inside\n"),
        ("ren/new", "moved\n"),
        ("ren/newdir/f", "deep\n"),
        ("opq/c", "fresh\n"),
    ];
    for (f, data) in files {
        m.insert(f.to_string(), e('f', 0o644, data));
    }
    m.insert("links".into(), e('d', 0o2750, ""));
    // h1 and h2 were linked in a lower layer; `chown h1` later copies h1 up, which breaks the
    // link (overlayfs without index, as Docker's overlay2): h3, linked after, joins h1 only.
    for h in ["h1", "h3"] {
        let mut entry = e('f', 0o644, "data\n");
        (entry.uid, entry.gid) = (1000, 50);
        entry.link_group = Some("links/h1".into());
        m.insert(format!("links/{h}"), entry);
    }
    m.insert("links/h2".into(), e('f', 0o644, "data\n"));
    for h in ["s1", "s2", "s3"] {
        let mut entry = e('f', 0o644, "same\n");
        entry.link_group = Some("links/s1".into());
        m.insert(format!("links/{h}"), entry);
    }
    m.insert("links/rel".into(), e('l', 0o777, "h1"));
    m.insert("links/abs".into(), e('l', 0o777, "/t/links/h1"));
    m.insert("links/dangling".into(), e('l', 0o777, "/does/not/exist"));
    m.insert("suid".into(), e('f', 0o4755, "#!/bin/sh\necho suid\n"));
    m.insert("cap-bin".into(), e('f', 0o755, "#!/bin/sh\necho cap\n"));
    m.insert("sticky".into(), e('d', 0o1777, ""));
    let mut path = "long".to_string();
    for part in long_dir().split('/') {
        path = format!("{path}/{part}");
        m.insert(path.clone(), e('d', 0o755, ""));
    }
    m.insert(format!("{path}/file.txt"), e('f', 0o644, "long\n"));
    m
}

fn xattr(path: &Path, name: &str) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 256];
    let n = rustix::fs::lgetxattr(path, name, &mut buf).ok()?;
    buf.truncate(n);
    Some(buf)
}

fn assert_tree(root: &Path, who: &str) {
    let got = tree(&root.join("t"));
    let want = expected_tree();
    for (path, entry) in &want {
        assert_eq!(got.get(path), Some(entry), "{who}: /t/{path}");
    }
    let extra: Vec<_> = got.keys().filter(|k| !want.contains_key(*k)).collect();
    assert!(extra.is_empty(), "{who}: unexpected entries {extra:?}");
    assert_eq!(
        xattr(&root.join("t/cap-bin"), "security.capability"),
        Some(CAP_BYTES.to_vec()),
        "{who}: file capability"
    );
    assert_eq!(
        xattr(&root.join("t/suid"), "security.capability"),
        None,
        "{who}"
    );
}

#[test]
fn filesystem_semantics_survive_layers_as_umoci_unpacks_them() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    semantics_context(ctx.path());
    let local = env.root.path().join("local");
    let spec = format!("type=local,dest={}", local.display());
    env.build_ok(ctx.path(), "fs:1", &["-o", "type=image", "-o", &spec]);
    let rootfs = env.umoci_unpack("fs:1").join("rootfs");
    assert_tree(&rootfs, "umoci");
    assert_tree(&local, "rbuild type=local");
    assert_eq!(
        tree(&local),
        tree(&rootfs),
        "rbuild's unpacking differs from umoci's"
    );
    // Deleted-then-recreated directory: nothing of the lower layer's content is left.
    assert!(!rootfs.join("t/opq/a").exists() && !rootfs.join("t/opq/sub").exists());
    // A rebuild from cache gives the same image.
    let digest = env.manifest_digest("fs:1");
    env.build_ok(ctx.path(), "fs:2", &[]);
    assert_eq!(env.manifest_digest("fs:2"), digest);
}

/// Writes a tar with python's tarfile (which, unlike ours, writes whatever names it is told).
fn evil_tar(out: &Path, script: &str) {
    let py = format!(
        "import tarfile, io, sys\nt = tarfile.open({out:?}, 'w', format=tarfile.PAX_FORMAT)\n\
def f(name, data=b'pwned\\n'):\n    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))\n\
def sym(name, target):\n    i = tarfile.TarInfo(name); i.type = tarfile.SYMTYPE; i.linkname = target; t.addfile(i)\n\
def hard(name, target):\n    i = tarfile.TarInfo(name); i.type = tarfile.LNKTYPE; i.linkname = target; t.addfile(i)\n\
def d(name):\n    i = tarfile.TarInfo(name); i.type = tarfile.DIRTYPE; i.mode = 0o755; t.addfile(i)\n\
d('ok')\nf('ok/file', b'fine\\n')\n{script}\nt.close()\n",
        out = out.to_str().unwrap()
    );
    let res = Command::new(rbuild_testkit::require_tool("python3", "python3"))
        .args(["-c", &py])
        .output()
        .unwrap();
    assert!(res.status.success(), "python: {}", text(&res));
}

/// A host directory the archives aim at, with a victim file that must stay untouched.
struct Target {
    dir: tempfile::TempDir,
}

impl Target {
    fn new() -> Target {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("victim"), "original\n").unwrap();
        Target { dir }
    }

    fn path(&self) -> String {
        self.dir.path().to_str().unwrap().to_string()
    }

    /// Nothing new in the target directory, and the victim unchanged with one link.
    fn assert_untouched(&self, what: &str) {
        use std::os::unix::fs::MetadataExt;
        let names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["victim"], "{what}: files appeared outside the root");
        let victim = self.dir.path().join("victim");
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "original\n",
            "{what}: victim written"
        );
        assert_eq!(
            std::fs::metadata(&victim).unwrap().nlink(),
            1,
            "{what}: victim hard-linked"
        );
    }
}

/// Attacks, each its own archive so that one refusal does not hide another.
fn attacks(t: &str) -> Vec<(&'static str, String)> {
    let depth = "../".repeat(30);
    vec![
        (
            "dotdot",
            format!("f('{depth}{t}/dotdot')\nf('ok/../../{depth}{t}/dotdot2')"),
        ),
        ("absolute", format!("f('{t}/absolute')")),
        (
            "symlink-abs",
            format!("sym('s', '{t}')\nf('s/through-abs')"),
        ),
        (
            "symlink-rel",
            format!("sym('ok/up', '{depth}{t}')\nf('ok/up/through-rel')"),
        ),
        (
            "symlink-chain",
            format!("sym('a', 'b/../../..{t}')\nd('b')\nf('a/chained')"),
        ),
        (
            "symlink-then-dir",
            format!("sym('x', '{t}')\nd('x/newdir')\nf('x/newdir/f')"),
        ),
        (
            "hardlink-dotdot",
            format!("hard('h', '{depth}{t}/victim')\nf('h', b'PWNED\\n')"),
        ),
        (
            "hardlink-abs",
            format!("hard('h', '{t}/victim')\nf('h', b'PWNED\\n')"),
        ),
        (
            "hardlink-via-symlink",
            format!("sym('sv', '{t}')\nhard('h', 'sv/victim')\nf('h', b'PWNED\\n')"),
        ),
        (
            "symlink-overwrite",
            format!("sym('ok/file2', '{t}/victim')\nf('ok/file2', b'PWNED\\n')"),
        ),
    ]
}

#[test]
fn hostile_archives_through_import_write_nothing_outside_the_root() {
    let env = Env::new();
    let target = Target::new();
    for (name, script) in attacks(&target.path()) {
        let tar = env.root.path().join(format!("{name}.tar"));
        evil_tar(&tar, &script);
        let out = env.rbuild(&["import", tar.to_str().unwrap(), &format!("evil-{name}:1")]);
        target.assert_untouched(&format!("import {name}: {}", text(&out)));
        eprintln!(
            "{name}: {}",
            if out.status.success() {
                "accepted, contained"
            } else {
                "refused"
            }
        );
        if out.status.success() {
            // Whatever was kept is inside the image; unpacking it must be harmless too.
            let rootfs = env.umoci_unpack(&format!("evil-{name}:1")).join("rootfs");
            assert_eq!(
                std::fs::read_to_string(rootfs.join("ok/file")).unwrap(),
                "fine\n"
            );
            target.assert_untouched(&format!("umoci unpack of {name}"));
        }
    }
    env.check_ok();
}

/// An OCI archive with one (hostile) layer, built by hand so nothing sanitises it.
fn oci_archive_with_layer(layer_tar: &Path, out: &Path, tag: &str) {
    let py = format!(
        r#"import hashlib, json, tarfile, io
layer = open({layer:?}, 'rb').read()
ld = hashlib.sha256(layer).hexdigest()
config = json.dumps({{"architecture": "amd64", "os": "linux", "config": {{}},
    "rootfs": {{"type": "layers", "diff_ids": ["sha256:" + ld]}}}}).encode()
cd = hashlib.sha256(config).hexdigest()
manifest = json.dumps({{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + cd, "size": len(config)}},
    "layers": [{{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + ld, "size": len(layer)}}]}}).encode()
md = hashlib.sha256(manifest).hexdigest()
index = json.dumps({{"schemaVersion": 2, "manifests": [{{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": "sha256:" + md, "size": len(manifest), "annotations": {{"org.opencontainers.image.ref.name": {tag:?}}}}}]}}).encode()
t = tarfile.open({out:?}, 'w')
def add(name, data):
    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
add('oci-layout', b'{{"imageLayoutVersion": "1.0.0"}}')
add('index.json', index)
for d, b in ((ld, layer), (cd, config), (md, manifest)):
    add('blobs/sha256/' + d, b)
t.close()
"#,
        layer = layer_tar.to_str().unwrap(),
        out = out.to_str().unwrap(),
    );
    let res = Command::new("python3").args(["-c", &py]).output().unwrap();
    assert!(res.status.success(), "python: {}", text(&res));
}

#[test]
fn hostile_layers_loaded_then_built_on_and_exported_write_nothing_outside() {
    let env = Env::new();
    let target = Target::new();
    let ctx = tempfile::tempdir().unwrap();
    for (name, script) in attacks(&target.path()) {
        let layer = env.root.path().join(format!("{name}.layer.tar"));
        evil_tar(&layer, &script);
        let archive = env.root.path().join(format!("{name}.oci.tar"));
        let tag = format!("evil-{name}:1");
        oci_archive_with_layer(&layer, &archive, &tag);
        let out = env.rbuild(&["load", "-i", archive.to_str().unwrap()]);
        assert!(out.status.success(), "load {name}: {}", text(&out));
        // A RUN unpacks the layer as a snapshot (overlay mode); type=local applies it.
        let dockerfile = format!("FROM {tag}\nCOPY --from=busybox:latest /bin/busybox /busybox\nRUN [\"/busybox\", \"true\"]\n");
        write_file(&ctx.path().join("Dockerfile"), dockerfile.as_bytes(), 0o644);
        let local = env.root.path().join(format!("local-{name}"));
        let spec = format!("type=local,dest={}", local.display());
        let out = env.rbuild(&[
            "build",
            "--progress",
            "plain",
            "-o",
            &spec,
            ctx.path().to_str().unwrap(),
        ]);
        target.assert_untouched(&format!("build on {name}: {}", text(&out)));
        eprintln!(
            "{name}: {}",
            if out.status.success() {
                "accepted, contained"
            } else {
                "refused"
            }
        );
        if out.status.success() {
            assert_eq!(
                std::fs::read_to_string(local.join("ok/file")).unwrap(),
                "fine\n"
            );
        }
    }
    env.check_ok();
}

#[test]
fn hostile_archives_added_with_add_write_nothing_outside_the_root() {
    let env = Env::new();
    let target = Target::new();
    let ctx = tempfile::tempdir().unwrap();
    for (name, script) in attacks(&target.path()) {
        let tar = ctx.path().join(format!("{name}.tar"));
        evil_tar(&tar, &script);
        // ADD extracts a local archive; the RUN then works on top of what it wrote.
        let dockerfile =
            format!("FROM busybox:latest\nADD {name}.tar /x/\nRUN ls -laR /x > /listing\n");
        write_file(&ctx.path().join("Dockerfile"), dockerfile.as_bytes(), 0o644);
        let local = env.root.path().join(format!("add-{name}"));
        let spec = format!("type=local,dest={}", local.display());
        let tag = format!("add-{name}:1");
        let out = env.rbuild(&[
            "build",
            "--progress",
            "plain",
            "-t",
            &tag,
            "-o",
            "type=image",
            "-o",
            &spec,
            ctx.path().to_str().unwrap(),
        ]);
        target.assert_untouched(&format!("ADD {name}: {}", text(&out)));
        eprintln!(
            "{name}: {}",
            if out.status.success() {
                "accepted, contained"
            } else {
                "refused"
            }
        );
        if out.status.success() {
            assert_eq!(
                std::fs::read_to_string(local.join("x/ok/file")).unwrap(),
                "fine\n"
            );
            let rootfs = env.umoci_unpack(&tag).join("rootfs");
            assert_eq!(
                std::fs::read_to_string(rootfs.join("x/ok/file")).unwrap(),
                "fine\n"
            );
            target.assert_untouched(&format!("umoci unpack of ADD {name}"));
        }
    }
    env.check_ok();
}
