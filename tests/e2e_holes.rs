//! Regression tests for the holes of issue 12 that a Dockerfile author can reach through RUN,
//! COPY and the exporters: each test is named after its finding (F3, F4, F7, F8, F11; F1, the
//! leaked descriptors, is tests/security/fds.rs, named after runc CVE-2024-21626).
//! The store-side findings (F2, F9, F10) are in e2e_holes_store.rs.

mod common;

use std::os::unix::fs::{FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{text, write_file, Env};

/// A context with `Dockerfile` = `dockerfile`.
fn context(dockerfile: &str) -> tempfile::TempDir {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    ctx
}

/// A loop device attached to a file that starts with a marker: a stand-in for the host's disk
/// (this machine's hypervisor refuses raw opens of the real one even to root). Detached on drop.
struct LoopDisk {
    dev: String,
    _file: tempfile::NamedTempFile,
}

impl LoopDisk {
    fn new(marker: &str) -> LoopDisk {
        let losetup = rbuild_testkit::require_tool("losetup", "mount (util-linux)");
        let file = tempfile::NamedTempFile::new().unwrap();
        let mut body = marker.as_bytes().to_vec();
        body.resize(1 << 20, 0);
        std::fs::write(file.path(), body).unwrap();
        let out = Command::new(losetup)
            .args(["-f", "--show"])
            .arg(file.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "losetup (needs the loop module): {}",
            text(&out)
        );
        let dev = String::from_utf8_lossy(&out.stdout).trim().to_string();
        LoopDisk { dev, _file: file }
    }

    fn numbers(&self) -> (u64, u64) {
        let rdev = std::fs::metadata(&self.dev).unwrap().rdev();
        (libc_major(rdev), libc_minor(rdev))
    }
}

impl Drop for LoopDisk {
    fn drop(&mut self) {
        let _ = Command::new("losetup").args(["-d", &self.dev]).status();
    }
}

fn libc_major(dev: u64) -> u64 {
    ((dev >> 8) & 0xfff) | ((dev >> 32) & !0xfff)
}

fn libc_minor(dev: u64) -> u64 {
    (dev & 0xff) | ((dev >> 12) & !0xff)
}

#[test]
fn f3_run_cannot_open_a_host_block_device_through_mknod() {
    let env = Env::new();
    let disk = LoopDisk::new("HOST-DISK-CONTENT-F3");
    // Control: the host itself reads the marker through the device.
    let host = std::fs::read(&disk.dev).unwrap();
    assert!(
        host.starts_with(b"HOST-DISK-CONTENT-F3"),
        "control read failed"
    );
    let (major, minor) = disk.numbers();
    let ctx = context(&format!(
        "FROM busybox\n\
         RUN mknod /tmp/disk b {major} {minor}; head -c 20 /tmp/disk; echo\n\
         RUN mknod /tmp/null c 1 3 && echo ok > /tmp/null && echo ALLOWED-DEVICE-WORKS\n"
    ));
    let out = env.build_with(ctx.path(), &["--no-cache"]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        !log.contains("HOST-DISK-CONTENT-F3"),
        "RUN read a host block device:\n{log}"
    );
    assert!(log.contains("ALLOWED-DEVICE-WORKS"), "{log}");
}

const KEYRING_C: &str = r#"
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/keyctl.h>
/* add: a fresh session keyring holding a possessor-only key, then exec the rest of argv.
   search: look for that key from wherever we run. */
int main(int argc, char **argv) {
    if (argc > 2 && strcmp(argv[1], "add") == 0) {
        if (syscall(SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, "rbuild-f4") < 0) { perror("join"); return 2; }
        const char *v = "HOSTKEY-F4";
        long id = syscall(SYS_add_key, "user", "rbuild-f4-canary", v, strlen(v), KEY_SPEC_SESSION_KEYRING);
        if (id < 0) { perror("add_key"); return 2; }
        if (syscall(SYS_keyctl, KEYCTL_SETPERM, id, 0x3f000000) < 0) { perror("setperm"); return 2; }
        execv(argv[2], argv + 2);
        perror("execv");
        return 2;
    }
    long id = syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, "user", "rbuild-f4-canary", 0);
    if (id < 0) { perror("search"); printf("NO-KEY\n"); return 0; }
    char buf[64] = {0};
    long n = syscall(SYS_keyctl, KEYCTL_READ, id, buf, sizeof buf - 1);
    printf("FOUND %ld %s\n", n, n > 0 ? buf : "");
    return 0;
}
"#;

fn compile(dir: &Path, name: &str, source: &str) -> PathBuf {
    let gcc = rbuild_testkit::require_tool("gcc", "gcc and libc6-dev");
    let src = dir.join(format!("{name}.c"));
    std::fs::write(&src, source).unwrap();
    let bin = dir.join(name);
    let out = Command::new(gcc)
        .arg("-static")
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .output()
        .unwrap();
    assert!(out.status.success(), "gcc -static failed: {}", text(&out));
    bin
}

#[test]
fn f4_run_does_not_share_the_callers_session_keyring() {
    let env = Env::new();
    let ctx = context("FROM busybox\nCOPY keyprobe /keyprobe\nRUN /keyprobe search\n");
    let probe = compile(ctx.path(), "keyprobe", KEYRING_C);
    // Control: a child of the probe in the same session does find the key.
    let control = Command::new(&probe)
        .args(["add", &probe.display().to_string(), "search"])
        .output()
        .unwrap();
    assert!(
        text(&control).contains("FOUND"),
        "control: {}",
        text(&control)
    );
    let out = Command::new(&probe)
        .arg("add")
        .arg(env!("CARGO_BIN_EXE_rbuild"))
        .arg("--root")
        .arg(env.store())
        .args(["build", "--progress", "plain", "--no-cache"])
        .arg(ctx.path())
        .output()
        .unwrap();
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        !log.contains("HOSTKEY-F4") && !log.contains("FOUND"),
        "RUN saw the key:\n{log}"
    );
    assert!(log.contains("NO-KEY"), "{log}");
}

