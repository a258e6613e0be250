//! Issue 17, rootless: the core of the e2e suite (build, cache, COPY/ADD, RUN, export, push to
//! the local registry) run by an ordinary user the test creates, never root; `rbuild doctor`'s
//! report as that user goes to the test log.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::Command;

use common::rootless::{Home, USER};
use common::text;
use rbuild_testkit::{Registry, RegistryAuth};

/// Writes straight to the test's stderr, past libtest's capture, so the log keeps it.
fn to_log(what: &str, body: &str) {
    let mut err = std::io::stderr();
    let _ = writeln!(err, "===== {what} =====\n{body}===== end of {what} =====");
}

#[test]
fn doctor_as_an_ordinary_user_finds_everything_a_rootless_build_needs() {
    let home = Home::new();
    let out = home.rbuild(&["doctor"]);
    let report = text(&out);
    to_log(&format!("rbuild doctor as {USER}"), &report);
    assert!(out.status.success(), "{report}");
    for line in [
        "ok       root or a user namespace: euid",
        "ok       user namespaces: allowed",
        &format!("ok       subordinate ids: {USER}: uids "),
        "ok       newuidmap and newgidmap: found",
        "ok       overlayfs in a user namespace",
        "ok       /dev/net/tun for a private network",
        "ok       network helper",
        "ok       seccomp",
    ] {
        assert!(report.contains(line), "{line:?} missing:\n{report}");
    }
}

