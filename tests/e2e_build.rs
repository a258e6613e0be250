//! Issue 2, end to end: real builds checked with tools nobody here wrote (skopeo, umoci, runc).

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{project, text, Env};

fn write(path: &Path, body: &str, mode: u32) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A context with a directory tree, a whiteout of a base file and a USER switch.
fn tree_context(dir: &Path) {
    write(&dir.join("src/top.txt"), "top\n", 0o600);
    write(&dir.join("src/nested/n.txt"), "nested\n", 0o644);
    write(
        &dir.join("src/nested/deeper/run.sh"),
        "#!/bin/sh\necho deep\n",
        0o755,
    );
    let dockerfile = r#"FROM busybox:latest
COPY src /opt/tree/
COPY --chown=app:staff src/nested/n.txt /home/app/owned.txt
# Deleting a file of the base image must produce a whiteout.
RUN rm /bin/vi && mkdir -p /data && echo root-made > /data/by-root
USER app
RUN echo "made by $(id -u):$(id -g)" > /home/app/by-app.txt
WORKDIR /opt/tree
CMD ["sh", "-c", "cat /home/app/by-app.txt; ./nested/deeper/run.sh"]
"#;
    write(&dir.join("Dockerfile"), dockerfile, 0o644);
}

fn mode_owner(path: &Path) -> (u32, u32, u32) {
    use std::os::unix::fs::MetadataExt;
    let m = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.mode() & 0o7777, m.uid(), m.gid())
}

#[test]
fn hello_example_builds_and_runs_under_runc() {
    let env = Env::new();
    env.build_ok(&project().join("examples/hello"), "hello:1", &[]);
    let config = env.skopeo_config("hello:1");
    let c = &config["config"];
    let envs: Vec<&str> = c["Env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap())
        .collect();
    assert!(envs.contains(&"GREETING=Hello from rbuild"), "{envs:?}");
    assert_eq!(c["Cmd"], serde_json::json!(["/app/hello.sh"]));
    assert_eq!(c["WorkingDir"], "/app");
    assert_eq!(c["User"], "app");
    assert_eq!(c["ExposedPorts"], serde_json::json!({"8080/tcp": {}}));
    assert_eq!(c["Labels"]["org.opencontainers.image.title"], "hello");
    let bundle = env.umoci_unpack("hello:1");
    assert_eq!(
        mode_owner(&bundle.join("rootfs/app/hello.sh")),
        (0o755, 0, 0)
    );
    assert_eq!(mode_owner(&bundle.join("rootfs/tmp/whoami.txt")).1, 1000);
    let out = env.runc_run(&bundle);
    assert!(out.contains("Hello from rbuild"), "{out}");
    assert!(out.contains("built on Linux as root"), "{out}");
}

#[test]
fn tree_copy_whiteout_and_user_switch() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    tree_context(ctx.path());
    env.build_ok(ctx.path(), "tree:1", &[]);
    let c = env.skopeo_config("tree:1");
    assert_eq!(c["config"]["User"], "app");
    assert_eq!(c["config"]["WorkingDir"], "/opt/tree");
    let rootfs = env.umoci_unpack("tree:1").join("rootfs");
    assert_eq!(mode_owner(&rootfs.join("opt/tree/top.txt")), (0o600, 0, 0));
    assert_eq!(
        mode_owner(&rootfs.join("opt/tree/nested/deeper/run.sh")),
        (0o755, 0, 0)
    );
    assert_eq!(
        std::fs::read_to_string(rootfs.join("opt/tree/nested/n.txt")).unwrap(),
        "nested\n"
    );
    assert_eq!(
        mode_owner(&rootfs.join("home/app/owned.txt")),
        (0o644, 1000, 50)
    );
    assert_eq!(
        mode_owner(&rootfs.join("home/app/by-app.txt")),
        (0o644, 1000, 1000)
    );
    assert_eq!(
        mode_owner(&rootfs.join("tmp")).0,
        0o1777,
        "COPY/RUN must not reset /tmp's mode"
    );
    assert!(
        !rootfs.join("bin/vi").exists(),
        "the deleted base file is still there"
    );
    assert!(rootfs.join("bin/sh").exists());
    assert_eq!(
        std::fs::read_to_string(rootfs.join("data/by-root")).unwrap(),
        "root-made\n"
    );
    let bundle = rootfs.parent().unwrap().to_path_buf();
    let out = env.runc_run(&bundle);
    assert_eq!(out, "made by 1000:1000\ndeep\n");
}

#[test]
fn identical_rebuild_is_fully_cached_with_the_same_digest() {
    let env = Env::new();
    let hello = project().join("examples/hello");
    let first = env.build_ok(&hello, "hello:1", &[]);
    assert!(
        first.contains("Hello from rbuild, written by app"),
        "{first}"
    );
    let digest = env.manifest_digest("hello:1");
    let second = env.build_ok(&hello, "hello:1", &[]);
    assert!(
        !second.contains("written by app"),
        "a RUN ran again:\n{second}"
    );
    assert!(!second.contains("cache miss"), "{second}");
    for step in second
        .lines()
        .filter(|l| l.contains("] RUN ") || l.contains("] COPY "))
    {
        let n = step.split_whitespace().next().unwrap();
        assert!(
            second.contains(&format!("{n} CACHED")),
            "step not cached: {step}\n{second}"
        );
    }
    assert_eq!(env.manifest_digest("hello:1"), digest);
}

#[test]
fn failing_run_reports_line_and_exit_code_and_store_stays_usable() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let dockerfile = ctx.path().join("Dockerfile");
    write(
        &dockerfile,
        "FROM busybox:latest\nRUN echo first > /first\nRUN echo failing; exit 3\nCMD [\"true\"]\n",
        0o644,
    );
    let out = env.rbuild(&[
        "build",
        "--progress",
        "plain",
        "-t",
        "fail:1",
        ctx.path().to_str().unwrap(),
    ]);
    let all = text(&out);
    assert!(!out.status.success(), "{all}");
    assert!(all.contains("Dockerfile:3"), "{all}");
    assert!(all.contains("RUN echo failing; exit 3"), "{all}");
    assert!(all.contains("exit code: 3"), "{all}");
    write(
        &dockerfile,
        "FROM busybox:latest\nRUN echo first > /first\nRUN echo fixed\nCMD [\"true\"]\n",
        0o644,
    );
    let log = env.build_ok(ctx.path(), "fail:1", &[]);
    assert!(log.contains("fixed"), "{log}");
    assert!(
        log.contains("CACHED"),
        "the step before the failure should be reused:\n{log}"
    );
}
