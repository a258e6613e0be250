//! Issue 13's user-facing fixes end to end: the target platform reaches TARGET* args and the
//! config, BuildKit's config and error texts, tag names, and push as an output.

mod common;

use common::{text, Env};

fn context(dockerfile: &str) -> tempfile::TempDir {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    ctx
}

/// BuildKit: `--platform linux/arm64` sets TARGETARCH and labels a scratch image arm64.
#[test]
fn platform_reaches_target_args_and_the_scratch_config() {
    let env = Env::empty();
    let ctx = context("FROM scratch\nARG TARGETARCH\nLABEL arch=$TARGETARCH\n");
    env.build_ok(ctx.path(), "arm:1", &["--platform", "linux/arm64"]);
    let config = env.skopeo_config("arm:1");
    assert_eq!(config["architecture"], "arm64", "{config}");
    assert_eq!(config["os"], "linux", "{config}");
    assert_eq!(config["config"]["Labels"]["arch"], "arm64", "{config}");
    // Several platforms make an index of one image each (tests/e2e_platforms.rs runs them).
    env.build_ok(
        ctx.path(),
        "two:1",
        &["--platform", "linux/arm64,linux/amd64"],
    );
    let out = env.rbuild_ok(&["inspect", "two:1"]);
    assert!(
        out.contains("linux/arm64") && out.contains("linux/amd64"),
        "{out}"
    );
}

/// BuildKit writes no Entrypoint for `ENTRYPOINT []` (null, not an empty list).
#[test]
fn empty_entrypoint_is_left_out_of_the_config() {
    let env = Env::empty();
    let ctx = context("FROM scratch\nENTRYPOINT [\"/app\"]\nFROM 0\nENTRYPOINT []\n");
    env.build_ok(ctx.path(), "ep:1", &[]);
    let config = env.skopeo_config("ep:1");
    assert!(config["config"].get("Entrypoint").is_none(), "{config}");
}

/// BuildKit: `base name ($X) should not be blank` for `FROM $X` with X unset.
#[test]
fn from_an_unset_variable_names_it() {
    let env = Env::empty();
    let ctx = context("ARG X\nFROM $X\nRUN true\n");
    let out = env.build_fails(ctx.path(), "x:1", &[]);
    assert!(out.contains("base name ($X) should not be blank"), "{out}");
    assert!(out.contains("Dockerfile:2"), "{out}");
}

/// BuildKit: a mistyped `--target` gets a suggestion.
#[test]
fn a_mistyped_target_gets_a_suggestion() {
    let env = Env::empty();
    let ctx = context("FROM scratch AS build\nLABEL a=b\nFROM scratch\n");
    let out = env.build_fails(ctx.path(), "t:1", &["--target", "bulid"]);
    assert!(out.contains("did you mean build?"), "{out}");
}

#[test]
fn import_refuses_a_digest_as_a_tag_name() {
    let env = Env::empty();
    let tar = env.root.path().join("rootfs.tar");
    rbuild_testkit::busybox_tarball(&tar).unwrap();
    let digest = format!("sha256:{}", "a".repeat(64));
    let name = format!("x:1@{digest}");
    let out = env.rbuild(&["import", tar.to_str().unwrap(), &name]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("digest"), "{}", text(&out));
}

#[test]
fn jobs_help_says_what_the_default_is() {
    let env = Env::empty();
    let help = env.rbuild_ok(&["build", "--help"]);
    let jobs = help
        .split("--jobs")
        .nth(1)
        .unwrap_or_else(|| panic!("{help}"));
    assert!(jobs.contains("at least 8"), "{jobs}");
}

