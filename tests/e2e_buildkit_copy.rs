//! COPY and ADD as BuildKit does them, each test named after the BuildKit integration test
//! (frontend/dockerfile/*_test.go) whose Dockerfile and assertions it follows: modes of the
//! parents `--chmod` creates, wildcards, exclusions, `--parents`, owners, and special files in
//! the context. Destinations and archives through the image's symlinks are in
//! e2e_buildkit_copy_links.rs.

#![allow(non_snake_case)] // test names carry the BuildKit test's name

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt};

use common::context::{rootfs, sh, write};
use common::fsread::{link, mode, owner, read};
use common::Env;

/// testCopyChmod: the directories `COPY --chmod=<octal>` creates take that mode (fsutil's
/// MkdirAll gets it, without setuid/setgid/sticky) and the `--chown` owner; without `--chmod`
/// or with a symbolic one they are 0755; directories the image has keep theirs.
#[test]
fn copy_chmod_creates_parents_with_its_mode__buildkit_testCopyChmod() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    write(&c.join("foo"), "foo-contents");
    write(&c.join("bar"), "bar-contents");
    write(&c.join("d/x"), "x");
    let df = "FROM busybox:latest\n\
COPY --chmod=0644 foo /\n\
COPY --chmod=777 bar /baz\n\
COPY --chmod=0 foo /foobis\n\
COPY --chmod=777 foo /parent/foo\n\
COPY --chmod=770 foo /parent/sub/foo\n\
COPY --chmod=755 foo /footer\n\
COPY --chmod=4750 --chown=7:8 foo /setuid/a/f\n\
COPY --chmod=u+x foo /symbolic/a/f\n\
COPY --chmod=700 foo /etc/newdir/f\n\
COPY --chmod=711 d /newdest\n";
    write(&c.join("Dockerfile"), df);
    env.build_ok(c, "chmod:1", &[]);
    let root = rootfs(&env, "chmod:1");
    assert_eq!(mode(&root, "foo"), 0o644);
    assert_eq!(mode(&root, "baz"), 0o777);
    assert_eq!(mode(&root, "foobis"), 0);
    assert_eq!(mode(&root, "parent"), 0o777);
    assert_eq!(mode(&root, "parent/sub"), 0o770);
    assert_eq!(mode(&root, "footer"), 0o755);
    for d in ["setuid", "setuid/a"] {
        assert_eq!((mode(&root, d), owner(&root, d)), (0o750, (7, 8)), "{d}");
    }
    assert_eq!(mode(&root, "setuid/a/f"), 0o4750);
    assert_eq!(mode(&root, "symbolic"), 0o755);
    assert_eq!(mode(&root, "symbolic/a"), 0o755);
    assert_eq!(
        mode(&root, "etc"),
        0o755,
        "an existing directory keeps its mode"
    );
    assert_eq!(mode(&root, "etc/newdir"), 0o700);
    // The destination of a directory's contents is created like a parent.
    assert_eq!(mode(&root, "newdest"), 0o711);
    assert_eq!(mode(&root, "newdest/x"), 0o711);
}

/// testEmptyWildcard, testCopyWildcards and testDockerfileAddArchiveWildcard: each match of
/// a wildcard (and each source) is copied on its own into the destination as it then is, so
/// a destination without a trailing slash is fine: directories merge into it, archives
/// unpack into it, and files written onto one name leave the last (moby/buildkit#1853). A
/// wildcard that matches nothing copies nothing, also when nothing at all matches; a
/// wildcard in a missing directory is an error.
#[test]
fn wildcards_copy_each_match_into_the_destination__buildkit_testCopyWildcards() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    write(&c.join("foo"), "contents0");
    write(&c.join("sub/dir1/dir2/foo"), "foo-contents");
    write(&c.join("sub/dir3/bar"), "bar-contents");
    write(&c.join("a.txt"), "a");
    write(&c.join("b.txt"), "b");
    write(&c.join("tars/foo"), "content0");
    write(&c.join("tars/bar"), "content1");
    sh("tar -cf t.tar -C tars foo && tar -cf b.tar -C tars bar", c);
    let df = "FROM busybox:latest\n\
COPY foo nomatch* /\n\
COPY nomatch* /none/\n\
COPY sub/* /subdest\n\
COPY *.txt /one.txt\n\
ADD *.tar /dest\n";
    write(&c.join("Dockerfile"), df);
    env.build_ok(c, "wild:1", &[]);
    let root = rootfs(&env, "wild:1");
    assert_eq!(read(&root, "foo"), "contents0");
    assert!(
        !root.join("none").exists(),
        "a wildcard matching nothing copies nothing"
    );
    assert_eq!(read(&root, "subdest/dir2/foo"), "foo-contents");
    assert_eq!(read(&root, "subdest/bar"), "bar-contents");
    assert_eq!(read(&root, "one.txt"), "b");
    assert_eq!(read(&root, "dest/foo"), "content0");
    assert_eq!(read(&root, "dest/bar"), "content1");

    write(
        &c.join("Dockerfile"),
        "FROM busybox:latest\nCOPY nodir/*.txt /x/\n",
    );
    let out = env.build_fails(c, "wild:2", &[]);
    assert!(out.contains("nodir/*.txt"), "{out}");
}

