//! ADD of remote sources end to end (URLs with and without --checksum, git repositories at a
//! ref and subdirectory) and named build contexts for COPY --from and FROM.

mod common;

use std::os::unix::fs::MetadataExt;
use std::process::Command;

use common::context::{misses, rootfs, serve, sh, write};
use common::Env;

#[test]
fn add_url_with_right_and_wrong_checksum() {
    let env = Env::new();
    let served = tempfile::tempdir().unwrap();
    write(&served.path().join("files/hello.txt"), "hello over http\n");
    let base = serve(served.path().to_path_buf());
    let digest = "sha256:bd8dfdbba2a5b1a7a3e6dfa43cbc6ae0330fda3ca92d3ab5e1e4cb2880e9ba2c";
    let real = {
        use std::process::Stdio;
        let out = Command::new("sha256sum")
            .arg(served.path().join("files/hello.txt"))
            .stdout(Stdio::piped())
            .output()
            .unwrap();
        format!(
            "sha256:{}",
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .next()
                .unwrap()
        )
    };
    let ctx = tempfile::tempdir().unwrap();
    let df = format!("FROM busybox:latest\nADD --checksum={real} {base}/files/hello.txt /web/\nADD {base}/files/hello.txt /plain.txt\n");
    write(&ctx.path().join("Dockerfile"), &df);
    env.build_ok(ctx.path(), "url:1", &[]);
    let root = rootfs(&env, "url:1");
    let f = root.join("web/hello.txt");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "hello over http\n");
    let meta = std::fs::metadata(&f).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert_eq!(
        meta.mtime(),
        784111777,
        "mtime must come from Last-Modified"
    );
    assert!(root.join("plain.txt").is_file());
    let again = env.build_ok(ctx.path(), "url:1", &[]);
    assert!(misses(&again).is_empty(), "{again}");
    let wrong =
        format!("FROM busybox:latest\nADD --checksum={digest} {base}/files/hello.txt /web/\n");
    write(&ctx.path().join("Dockerfile"), &wrong);
    let log = env.build_fails(ctx.path(), "url:2", &[]);
    assert!(
        log.contains(digest) && log.contains(&real),
        "both digests must be named:\n{log}"
    );
}

#[test]
fn add_git_repository_at_a_ref_and_subdir() {
    let env = Env::new();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let git = "git -c user.name=t -c user.email=t@e -c init.defaultBranch=main";
    write(&w.join("src/docs/readme.md"), "v1\n");
    write(&w.join("src/top.txt"), "top\n");
    sh(
        &format!("cd src && {git} init -q && {git} add . && {git} commit -qm one && {git} tag v1"),
        w,
    );
    write(&w.join("src/docs/readme.md"), "v2\n");
    sh(&format!("cd src && {git} commit -qam two"), w);
    sh(
        "git clone -q --bare src srv/repo.git && cd srv/repo.git && git update-server-info",
        w,
    );
    let base = serve(w.join("srv"));
    let ctx = tempfile::tempdir().unwrap();
    let df = format!("FROM busybox:latest\nADD {base}/repo.git#v1:docs /v1/\nADD --keep-git-dir {base}/repo.git#main /main/\n");
    write(&ctx.path().join("Dockerfile"), &df);
    env.build_ok(ctx.path(), "git:1", &[]);
    let root = rootfs(&env, "git:1");
    assert_eq!(
        std::fs::read_to_string(root.join("v1/readme.md")).unwrap(),
        "v1\n"
    );
    assert!(!root.join("v1/top.txt").exists());
    assert_eq!(
        std::fs::read_to_string(root.join("main/docs/readme.md")).unwrap(),
        "v2\n"
    );
    assert!(root.join("main/.git").is_dir(), "--keep-git-dir keeps .git");
    // A new commit on the branch changes the key.
    write(&w.join("src/docs/readme.md"), "v3\n");
    sh(&format!("cd src && {git} commit -qam three && git push -q ../srv/repo.git main && cd ../srv/repo.git && git update-server-info"), w);
    let log = env.build_ok(ctx.path(), "git:2", &[]);
    assert!(
        misses(&log).iter().any(|(h, _)| h.contains("#main")),
        "{log}"
    );
    let root = rootfs(&env, "git:2");
    assert_eq!(
        std::fs::read_to_string(root.join("main/docs/readme.md")).unwrap(),
        "v3\n",
        "the miss did not fetch the new commit"
    );
    assert_eq!(
        std::fs::read_to_string(root.join("v1/readme.md")).unwrap(),
        "v1\n",
        "the tag moved with the branch"
    );
}

#[test]
fn named_build_contexts_for_copy_from() {
    let env = Env::new();
    let extra = tempfile::tempdir().unwrap();
    write(&extra.path().join("conf/app.conf"), "named\n");
    let ctx = tempfile::tempdir().unwrap();
    write(&ctx.path().join("Dockerfile"), "FROM busybox:latest\nCOPY --from=cfg conf/app.conf /etc/app.conf\nCOPY --from=base /bin/busybox /copied-busybox\n");
    let cfg = format!("cfg={}", extra.path().display());
    env.build_ok(
        ctx.path(),
        "named:1",
        &[
            "--build-context",
            &cfg,
            "--build-context",
            "base=docker-image://busybox:latest",
        ],
    );
    let root = rootfs(&env, "named:1");
    assert_eq!(
        std::fs::read_to_string(root.join("etc/app.conf")).unwrap(),
        "named\n"
    );
    assert!(root.join("copied-busybox").is_file());
    // FROM a named local directory and FROM a named image.
    let df = "FROM files AS f\nFROM img\nCOPY --from=f conf/app.conf /from-stage.conf\n";
    write(&ctx.path().join("Dockerfile"), df);
    let files = format!("files={}", extra.path().display());
    env.build_ok(
        ctx.path(),
        "named:3",
        &[
            "--build-context",
            &files,
            "--build-context",
            "img=docker-image://busybox:latest",
        ],
    );
    let root = rootfs(&env, "named:3");
    assert_eq!(
        std::fs::read_to_string(root.join("from-stage.conf")).unwrap(),
        "named\n"
    );
    assert!(root.join("bin/busybox").is_file());
    let log = env.build_fails(
        ctx.path(),
        "named:2",
        &["--build-context", "files=oci-layout:///nowhere"],
    );
    assert!(log.contains("/nowhere is not an OCI image layout"), "{log}");
}
