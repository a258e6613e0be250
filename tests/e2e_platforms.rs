//! Issue 16 end to end: one build for two platforms gives an OCI index whose images run their
//! own architecture (arm64 emulated through binfmt_misc and QEMU), pushed and pulled back per
//! platform; a builder stage on $BUILDPLATFORM runs once; a platform nothing can run fails
//! before any step.
//!
//! The bases are made here: busybox-static for amd64 from the host, for arm64 from Debian's
//! busybox-static:arm64 package (`dpkg --add-architecture arm64`, `apt-get download`).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::registry::{fresh_store, run, skopeo};
use common::{text, Env};

/// The arm64 busybox binary from Debian's package, downloaded once per machine.
fn arm64_busybox() -> PathBuf {
    let cache = Path::new("/var/cache/rbuild-test/arm64");
    let bin = cache.join("bin/busybox");
    if bin.is_file() {
        return bin;
    }
    std::fs::create_dir_all(cache).unwrap();
    let sh = |script: &str| {
        let out = Command::new("sh")
            .args(["-c", script])
            .current_dir(cache)
            .output()
            .unwrap();
        assert!(out.status.success(), "{script}: {}", text(&out));
    };
    // The tests of this file run at once: one lock, or one test sees arm64 added while
    // another's `apt-get update` has not yet fetched its package lists (seen in CI).
    sh(
        "exec 9>../arm64.lock && flock 9 && { [ -f bin/busybox ] || { \
        { apt-cache show busybox-static:arm64 >/dev/null 2>&1 || \
          { dpkg --add-architecture arm64 && apt-get update -qq; }; } && \
        apt-get download -qq busybox-static:arm64 && dpkg-deb -x busybox-static_*_arm64.deb . \
        && rm -f busybox-static_*_arm64.deb; }; }",
    );
    assert!(bin.is_file(), "no busybox in the arm64 package");
    bin
}