/// testExcludedFilesOnCopy (builder5 and builder6): `--exclude` applies beneath each source,
/// never to the source itself, and a directory source whose every entry is excluded still
/// makes the (empty) destination; a stage with nothing in it is an empty directory to
/// `COPY --from=<stage> / /x`.
#[test]
fn exclude_everything_still_creates_the_destination__buildkit_testExcludedFilesOnCopy() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    for (p, body) in [
        ("dir1/file-101.png", "2"),
        ("dir1/file-102.txt", "3"),
        ("dir2/file-201.pdf", "6"),
        ("dir3/file-301.mp3", "9"),
        ("dir3/file-302.mpeg", "10"),
        ("dir4/file-401.txt", "11"),
    ] {
        write(&c.join(p), body);
    }
    std::os::unix::fs::symlink("file-401.txt", c.join("dir4/file-402.txt")).unwrap();
    std::os::unix::fs::symlink("file-404.txt", c.join("dir4/file-403.txt")).unwrap();
    let df = "FROM scratch AS empty\n\
FROM busybox:latest\n\
ADD --exclude=*.mp* --exclude=*.jpeg --exclude=*.png --exclude=*.pdf dir* /5\n\
ADD --exclude=* dir* /6\n\
COPY --exclude=dir* dir1 /7/\n\
COPY --from=empty / /x\n";
    write(&c.join("Dockerfile"), df);
    env.build_ok(c, "excl:1", &[]);
    let root = rootfs(&env, "excl:1");
    let names = |d: &str| {
        let mut v: Vec<String> = std::fs::read_dir(root.join(d))
            .unwrap_or_else(|e| panic!("{d}: {e}"))
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    };
    assert_eq!(
        names("5"),
        [
            "file-102.txt",
            "file-401.txt",
            "file-402.txt",
            "file-403.txt"
        ]
    );
    assert_eq!(read(&root, "5/file-102.txt"), "3");
    assert_eq!(link(&root, "5/file-402.txt"), "file-401.txt");
    assert_eq!(link(&root, "5/file-403.txt"), "file-404.txt");
    assert!(names("6").is_empty());
    assert_eq!(names("7"), ["file-101.png", "file-102.txt"]);
    assert!(names("x").is_empty());
}

/// testCopyParentsMissingDirectory (wildcard-nonexistent, wildcard-afterpivot) and
/// testCopyRelativeParents (doublewildcard, doubleinputs): `COPY --parents` copies the pivot
/// directory filtered by the source, so its destination is made even when nothing matches,
/// and a `./` pivot after a wildcard keeps the path from the pivot on.
#[test]
fn copy_parents_pivots_after_wildcards__buildkit_testCopyRelativeParents() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    let df = "FROM busybox:latest AS base\n\
RUN mkdir -p /test/a/b/c/d/e /test/a/b2/c/d/e /test/a/b/c2/d/e /test/a/b/c2/d/e2 && \
touch /test/a/b/c/d/foo /test/a/b/c/d/e/bay /test/a/b2/c/d/e/bar /test/a/b/c2/d/e/baz \
/test/a/b/c2/d/e2/baz\n\
FROM busybox:latest\n\
COPY --from=base --parents /test/a/b3*/c /o1/\n\
COPY --from=base --parents /test/a/b/./c3* /o2/\n\
COPY --from=base --parents /test/a/b*/./c/**/e /o3/\n\
COPY --from=base --parents /test/a/b/c*/./d/**/baz /test/a/b*/./c/**/bar /o4/\n";
    write(&c.join("Dockerfile"), df);
    env.build_ok(c, "parents:1", &[]);
    let root = rootfs(&env, "parents:1");
    for d in ["o1", "o2"] {
        assert!(root.join(d).is_dir(), "{d}");
        assert_eq!(std::fs::read_dir(root.join(d)).unwrap().count(), 0, "{d}");
    }
    for f in [
        "o3/c/d/e/bay",
        "o3/c/d/e/bar",
        "o4/d/e/baz",
        "o4/d/e2/baz",
        "o4/c/d/e/bar",
    ] {
        assert!(root.join(f).is_file(), "{f}");
    }
    assert!(!root.join("o4/d/e/bay").exists());
    assert!(!root.join("o3/test").exists() && !root.join("o4/test").exists());
}

