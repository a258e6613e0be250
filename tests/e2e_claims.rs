//! Claims the code and commit messages make that had no test: archives are written to a
//! temporary name and renamed (never left truncated), a RUN that changes nothing still makes
//! a (empty) layer as in BuildKit, proxy build args stay out of the RUN cache key and the image, and no secret reaches
//! the output even with every log enabled.

mod common;

use std::path::Path;

use common::registry::{base64, context, run_with, write_config};
use common::{run_output, text, write_file, Env};
use rbuild_testkit::{Registry, RegistryAuth};

/// The names in `dir`, sorted.
fn listing(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

#[test]
fn archives_are_replaced_whole_or_left_as_they_were() {
    let env = Env::new();
    let out_dir = tempfile::tempdir().unwrap();
    let dest = out_dir.path().join("image.tar");
    let previous = b"previous archive\n";
    std::fs::write(&dest, previous).unwrap();
    let d = dest.to_str().unwrap();
    // A build that fails never touches its destination.
    let ctx = tempfile::tempdir().unwrap();
    write_file(
        &ctx.path().join("Dockerfile"),
        b"FROM busybox:latest\nRUN exit 3\n",
        0o644,
    );
    let spec = format!("type=oci,dest={d}");
    let out = env.build_with(ctx.path(), &["-o", &spec]);
    assert!(!out.status.success(), "{}", text(&out));
    assert_eq!(std::fs::read(&dest).unwrap(), previous);
    // A save that fails half way (a layer blob is gone from the store) leaves the old file
    // whole and no temporary file beside it.
    let v: serde_json::Value =
        serde_json::from_str(&env.rbuild_ok(&["inspect", "busybox:latest"])).unwrap();
    let layer = v["Manifest"]["layers"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    std::fs::remove_file(
        env.store()
            .join("blobs/sha256")
            .join(&layer["sha256:".len()..]),
    )
    .unwrap();
    let out = env.rbuild(&["save", "-o", d, "busybox:latest"]);
    assert!(!out.status.success(), "saved an image missing a layer");
    assert!(
        text(&out).contains(&layer["sha256:".len()..]),
        "{}",
        text(&out)
    );
    assert_eq!(
        std::fs::read(&dest).unwrap(),
        previous,
        "the archive was truncated"
    );
    assert_eq!(
        listing(out_dir.path()),
        ["image.tar"],
        "a temporary file was left"
    );
}

/// Issue 18 asserted that a RUN that changes nothing makes no layer; BuildKit is the reference
/// and exports a layer for every RUN (dockerfile_history_test.go testExportedHistory: `RUN ls`
/// is a layer, `empty_layer` false), so this now asserts BuildKit's behaviour: an empty layer
/// (a tar of nothing: diff_id sha256:5f70bf18…, Docker's empty layer) per such RUN.
#[test]
#[allow(non_snake_case)] // carries BuildKit's Go test name
fn a_run_that_changes_nothing_is_an_empty_layer__buildkit_testExportedHistory() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let df = "FROM busybox:latest\nRUN true\nRUN echo x > /x\nRUN cat /x > /dev/null\n";
    write_file(&ctx.path().join("Dockerfile"), df.as_bytes(), 0o644);
    env.build_ok(ctx.path(), "nolayer:1", &[]);
    let config = env.skopeo_config("nolayer:1");
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(diff_ids.len(), 4, "busybox and one per RUN:\n{config}");
    let empty_tar = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";
    assert_eq!(diff_ids[1], empty_tar, "{config}");
    assert_ne!(diff_ids[2], empty_tar, "{config}");
    assert_eq!(diff_ids[3], empty_tar, "{config}");
    let history = config["history"].as_array().unwrap();
    let empty = |instr: &str| {
        let h = history
            .iter()
            .find(|h| h["created_by"].as_str().unwrap_or("").contains(instr))
            .unwrap_or_else(|| panic!("no history for {instr}: {config}"));
        h["empty_layer"].as_bool().unwrap_or(false)
    };
    assert!(!empty("-c true #"), "{config}");
    assert!(!empty("-c echo x > /x"), "{config}");
    assert!(!empty("-c cat /x"), "{config}");
    let manifest =
        common::images::skopeo_inspect(&format!("oci:{}:nolayer:1", env.store().display()));
    assert_eq!(
        manifest["layers"].as_array().unwrap().len(),
        4,
        "{manifest}"
    );
}

#[test]
fn proxy_build_args_reach_the_run_but_not_its_cache_key_or_the_image() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    // No ARG: proxy args are predefined, as in BuildKit.
    let df = "FROM busybox:latest\nRUN echo \"proxy: $HTTP_PROXY $no_proxy\"\n";
    write_file(&ctx.path().join("Dockerfile"), df.as_bytes(), 0o644);
    let one = [
        "--build-arg",
        "HTTP_PROXY=http://proxy-one:3128",
        "--build-arg",
        "no_proxy=one.example",
    ];
    let log = env.build_ok(ctx.path(), "proxy:1", &one);
    let said = run_output(&log);
    assert!(
        said.contains(&"proxy: http://proxy-one:3128 one.example"),
        "{log}"
    );
    let two = [
        "--build-arg",
        "HTTP_PROXY=http://proxy-two:3128",
        "--build-arg",
        "no_proxy=two.example",
    ];
    let log = env.build_ok(ctx.path(), "proxy:2", &two);
    assert!(
        !log.contains("cache miss"),
        "a proxy arg changed the key:\n{log}"
    );
    assert!(!log.contains("proxy-two"), "the RUN ran again:\n{log}");
    let config = env.skopeo_config("proxy:1").to_string();
    assert!(
        !config.contains("proxy-one") && !config.contains("one.example"),
        "{config}"
    );
}

#[test]
fn no_secret_reaches_the_output_even_with_every_log_enabled() {
    let env = Env::new();
    let (user, password) = ("loguser", "L0g-s3cret-pw");
    let reg = Registry::start(RegistryAuth::Basic {
        user: user.into(),
        password: password.into(),
    })
    .unwrap();
    let image = format!("{}/secret/app:1", reg.addr);
    let ctx = context("FROM busybox:latest\nRUN echo logged > /l\n");
    let c = ctx.path().to_str().unwrap();
    env.rbuild_ok(&["build", "--progress", "plain", "-t", &image, c]);
    let cfg = tempfile::tempdir().unwrap();
    let auth = base64(format!("{user}:{password}").as_bytes());
    write_config(
        cfg.path(),
        &format!(r#"{{"auths":{{"{}":{{"auth":"{auth}"}}}}}}"#, reg.addr),
    );
    let trace = [("RBUILD_LOG", "trace".to_string())];
    let pushed = run_with(&env.store(), cfg.path(), &["push", &image], None, &trace);
    let (_d, store) = common::registry::fresh_store();
    let pulled = run_with(&store, cfg.path(), &["pull", &image], None, &trace);
    for out in [&pushed, &pulled] {
        let all = text(out);
        assert!(out.status.success(), "{all}");
        assert!(
            all.lines().count() > 20,
            "RBUILD_LOG=trace logged nothing: the check is empty"
        );
        for secret in [password, auth.as_str()] {
            assert!(!all.contains(secret), "{secret:?} in the output:\n{all}");
        }
    }
}