/// A rootfs tarball with busybox `bin` and its applets, root's passwd and group.
fn rootfs_tar(busybox: &Path, out: &Path) {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for d in ["bin", "etc", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    std::fs::copy(busybox, root.join("bin/busybox")).unwrap();
    for applet in ["sh", "cat", "echo", "uname", "ls", "mkdir", "true"] {
        std::os::unix::fs::symlink("busybox", root.join("bin").join(applet)).unwrap();
    }
    std::fs::write(root.join("etc/passwd"), "root:x:0:0:root:/root:/bin/sh\n").unwrap();
    std::fs::write(root.join("etc/group"), "root:x:0:\n").unwrap();
    let status = Command::new("tar")
        .arg("-C")
        .arg(root)
        .args(["-cf"])
        .arg(out)
        .arg(".")
        .status();
    assert!(status.unwrap().success());
}

/// A store holding `busybox:latest` as an index for linux/amd64 and linux/arm64, built by
/// rbuild itself from the two rootfs tarballs; binfmt handlers registered for arm64.
fn two_platform_env() -> Env {
    let env = Env::empty();
    let out = env.rbuild(&["setup", "binfmt"]);
    assert!(out.status.success(), "setup binfmt: {}", text(&out));
    let ctx = tempfile::tempdir().unwrap();
    let host = rbuild_testkit::require_tool("busybox", "busybox-static");
    rootfs_tar(&host, &ctx.path().join("rootfs-amd64.tar"));
    rootfs_tar(&arm64_busybox(), &ctx.path().join("rootfs-arm64.tar"));
    std::fs::write(
        ctx.path().join("Dockerfile"),
        "FROM scratch\nARG TARGETARCH\nADD rootfs-${TARGETARCH}.tar /\n",
    )
    .unwrap();
    env.build_ok(
        ctx.path(),
        "busybox:latest",
        &["--platform", "linux/amd64,linux/arm64"],
    );
    env
}

fn context(dockerfile: &str) -> tempfile::TempDir {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    ctx
}

#[test]
fn two_platforms_make_an_index_whose_images_run_their_architecture() {
    let env = two_platform_env();
    let ctx = context("FROM busybox\nRUN uname -m > /arch\n");
    let both = ["--platform", "linux/amd64,linux/arm64"];
    env.build_ok(ctx.path(), "arch:1", &both);
    // The local output lays each platform out in its own directory.
    let out = env.root.path().join("out");
    let spec = format!("type=local,dest={}", out.display());
    env.build_ok(ctx.path(), "arch:1", &[&both[..], &["-o", &spec]].concat());
    let read = |p: &str| std::fs::read_to_string(out.join(p).join("arch")).unwrap();
    assert_eq!(read("linux_amd64"), "x86_64\n");
    assert_eq!(read("linux_arm64"), "aarch64\n");
    let images = env.rbuild_ok(&["images"]);
    let line = images
        .lines()
        .find(|l| l.contains("arch"))
        .unwrap_or_default();
    assert!(
        line.contains("linux/amd64") && line.contains("linux/arm64"),
        "{images}"
    );
    oci_holds_the_index_and_docker_the_host_image(&env, &ctx, &both);
    push_and_pull_back_per_platform(&env);
}

/// `type=oci` writes the index itself (both platforms); a docker archive cannot hold an
/// index, so `type=docker` of two platforms is refused, naming the output that can.
fn oci_holds_the_index_and_docker_the_host_image(
    env: &Env,
    ctx: &tempfile::TempDir,
    both: &[&str],
) {
    let layout = env.root.path().join("layout");
    let spec = format!("type=oci,tar=false,dest={}", layout.display());
    env.build_ok(ctx.path(), "arch:1", &[both, &["-o", &spec]].concat());
    let json = |p: &Path| -> serde_json::Value {
        serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap()
    };
    let top = &json(&layout.join("index.json"))["manifests"][0];
    assert!(
        top["mediaType"].as_str().unwrap().contains("index"),
        "{top}"
    );
    let hex = top["digest"]
        .as_str()
        .unwrap()
        .trim_start_matches("sha256:");
    let index = json(&layout.join("blobs/sha256").join(hex));
    let archs: Vec<_> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(archs, ["amd64", "arm64"], "{index}");
    // BuildKit's docker exporter refuses manifest lists too; rbuild says what to use instead.
    let archive = env.root.path().join("docker.tar");
    let spec = format!("type=docker,dest={}", archive.display());
    let err = env.build_fails(ctx.path(), "arch:1", &[both, &["-o", &spec]].concat());
    assert!(
        err.contains("export a multi-platform build with type=oci"),
        "{err}"
    );
    assert!(!archive.exists(), "a refused export left a file");
}

/// Pushed as an index; skopeo reads it raw; each platform pulls back as itself, and both at
/// once are kept as an index.
fn push_and_pull_back_per_platform(env: &Env) {
    let reg = rbuild_testkit::Registry::start(rbuild_testkit::RegistryAuth::None).unwrap();
    let cfg = tempfile::tempdir().unwrap();
    let image = format!("{}/arch:1", reg.addr);
    env.rbuild_ok(&["tag", "arch:1", &image]);
    let pushed = run(&env.store(), cfg.path(), &["push", &image]);
    assert!(pushed.status.success(), "{}", text(&pushed));
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{image}"),
    ]);
    assert!(raw.status.success(), "{}", text(&raw));
    let index: serde_json::Value = serde_json::from_slice(&raw.stdout).unwrap();
    let archs: Vec<&str> = index["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["platform"]["architecture"].as_str().unwrap())
        .collect();
    assert_eq!(archs, ["amd64", "arm64"], "{index}");
    for arch in ["amd64", "arm64"] {
        let (_dir, store) = fresh_store();
        let platform = format!("linux/{arch}");
        let pulled = run(
            &store,
            cfg.path(),
            &["pull", "--platform", &platform, &image],
        );
        assert!(pulled.status.success(), "{}", text(&pulled));
        let inspected = run(&store, cfg.path(), &["inspect", &image]);
        let v: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
        assert_eq!(v["Config"]["architecture"], arch, "{v}");
    }
    // Both platforms at once are kept as an index of them.
    let (_dir, store) = fresh_store();
    let both_pulled = run(
        &store,
        cfg.path(),
        &["pull", "--platform", "linux/arm64,linux/amd64", &image],
    );
    assert!(both_pulled.status.success(), "{}", text(&both_pulled));
    let inspected = run(&store, cfg.path(), &["inspect", &image]);
    let v: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
    let got: Vec<&str> = v["Platforms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Platform"].as_str().unwrap())
        .collect();
    assert_eq!(got, ["linux/arm64", "linux/amd64"], "{v}");
}

#[test]
fn a_builder_stage_on_the_build_platform_runs_once_for_two_platforms() {
    let env = two_platform_env();
    let ctx = context(
        "FROM --platform=$BUILDPLATFORM busybox AS build\n\
         RUN echo built-once && mkdir /out && echo amd > /out/amd64 && echo arm > /out/arm64\n\
         FROM busybox\nARG TARGETARCH\nCOPY --from=build /out/$TARGETARCH /app\n",
    );
    let out = env.build_ok(
        ctx.path(),
        "cross:1",
        &["--platform", "linux/amd64,linux/arm64"],
    );
    let ran = common::run_output(&out)
        .into_iter()
        .filter(|l| l.contains("built-once"))
        .count();
    assert_eq!(ran, 1, "the builder stage ran {ran} times:\n{out}");
    let cached_twin = out
        .lines()
        .filter(|l| l.contains("RUN echo built-once"))
        .count();
    assert_eq!(cached_twin, 2, "both platforms show the step:\n{out}");
}

#[test]
fn a_platform_nothing_can_run_fails_before_any_step() {
    let env = two_platform_env();
    let listed = env.rbuild_ok(&["debug", "platforms"]);
    let missing = [
        "linux/mips64",
        "linux/sparc64",
        "linux/riscv32",
        "linux/arm/v5",
    ]
    .into_iter()
    .find(|p| !listed.contains(p))
    .expect("every candidate platform is emulated here");
    let ctx = context("FROM scratch\nCOPY Dockerfile /d\nRUN echo never-runs\n");
    let out = env.build_fails(ctx.path(), "never:1", &["--platform", missing]);
    assert!(
        out.contains(missing) && out.contains("qemu-user-static"),
        "{out}"
    );
    assert!(
        !out.contains("never-runs") && !out.contains("#1 "),
        "a step ran:\n{out}"
    );
}