/// Tar's verbose listing of every layer of an OCI archive, numeric owners.
fn layer_listing(oci_tar: &Path, scratch: &Path) -> String {
    let dir = scratch.join("oci-unpacked");
    std::fs::create_dir_all(&dir).unwrap();
    let out = Command::new("tar")
        .arg("-xf")
        .arg(oci_tar)
        .arg("-C")
        .arg(&dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    let mut listing = String::new();
    for blob in std::fs::read_dir(dir.join("blobs/sha256")).unwrap() {
        let out = Command::new("tar")
            .args(["--numeric-owner", "-tvzf"])
            .arg(blob.unwrap().path())
            .output()
            .unwrap();
        if out.status.success() {
            listing.push_str(&String::from_utf8_lossy(&out.stdout));
        }
    }
    listing
}

/// The core context: COPY (files, a directory, --chown), ADD (a local archive, a URL served on
/// 127.0.0.1), RUN as root and as USER app, a removal; returns the context directory.
fn core_context(home: &Home) -> std::path::PathBuf {
    let served = home.context("served", &[("remote.txt", "fetched over http\n")]);
    let url = common::context::serve(served);
    let ctx = home.context(
        "ctx",
        &[
            ("greeting.txt", "v1\n"),
            ("doomed.txt", "to be removed\n"),
            ("owned.txt", "app's\n"),
            ("sub/deep/file.txt", "deep\n"),
        ],
    );
    let inner = home.context("archive-src", &[("inner.txt", "from the archive\n")]);
    let tar = Command::new("tar")
        .arg("-cf")
        .arg(ctx.join("archive.tar"))
        .arg("-C")
        .arg(&inner)
        .arg("inner.txt")
        .output()
        .unwrap();
    assert!(tar.status.success(), "{}", text(&tar));
    std::fs::write(
        ctx.join("Dockerfile"),
        format!(
            "FROM busybox\nENV GREETING=hello\nWORKDIR /app\n\
             COPY greeting.txt doomed.txt ./\nCOPY sub/ ./sub/\n\
             COPY --chown=1000:1000 owned.txt /home/app/owned.txt\n\
             ADD archive.tar /unpacked/\nADD {url}/remote.txt /remote.txt\n\
             RUN echo \"$GREETING from run\" > run.txt && rm doomed.txt && \
             grep -E '^(Seccomp|NoNewPrivs):' /proc/self/status > status && \
             {{ grep -c ' - overlay ' /proc/self/mountinfo > overlays || true; }}\n\
             USER app\nRUN id -u > /home/app/who && touch /home/app/made-by-app\n\
             USER root\nRUN cat greeting.txt > copied-greeting\n"
        ),
    )
    .unwrap();
    home.give(&ctx);
    ctx
}

/// Builds `ctx` with `extra` into a local rootfs and an OCI archive, and checks both: files,
/// the removal, seccomp, and owners from the subordinate ids. Returns the rootfs directory.
fn export_and_check(home: &Home, ctx: &Path, extra: &[&str], greeting: &str) -> std::path::PathBuf {
    let rootfs = home.path().join("rootfs");
    let oci = home.path().join("app-oci.tar");
    let outputs = [
        format!("type=local,dest={}", rootfs.display()),
        format!("type=oci,dest={}", oci.display()),
    ];
    let mut args = vec![
        "build",
        "--progress",
        "plain",
        "-o",
        &outputs[0],
        "-o",
        &outputs[1],
    ];
    args.extend_from_slice(extra);
    args.push(ctx.to_str().unwrap());
    home.ok(&args);
    let read = |p: &str| std::fs::read_to_string(rootfs.join(p)).unwrap();
    assert_eq!(read("app/run.txt"), "hello from run\n");
    assert_eq!(read("app/copied-greeting"), greeting);
    assert_eq!(read("app/sub/deep/file.txt"), "deep\n");
    assert_eq!(read("unpacked/inner.txt"), "from the archive\n");
    assert_eq!(read("remote.txt"), "fetched over http\n");
    assert_eq!(read("home/app/who"), "1000\n");
    assert!(!rootfs.join("app/doomed.txt").exists());
    let status = read("app/status");
    assert!(
        status.contains("Seccomp:\t2") && status.contains("NoNewPrivs:\t1"),
        "{status}"
    );
    // Owners inside the image are the image's, not the user's: subordinate ids at work.
    let listing = layer_listing(&oci, home.path());
    for (path, owner) in [
        ("home/app/made-by-app", " 1000/1000 "),
        ("home/app/owned.txt", " 1000/1000 "),
        ("app/run.txt", " 0/0 "),
    ] {
        let line = listing.lines().find(|l| l.ends_with(path)).unwrap_or("");
        assert!(
            line.contains(owner),
            "{path} wants {owner}: {line:?}\n{listing}"
        );
    }
    assert!(listing.contains("app/.wh.doomed.txt"), "{listing}");
    rootfs
}

#[test]
fn build_cache_copy_add_run_and_export_as_an_ordinary_user() {
    let home = Home::new();
    home.import_busybox();
    let ctx = core_context(&home);
    let c = ctx.to_str().unwrap();
    let first = home.ok(&["build", "--progress", "plain", "-t", "app:1", c]);
    assert!(first.contains("cache miss"), "{first}");
    // The default store of an ordinary user: $XDG_DATA_HOME/rbuild, the user's own.
    let store_meta = std::fs::metadata(home.store()).unwrap();
    assert_eq!(
        std::os::unix::fs::MetadataExt::uid(&store_meta),
        home.account.uid
    );

    // Cache: the same build again runs nothing.
    let again = home.ok(&["build", "--progress", "plain", "-t", "app:1", c]);
    let runs = again.matches("cache miss").count();
    assert_eq!(runs, 0, "a repeated build must be all cached:\n{again}");
    assert!(again.matches("CACHED").count() >= 10, "{again}");
    // A changed file re-runs its COPY and what follows, nothing before.
    std::fs::write(ctx.join("greeting.txt"), "v2\n").unwrap();
    home.give(&ctx);
    let changed = home.ok(&["build", "--progress", "plain", "-t", "app:2", c]);
    assert!(
        changed.contains("#2 CACHED"),
        "WORKDIR stays cached:\n{changed}"
    );
    assert!(
        changed.contains("#3 cache miss: input \"file:greeting.txt\" changed"),
        "{changed}"
    );

    // Export: a local rootfs and an OCI archive, written by the user, on overlayfs.
    let rootfs = export_and_check(&home, &ctx, &[], "v2\n");
    let overlays = std::fs::read_to_string(rootfs.join("app/overlays")).unwrap();
    assert_eq!(
        overlays, "1\n",
        "the RUN's root is an overlay mounted in the user namespace"
    );

    // A docker archive, and a store that checks clean.
    let docker = home.path().join("app-docker.tar");
    home.ok(&[
        "save",
        "--format",
        "docker",
        "-o",
        docker.to_str().unwrap(),
        "app:2",
    ]);
    assert!(std::fs::metadata(&docker).unwrap().len() > 0);
    let check = home.ok(&["store", "check"]);
    assert!(check.contains(" 0 corrupt"), "{check}");
}

#[test]
fn without_overlayfs_a_copied_rootfs_builds_as_an_ordinary_user() {
    let home = Home::new();
    home.import_busybox();
    let ctx = core_context(&home);
    // The fallback of kernels that cannot mount overlayfs in a user namespace (before 5.11).
    let rootfs = export_and_check(&home, &ctx, &["--rootfs", "copy"], "v1\n");
    let overlays = std::fs::read_to_string(rootfs.join("app/overlays")).unwrap();
    assert_eq!(overlays, "0\n", "no overlay anywhere in the RUN's mounts");
}

#[test]
fn push_and_pull_through_the_local_registry_as_an_ordinary_user() {
    let reg = Registry::start(RegistryAuth::None).unwrap();
    let home = Home::new();
    home.import_busybox();
    let ctx = home.context(
        "ctx",
        &[(
            "Dockerfile",
            "FROM busybox\nRUN echo pushed-rootless > /pushed\n",
        )],
    );
    let c = ctx.to_str().unwrap();
    let image = format!("{}/rootless/app:1", reg.addr);
    home.ok(&["build", "--progress", "plain", "-t", &image, c]);
    home.ok(&["push", &image]);
    let pushed_by_output = format!("type=image,name={}/rootless/app:2,push=true", reg.addr);
    home.ok(&["build", "--progress", "plain", "-o", &pushed_by_output, c]);

    // A second user home (a fresh store) pulls both and builds on one.
    let other = Home::new();
    other.ok(&["pull", &image]);
    other.ok(&["pull", &format!("{}/rootless/app:2", reg.addr)]);
    let ctx2 = other.context(
        "ctx2",
        &[(
            "Dockerfile",
            &format!("FROM {image}\nRUN cat /pushed > /seen\n"),
        )],
    );
    let (built, out) = other.build_local(&ctx2, "seen");
    assert!(built.contains("cache miss"), "{built}");
    assert_eq!(
        std::fs::read_to_string(out.join("seen")).unwrap(),
        "pushed-rootless\n"
    );
}