/// `--push` is an output: with `-o type=oci` it still pushes the `-t` tags (and writes the
/// archive); `type=image,name=R,push=true` pushes R.
#[test]
fn push_is_an_output_whatever_else_is_exported() {
    use common::registry::{run, skopeo_inspect};
    let env = Env::new();
    let reg = rbuild_testkit::Registry::start(rbuild_testkit::RegistryAuth::None).unwrap();
    let cfg = tempfile::tempdir().unwrap();
    let ctx = context("FROM busybox\nRUN echo pushed > /p\n");
    let image = format!("{}/pushed:1", reg.addr);
    let tar = env.root.path().join("x.tar");
    let out = run(
        &env.store(),
        cfg.path(),
        &[
            "build",
            "-t",
            &image,
            "--push",
            "-o",
            &format!("type=oci,dest={}", tar.display()),
            ctx.path().to_str().unwrap(),
        ],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(tar.is_file(), "the OCI archive was not written");
    let inspected = skopeo_inspect(&image);
    assert!(
        inspected.status.success(),
        "not pushed: {}",
        text(&inspected)
    );
    assert!(
        text(&out).contains(&format!("pushed {image}")),
        "{}",
        text(&out)
    );

    let other = format!("{}/other:2", reg.addr);
    let spec = format!("type=image,name={other},push=true");
    let out = run(
        &env.store(),
        cfg.path(),
        &["build", "-o", &spec, ctx.path().to_str().unwrap()],
    );
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        skopeo_inspect(&other).status.success(),
        "type=image,push=true pushed nothing"
    );

    // Pushing with no name to push to is refused before anything is built.
    let out = run(
        &env.store(),
        cfg.path(),
        &["build", "--push", ctx.path().to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(text(&out).contains("name"), "{}", text(&out));
}

/// A base image on a host that does not exist fails at once, naming the host; a pull that
/// works shows its progress.
#[test]
fn unreachable_base_fails_fast_and_pulls_show_progress() {
    use common::registry::{fresh_store, run};
    let env = Env::new();
    let cfg = tempfile::tempdir().unwrap();
    let ctx = context("FROM nonexistent.invalid/x:1\nRUN true\n");
    let started = std::time::Instant::now();
    let out = run(
        &env.store(),
        cfg.path(),
        &["build", "--progress", "plain", ctx.path().to_str().unwrap()],
    );
    assert!(!out.status.success());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    assert!(text(&out).contains("nonexistent.invalid"), "{}", text(&out));

    let reg = rbuild_testkit::Registry::start(rbuild_testkit::RegistryAuth::None).unwrap();
    let base = format!("{}/base:1", reg.addr);
    env.rbuild_ok(&["tag", "busybox:latest", &base]);
    let pushed = run(&env.store(), cfg.path(), &["push", &base]);
    assert!(pushed.status.success(), "{}", text(&pushed));
    let (_dir, store) = fresh_store();
    let ctx = context(&format!("FROM {base}\nRUN true\n"));
    let out = run(
        &store,
        cfg.path(),
        &["build", "--progress", "plain", ctx.path().to_str().unwrap()],
    );
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        log.contains(&format!("resolving {base}")) || log.contains("resolving"),
        "{log}"
    );
    assert!(log.contains("pulled layer 1/1"), "{log}");
}

/// `ADD <url>` goes through the proxy the proxy build args name (as BuildKit's does), via the
/// registry client's HTTP stack.
#[test]
fn add_url_honours_the_proxy_build_args() {
    use std::io::{BufRead, BufReader, Write};
    let env = Env::new();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let seen = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut request = String::new();
        reader.read_line(&mut request).unwrap();
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 2 {
            line.clear();
        }
        let body = "via-the-proxy\n";
        let mut out = stream;
        write!(
            out,
            "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        request
    });
    let ctx = context("FROM busybox\nADD http://rbuild-proxy-test.invalid/file.txt /file.txt\nRUN cat /file.txt\n");
    let proxy = format!("HTTP_PROXY=http://127.0.0.1:{port}");
    let out = env.build_ok(ctx.path(), "proxied:1", &["--build-arg", &proxy]);
    assert!(out.contains("via-the-proxy"), "{out}");
    let request = seen.join().unwrap();
    assert!(
        request.starts_with("GET http://rbuild-proxy-test.invalid/file.txt"),
        "{request}"
    );
}