#[test]
fn f7_dockerignore_cannot_be_bypassed_through_symlinks() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    write_file(
        &ctx.path().join("secret.txt"),
        b"IGNORED-SECRET-F7\n",
        0o644,
    );
    std::fs::write(ctx.path().join(".dockerignore"), "secret.txt\n").unwrap();
    std::os::unix::fs::symlink("secret.txt", ctx.path().join("alias")).unwrap();
    std::os::unix::fs::symlink(".", ctx.path().join("self")).unwrap();
    let files = tempfile::tempdir().unwrap();
    for (name, copy) in [
        ("alias", "COPY alias /a"),
        ("self", "COPY self/secret.txt /b"),
    ] {
        let df = files.path().join(name);
        std::fs::write(
            &df,
            format!("FROM busybox\n{copy}\nRUN cat /a /b 2>/dev/null; true\n"),
        )
        .unwrap();
        let out = env.build_with(ctx.path(), &["-f", df.to_str().unwrap(), "--no-cache"]);
        let log = text(&out);
        assert!(
            !log.contains("IGNORED-SECRET-F7"),
            "{copy} copied an ignored file:\n{log}"
        );
        // As in Docker, the ignored file is not in the context at all: the source is missing.
        assert!(
            !out.status.success(),
            "{copy} should fail as BuildKit does:\n{log}"
        );
    }
}

/// Every byte of the store except image content (blobs and unpacked snapshots).
fn store_metadata(root: &Path, out: &mut Vec<(PathBuf, Vec<u8>)>) {
    for e in std::fs::read_dir(root).unwrap() {
        let e = e.unwrap();
        let name = e.file_name();
        if name == "blobs" || name == "snapshots" {
            continue;
        }
        let ty = e.file_type().unwrap();
        if ty.is_dir() {
            store_metadata(&e.path(), out);
        } else if ty.is_file() {
            out.push((e.path(), std::fs::read(e.path()).unwrap()));
        }
    }
}

#[test]
fn f8_build_arg_values_are_not_stored_and_the_store_is_private() {
    let env = Env::new();
    let secret = "f8-token-value-0123456789";
    let ctx = context("FROM busybox\nARG TOKEN\nRUN test -n \"$TOKEN\" && echo got-token\n");
    env.build_ok(
        ctx.path(),
        "f8:1",
        &["--build-arg", &format!("TOKEN={secret}")],
    );
    let mut files = Vec::new();
    store_metadata(&env.store(), &mut files);
    assert!(
        files.iter().any(|(p, _)| p.ends_with("cache.db")),
        "{files:?}"
    );
    for (path, bytes) in &files {
        let hit = bytes.windows(secret.len()).any(|w| w == secret.as_bytes());
        assert!(!hit, "{} holds the build-arg value", path.display());
    }
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&env.store()), 0o700, "store root");
    for (path, _) in &files {
        assert_eq!(
            mode(path) & 0o077,
            0,
            "{} is readable by others",
            path.display()
        );
    }
}

fn mknod_null(path: &Path) {
    let out = Command::new("mknod")
        .arg(path)
        .args(["c", "1", "3"])
        .output()
        .unwrap();
    assert!(out.status.success(), "mknod: {}", text(&out));
}

fn assert_still_null(path: &Path, what: &str) {
    let meta = std::fs::symlink_metadata(path).unwrap();
    assert!(
        meta.file_type().is_char_device(),
        "{what}: {} was replaced",
        path.display()
    );
    assert_eq!(meta.rdev(), (1 << 8) | 3, "{what}: device numbers changed");
}

#[test]
fn f11_export_to_a_device_writes_into_it() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let null = dir.path().join("null");
    mknod_null(&null);
    let n = null.to_str().unwrap();
    env.rbuild_ok(&["save", "-o", n, "busybox:latest"]);
    assert_still_null(&null, "save -o");
    env.rbuild_ok(&["save", "--format", "docker", "-o", n, "busybox:latest"]);
    assert_still_null(&null, "save --format docker");
    let ctx = context("FROM busybox\nRUN echo hi > /hi\n");
    for kind in ["oci", "docker"] {
        let spec = format!("type={kind},dest={n}");
        let out = env.build_with(ctx.path(), &["-o", &spec]);
        assert!(out.status.success(), "-o {spec}: {}", text(&out));
        assert_still_null(&null, &spec);
    }
    // A FIFO gets the archive streamed into it.
    let fifo = dir.path().join("fifo");
    assert!(Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .unwrap()
        .success());
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    env.rbuild_ok(&["save", "-o", fifo.to_str().unwrap(), "busybox:latest"]);
    let bytes = reader.join().unwrap();
    assert!(
        bytes.len() > 1024 && &bytes[257..262] == b"ustar",
        "not a tar"
    );
    assert!(std::fs::symlink_metadata(&fifo)
        .unwrap()
        .file_type()
        .is_fifo());
    // A directory is refused and left alone.
    let target = dir.path().join("adir");
    std::fs::create_dir(&target).unwrap();
    let out = env.rbuild(&["save", "-o", target.to_str().unwrap(), "busybox:latest"]);
    assert!(!out.status.success(), "save into a directory must fail");
    assert!(text(&out).contains("directory"), "{}", text(&out));
    assert!(target.is_dir() && std::fs::read_dir(&target).unwrap().next().is_none());
}
