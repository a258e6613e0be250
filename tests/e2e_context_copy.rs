//! COPY and ADD end to end: --chmod, --parents, --exclude, --link, --chown on the directories
//! COPY creates, and ADD of local archives (gzip, bzip2, xz; --unpack=false; --chown).

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::context::{rootfs, sh, write};
use common::Env;

#[test]
fn copy_flags_chmod_parents_exclude_link() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    write(&c.join("bin/tool.sh"), "#!/bin/sh\n");
    std::fs::set_permissions(
        c.join("bin/tool.sh"),
        std::fs::Permissions::from_mode(0o664),
    )
    .unwrap();
    write(&c.join("x/a/one.txt"), "1\n");
    write(&c.join("x/b/two.txt"), "2\n");
    write(&c.join("src/./keep/k.txt"), "k\n");
    write(&c.join("docs/a.md"), "a\n");
    write(&c.join("docs/b.txt"), "b\n");
    write(&c.join("docs/sub/c.txt"), "c\n");
    let df = "FROM busybox:latest\n\
COPY --chmod=u+x,g-w bin/tool.sh /t/tool.sh\n\
COPY --chmod=a=r bin/tool.sh /t/ro.sh\n\
COPY --parents x/*/*.txt /p/\n\
COPY --parents ./src/./keep/k.txt /q/\n\
COPY --exclude=*.txt --link docs /d/\n\
COPY --exclude=**/*.txt docs /e/\n";
    write(&c.join("Dockerfile"), df);
    env.build_ok(c, "flags:1", &[]);
    let root = rootfs(&env, "flags:1");
    let mode = |p: &str| std::fs::metadata(root.join(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("t/tool.sh"), 0o744);
    assert_eq!(mode("t/ro.sh"), 0o444);
    assert!(root.join("p/x/a/one.txt").exists() && root.join("p/x/b/two.txt").exists());
    assert!(root.join("q/keep/k.txt").exists());
    assert!(root.join("d/a.md").exists());
    assert!(!root.join("d/b.txt").exists());
    // As in BuildKit, `*.txt` does not cross `/`: nested files need `**/*.txt`.
    assert!(root.join("d/sub/c.txt").exists());
    assert!(!root.join("e/sub/c.txt").exists() && root.join("e/sub").is_dir());
}

/// Ownership of the directories COPY --chown creates, checked against BuildKit (docker 20.10's
/// builder printed exactly these owners for the same Dockerfile): new parents and the
/// destination take the --chown owner, parents the image already has keep theirs, and
/// without --chown new parents are root's.
#[test]
fn copy_chown_owns_the_directories_it_creates() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    write(&c.join("d/sub/f"), "x\n");
    write(&c.join("file"), "y\n");
    let df = "FROM busybox:latest\n\
RUN mkdir -p /exist && chown 5:6 /exist\n\
COPY --chown=7:8 d /new1/a/b/\n\
COPY --chown=7:8 file /new2/x/\n\
COPY --chown=7:8 file /exist/sub/\n\
COPY file /new4/q/\n";
    write(&c.join("Dockerfile"), df);
    env.build_ok(c, "chown:1", &[]);
    let root = rootfs(&env, "chown:1");
    let owner = |p: &str| {
        let m = std::fs::symlink_metadata(root.join(p)).unwrap();
        (m.uid(), m.gid())
    };
    for p in [
        "new1",
        "new1/a",
        "new1/a/b",
        "new1/a/b/sub",
        "new1/a/b/sub/f",
    ] {
        assert_eq!(owner(p), (7, 8), "{p}");
    }
    for p in [
        "new2",
        "new2/x",
        "new2/x/file",
        "exist/sub",
        "exist/sub/file",
    ] {
        assert_eq!(owner(p), (7, 8), "{p}");
    }
    assert_eq!(owner("exist"), (5, 6));
    assert_eq!(owner("new4"), (0, 0));
    assert_eq!(owner("new4/q"), (0, 0));
}

#[test]
fn add_unpacks_local_archives_only() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    write(&c.join("payload/dir/f.txt"), "from archive\n");
    let own = "--owner=1234 --group=2345 --numeric-owner";
    sh(&format!("tar czf app.tgz {own} -C payload dir && tar cjf app.bz -C payload dir && tar cJf app.xz -C payload dir"), c);
    write(&c.join("plain.txt"), "plain\n");
    let df = "FROM busybox:latest\nADD app.tgz /gz/\nADD app.bz /bz\nADD app.xz /xz/\nADD --unpack=false app.tgz /raw/\nADD plain.txt /p/\nADD --chown=7:8 app.tgz /own/\n";
    write(&c.join("Dockerfile"), df);
    env.build_ok(c, "arch:1", &[]);
    let root = rootfs(&env, "arch:1");
    for d in ["gz", "bz", "xz"] {
        let f = root.join(d).join("dir/f.txt");
        assert_eq!(
            std::fs::read_to_string(&f).unwrap_or_default(),
            "from archive\n",
            "{d}"
        );
    }
    assert!(root.join("raw/app.tgz").is_file());
    assert!(root.join("p/plain.txt").is_file());
    // Without --chown the archive's owners stay; with it, every extracted entry takes the
    // given owner (BuildKit since v0.23, moby/buildkit#1547), not only the destination.
    let owner = |p: &str| {
        let m = std::fs::symlink_metadata(root.join(p)).unwrap();
        (m.uid(), m.gid())
    };
    assert_eq!(owner("gz/dir/f.txt"), (1234, 2345));
    assert_eq!(owner("gz/dir"), (1234, 2345));
    assert_eq!(owner("own/dir/f.txt"), (7, 8));
    assert_eq!(owner("own/dir"), (7, 8));
    assert_eq!(owner("own"), (7, 8));
}