/// testCopyChownExistingDir (copy_from, copy_from_chowned): COPY from a stage without
/// `--chown` keeps the source's owners; the directory it creates for a directory's contents
/// is root's; directories the image has keep theirs; `--chown` owns everything copied.
#[test]
fn copy_from_a_stage_keeps_its_owners__buildkit_testCopyChownExistingDir() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    let df = "FROM busybox:latest AS source\n\
RUN touch /file && chown 100:200 /file && mkdir -p /dir/subdir && \
touch /dir/subdir/nestedfile && chown 100:200 /dir && chown 101:201 /dir/subdir && \
chown 102:202 /dir/subdir/nestedfile\n\
FROM busybox:latest\n\
RUN mkdir -p /existingdir/existingsubdir && touch /existingdir/existingfile && \
chown 500:600 /existingdir && chown 501:601 /existingdir/existingsubdir /existingdir/existingfile\n\
COPY --from=source /file .\n\
COPY --from=source /dir /dir\n\
COPY --from=source /dir/. /existingdir\n\
COPY --from=source --chown=300:400 /dir /cdir\n";
    write(&c.join("Dockerfile"), df);
    env.build_ok(c, "owners:1", &[]);
    let root = rootfs(&env, "owners:1");
    for (p, want) in [
        ("file", (100, 200)),
        ("dir", (0, 0)),
        ("dir/subdir", (101, 201)),
        ("dir/subdir/nestedfile", (102, 202)),
        ("existingdir", (500, 600)),
        ("existingdir/existingsubdir", (501, 601)),
        ("existingdir/existingfile", (501, 601)),
        ("existingdir/subdir", (101, 201)),
        ("existingdir/subdir/nestedfile", (102, 202)),
        ("cdir", (300, 400)),
        ("cdir/subdir/nestedfile", (300, 400)),
    ] {
        assert_eq!(owner(&root, p), want, "{p}");
    }
}

/// testCopySocket: a socket in the context becomes an empty regular file (BuildKit's context
/// transfer clears the socket bit and sends no data); FIFOs and device nodes are copied as
/// they are (fsutil's DiskWriter makes them with mknod).
#[test]
fn copy_of_special_files_in_the_context__buildkit_testCopySocket() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    write(&c.join("Dockerfile"), "FROM scratch\nCOPY . /\n");
    let sock = std::os::unix::net::UnixListener::bind(c.join("socket.sock")).unwrap();
    sh(
        "chmod 0640 socket.sock && mkfifo -m 0604 fifo && mknod -m 0600 null c 1 3",
        c,
    );
    env.build_ok(c, "socket:1", &[]);
    drop(sock);
    let root = rootfs(&env, "socket:1");
    let m = std::fs::symlink_metadata(root.join("socket.sock")).unwrap();
    assert!(m.file_type().is_file(), "{:?}", m.file_type());
    assert_eq!((m.len(), m.mode() & 0o7777), (0, 0o640));
    let m = std::fs::symlink_metadata(root.join("fifo")).unwrap();
    assert!(m.file_type().is_fifo());
    assert_eq!(m.mode() & 0o7777, 0o604);
    let m = std::fs::symlink_metadata(root.join("null")).unwrap();
    assert!(m.file_type().is_char_device());
    assert_eq!(m.rdev(), libc_makedev(1, 3));
}

/// The `dev_t` of a device's major and minor numbers (glibc's encoding).
fn libc_makedev(major: u64, minor: u64) -> u64 {
    ((major & 0xfffff000) << 32)
        | ((major & 0xfff) << 8)
        | ((minor & 0xffffff00) << 12)
        | (minor & 0xff)
}
