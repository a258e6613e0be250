//! Layers end to end: filesystem semantics across layers as umoci (not rbuild) unpacks them.
//! Hostile archives (import, load, ADD, pull) are tests/security/tar.rs.

mod common;

use std::collections::BTreeMap;
use std::path::Path;
use std::process::Command;

use common::fstree::{assert_same_tree, file_data, tree, Entry};
use common::{text, write_file, Env};

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
        data: if kind == 'f' {
            file_data(data.as_bytes())
        } else {
            data.to_string()
        },
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
    assert_same_tree(&local, &rootfs, "rbuild's unpacking differs from umoci's");
    // Deleted-then-recreated directory: nothing of the lower layer's content is left.
    assert!(!rootfs.join("t/opq/a").exists() && !rootfs.join("t/opq/sub").exists());
    // A rebuild from cache gives the same image.
    let digest = env.manifest_digest("fs:1");
    env.build_ok(ctx.path(), "fs:2", &[]);
    assert_eq!(env.manifest_digest("fs:2"), digest);
}
