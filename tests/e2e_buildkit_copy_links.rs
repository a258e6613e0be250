//! COPY and ADD through the image's symlinks as BuildKit does them, each test named after the
//! BuildKit integration test (or fsutil function) whose behaviour it checks: destinations
//! resolved through links (dangling ones too), archives unpacked through them, never outside
//! the image, and what a copy refuses to replace.

#![allow(non_snake_case)] // test names carry the BuildKit test's name

mod common;

use std::os::unix::fs::MetadataExt;

use common::context::{rootfs, sh, write};
use common::fsread::{link, read};
use common::Env;

/// testSymlinkDestination: `COPY foo /symlink/` where the image's `/symlink` is a dangling
/// link to `../tmp/symlink-target` writes `/tmp/symlink-target/foo` (the link resolved inside
/// the image, its `..` clamped at `/`, the missing directories made) and keeps the link.
#[test]
fn copy_writes_through_a_symlink_destination__buildkit_testSymlinkDestination() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    write(&c.join("foo"), "content0");
    write(&c.join("bar"), "bar0");
    std::fs::create_dir_all(c.join("links")).unwrap();
    std::os::unix::fs::symlink("../tmp/symlink-target", c.join("links/symlink")).unwrap();
    std::os::unix::fs::symlink("/data", c.join("links/tofile")).unwrap();
    std::os::unix::fs::symlink("/newfile", c.join("links/dangling")).unwrap();
    sh("tar -cf t.tar -C links .", c);
    let df = "FROM busybox:latest\n\
RUN echo old > /data\n\
ADD t.tar /\n\
COPY foo /symlink/\n\
COPY bar /tofile\n\
COPY bar /dangling\n";
    write(&c.join("Dockerfile"), df);
    env.build_ok(c, "symdest:1", &[]);
    let root = rootfs(&env, "symdest:1");
    assert_eq!(read(&root, "tmp/symlink-target/foo"), "content0");
    assert_eq!(link(&root, "symlink"), "../tmp/symlink-target");
    // Without a trailing slash the last link is followed too: its target is written.
    assert_eq!(link(&root, "tofile"), "/data");
    assert_eq!(read(&root, "data"), "bar0");
    assert_eq!(link(&root, "dangling"), "/newfile");
    assert_eq!(read(&root, "newfile"), "bar0");
}

/// testDockerfileAddArchiveThroughAbsoluteSymlink: the image's `var/run -> /run` leads the
/// archive's `var/run/act/...` entries (and its hardlink's target) into `/run`, as BuildKit
/// unpacks in the merged filesystem; the link stays a link.
#[test]
fn add_archive_unpacks_through_an_image_symlink__buildkit_testDockerfileAddArchiveThroughAbsoluteSymlink(
) {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    std::fs::create_dir_all(c.join("rootfs/run")).unwrap();
    std::fs::create_dir_all(c.join("rootfs/var")).unwrap();
    std::os::unix::fs::symlink("/run", c.join("rootfs/var/run")).unwrap();
    let git = "payload/var/run/act/actions/broad/.git";
    write(&c.join(git).join("HEAD"), "ref: refs/heads/main\n");
    std::fs::hard_link(c.join(git).join("HEAD"), c.join(git).join("HEAD.link")).unwrap();
    // Only var/run/act and below: the archive has no entry of its own for var/run.
    sh(
        "tar -cf rootfs.tar -C rootfs run var && tar -cf payload.tar -C payload var/run/act",
        c,
    );
    write(
        &c.join("Dockerfile"),
        "FROM scratch\nADD rootfs.tar /\nADD payload.tar /\n",
    );
    env.build_ok(c, "abslink:1", &[]);
    let root = rootfs(&env, "abslink:1");
    let head = "run/act/actions/broad/.git/HEAD";
    assert_eq!(read(&root, head), "ref: refs/heads/main\n");
    let (a, b) = (
        std::fs::metadata(root.join(head)).unwrap(),
        std::fs::metadata(root.join("run/act/actions/broad/.git/HEAD.link")).unwrap(),
    );
    assert_eq!(
        (a.dev(), a.ino()),
        (b.dev(), b.ino()),
        "HEAD.link is a hardlink"
    );
    assert_eq!(link(&root, "var/run"), "/run");
}

