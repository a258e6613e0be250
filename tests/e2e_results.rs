//! Issue 15, machine-readable results: `--metadata-file` and `--iidfile` agree with what the
//! registry stores (read by skopeo), `-q` prints only the image ID, `--progress=rawjson`
//! parses line by line with jq and carries the cache-miss reason.

mod common;

use std::process::{Command, Stdio};

use common::registry::{run, skopeo_inspect};
use common::{text, Env};

fn context(dockerfile: &str) -> tempfile::TempDir {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    ctx
}

#[test]
fn metadata_and_iid_files_match_what_the_registry_holds() {
    let env = Env::new();
    let reg = rbuild_testkit::Registry::start(rbuild_testkit::RegistryAuth::None).unwrap();
    let cfg = tempfile::tempdir().unwrap();
    let ctx = context("FROM busybox\nRUN echo results > /r\n");
    let image = format!("{}/results:1", reg.addr);
    let meta = env.root.path().join("meta.json");
    let iid = env.root.path().join("iid");
    let args = [
        "build",
        "-t",
        &image,
        "--push",
        "--metadata-file",
        meta.to_str().unwrap(),
        "--iidfile",
        iid.to_str().unwrap(),
        ctx.path().to_str().unwrap(),
    ];
    let out = run(&env.store(), cfg.path(), &args);
    assert!(out.status.success(), "{}", text(&out));
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(&meta).unwrap()).unwrap();
    let inspected = skopeo_inspect(&image);
    assert!(inspected.status.success(), "{}", text(&inspected));
    let remote: serde_json::Value = serde_json::from_slice(&inspected.stdout).unwrap();
    assert_eq!(m["containerimage.digest"], remote["Digest"], "{m}");
    assert_eq!(m["containerimage.descriptor"]["digest"], remote["Digest"]);
    assert_eq!(m["image.name"], image.as_str());
    let config = m["containerimage.config.digest"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(std::fs::read_to_string(&iid).unwrap(), config);
    // The config digest is the one the registry serves for this image.
    let raw = common::registry::skopeo(&[
        "inspect",
        "--config",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{image}"),
    ]);
    let bytes = raw.stdout;
    assert_eq!(format!("sha256:{}", rbuild_oci::sha256_hex(&bytes)), config);
    assert!(m["rbuild.cache"]["executed"].as_u64().unwrap() >= 1, "{m}");
}

#[test]
fn quiet_prints_only_the_image_id() {
    let env = Env::new();
    let ctx = context("FROM busybox\nRUN echo quiet > /q\n");
    let out = env.rbuild(&["build", "-q", "-t", "quiet:1", ctx.path().to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 1, "{stdout}");
    assert!(
        lines[0].starts_with("sha256:") && lines[0].len() == 71,
        "{stdout}"
    );
    assert!(
        out.stderr.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let inspect: serde_json::Value =
        serde_json::from_str(&env.rbuild_ok(&["inspect", "quiet:1"])).unwrap();
    assert_eq!(inspect["Manifest"]["config"]["digest"], lines[0]);
}

#[test]
fn rawjson_progress_parses_with_jq_and_names_the_miss() {
    let env = Env::new();
    let ctx = context("FROM busybox\nARG V=1\nRUN echo v=$V\n");
    env.build_ok(ctx.path(), "raw:1", &[]);
    let out = env.rbuild(&[
        "build",
        "--progress",
        "rawjson",
        "--build-arg",
        "V=2",
        "-t",
        "raw:1",
        ctx.path().to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let jq = rbuild_testkit::require_tool("jq", "jq");
    // Every line is one JSON object: jq reads them one by one and picks the misses' reasons.
    let mut child = Command::new(jq)
        .args(["-r", "select(.type == \"miss\") | .reason"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child.stdin.take().unwrap().write_all(&out.stderr).unwrap();
    let parsed = child.wait_with_output().unwrap();
    assert!(
        parsed.status.success(),
        "jq failed on:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let reasons = String::from_utf8_lossy(&parsed.stdout);
    assert!(
        reasons.contains("env:V"),
        "no miss names the changed arg:\n{reasons}"
    );
    let logs = String::from_utf8_lossy(&out.stderr);
    assert!(
        logs.lines()
            .any(|l| l.contains("\"type\":\"log\"") && l.contains("v=2")),
        "{logs}"
    );
}