/// The other side of testDockerfileAddArchiveThroughAbsoluteSymlink: links of the image that
/// point above the destination or at an absolute host path resolve inside it (BuildKit
/// unpacks chrooted at the destination), so an archive never writes outside the image.
#[test]
fn add_archive_through_image_links_stays_inside__buildkit_testDockerfileAddArchiveThroughAbsoluteSymlink(
) {
    let env = Env::new();
    let host = tempfile::tempdir().unwrap();
    let h = host
        .path()
        .to_str()
        .unwrap()
        .trim_start_matches('/')
        .to_string();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    std::fs::create_dir_all(c.join("links/sub")).unwrap();
    let up = format!("../../../../../../../../{h}");
    std::os::unix::fs::symlink(&up, c.join("links/sub/esc")).unwrap();
    std::os::unix::fs::symlink(format!("/{h}"), c.join("links/sub/abs")).unwrap();
    write(&c.join("p/esc/pwned"), "1");
    write(&c.join("p/abs/pwned2"), "2");
    sh(
        "tar -cf links.tar -C links sub && tar -cf p.tar -C p esc/pwned abs/pwned2",
        c,
    );
    write(
        &c.join("Dockerfile"),
        "FROM scratch\nADD links.tar /\nADD p.tar /sub/\n",
    );
    env.build_ok(c, "abslink:2", &[]);
    assert!(std::fs::read_dir(host.path()).unwrap().next().is_none());
    let root = rootfs(&env, "abslink:2");
    assert_eq!(read(&root, &format!("sub/{h}/pwned")), "1");
    assert_eq!(read(&root, &format!("sub/{h}/pwned2")), "2");
    assert_eq!(link(&root, "sub/esc"), up);
}

/// fsutil's copyDirectoryOnly, MkdirAll and ensureEmptyFileTarget, under every BuildKit
/// COPY: a directory is never made where the image has a symlink or a file (the image's
/// `/lib -> usr/lib` is not replaced by `COPY rootfs/ /`), nor a file where it has a
/// directory; the copy fails naming the path.
#[test]
fn copy_of_a_directory_onto_an_image_link_or_file_fails__buildkit_fsutil_copyDirectoryOnly() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    write(&c.join("rootfs/lib/x"), "x");
    let base = "FROM busybox:latest\n\
RUN rm -rf /lib && mkdir -p /usr/lib && ln -s usr/lib /lib && touch /file\n";
    // Through the link as a destination is fine: it is resolved, not replaced.
    write(
        &c.join("Dockerfile"),
        &format!("{base}COPY rootfs/lib /lib/\n"),
    );
    env.build_ok(c, "nondir:1", &[]);
    let root = rootfs(&env, "nondir:1");
    assert_eq!(link(&root, "lib"), "usr/lib");
    assert_eq!(read(&root, "usr/lib/x"), "x");
    write(&c.join("files/usr"), "u");
    for (copy, want) in [
        ("COPY rootfs/ /", "cannot copy to non-directory: /lib"),
        (
            "COPY rootfs/lib /file",
            "cannot copy to non-directory: /file",
        ),
        (
            "COPY rootfs/lib/x /file/y",
            "cannot copy to non-directory: /file",
        ),
        // fsutil's ensureEmptyFileTarget: a file never replaces a directory.
        (
            "COPY files/ /",
            "cannot replace to directory /usr with file",
        ),
    ] {
        write(&c.join("Dockerfile"), &format!("{base}{copy}\n"));
        let out = env.build_fails(c, "nondir:2", &[]);
        assert!(out.contains(want), "{copy}: {out}");
    }
}
