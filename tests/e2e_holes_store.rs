//! Regression tests for the holes of issue 12 that a hostile image reaches: F2 (layer
//! poisoning) and F9 (denial of service). F10 is in e2e_holes_repair.rs. Each test is named
//! after its finding.

mod common;

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{text, Env};

fn context(dockerfile: &str) -> tempfile::TempDir {
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    ctx
}

fn python(script: &str) {
    let py = rbuild_testkit::require_tool("python3", "python3");
    let res = Command::new(py).args(["-c", script]).output().unwrap();
    assert!(res.status.success(), "python: {}", text(&res));
}

/// `tar -C dir -cf out .`
fn tar_dir(dir: &Path, out: &Path) {
    let mut tar = Command::new("tar");
    tar.arg("-C").arg(dir).arg("-cf").arg(out).arg(".");
    assert!(tar.status().unwrap().success(), "tar failed");
}

/// An OCI image layout at `dir` (and its tar at `dir.tar`) with one uncompressed layer, whose
/// config claims `diff_id` (the layer's real one when None) and carries `label_bytes` of label.
fn layout(dir: &Path, layer: &Path, diff_id: Option<&str>, label_bytes: usize, tag: &str) {
    python(&format!(
        r#"import hashlib, json, os, tarfile
layer = open({layer:?}, 'rb').read()
ld = 'sha256:' + hashlib.sha256(layer).hexdigest()
config = json.dumps({{"architecture": "amd64", "os": "linux",
    "config": {{"Labels": {{"pad": "x" * {label_bytes}}}}},
    "rootfs": {{"type": "layers", "diff_ids": [{diff_id} or ld]}}}}).encode()
def blob(data):
    d = hashlib.sha256(data).hexdigest()
    os.makedirs({dir:?} + '/blobs/sha256', exist_ok=True)
    open({dir:?} + '/blobs/sha256/' + d, 'wb').write(data)
    return {{"digest": "sha256:" + d, "size": len(data)}}
c = blob(config); l = blob(layer)
manifest = json.dumps({{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": dict(c, mediaType="application/vnd.oci.image.config.v1+json"),
    "layers": [dict(l, mediaType="application/vnd.oci.image.layer.v1.tar")]}}).encode()
m = blob(manifest)
index = {{"schemaVersion": 2, "manifests": [dict(m, mediaType="application/vnd.oci.image.manifest.v1+json",
    annotations={{"org.opencontainers.image.ref.name": {tag:?}}})]}}
open({dir:?} + '/index.json', 'w').write(json.dumps(index))
open({dir:?} + '/oci-layout', 'w').write('{{"imageLayoutVersion": "1.0.0"}}')
with tarfile.open({dir:?} + '.tar', 'w') as t:
    for name in sorted(os.listdir({dir:?})):
        t.add({dir:?} + '/' + name, arcname=name)
"#,
        layer = layer.to_str().unwrap(),
        dir = dir.to_str().unwrap(),
        diff_id = diff_id.map_or("None".to_string(), |d| format!("{d:?}")),
    ));
}

/// The diff_ids the config of `tag` claims.
fn diff_ids(env: &Env, tag: &str) -> Vec<String> {
    let out = env.rbuild_ok(&["inspect", tag]);
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    let ids = v["Config"]["rootfs"]["diff_ids"].as_array().unwrap();
    ids.iter()
        .map(|d| d.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn f2_an_image_claiming_another_layers_diff_id_cannot_poison_it() {
    let trusted = Env::new();
    let busybox_diff = diff_ids(&trusted, "busybox:latest").remove(0);
    // The attacker's layer: busybox plus a marker, claiming busybox's diff_id.
    let work = tempfile::tempdir().unwrap();
    let rootfs = work.path().join("rootfs");
    rbuild_testkit::busybox_rootfs(&rootfs).unwrap();
    std::fs::write(rootfs.join("POISONED"), "evil\n").unwrap();
    let layer = work.path().join("layer.tar");
    tar_dir(&rootfs, &layer);
    let evil = work.path().join("evil");
    layout(&evil, &layer, Some(&busybox_diff), 0, "evil:1");

    let victim = Env::empty();
    let evil_tar = format!("{}.tar", evil.display());
    let loaded = victim.rbuild(&["load", "-i", &evil_tar]);
    let ctx = context("FROM evil:1\nRUN echo built on evil\n");
    if loaded.status.success() {
        let out = victim.build_fails(ctx.path(), "evil-child:1", &[]);
        assert!(
            out.contains("diff"),
            "the refusal should name the diff ID:\n{out}"
        );
    }
    // The same layout as a named context is refused too.
    let ctx2 = context("FROM base\nRUN echo built on evil\n");
    let named = format!("base=oci-layout://{}:evil:1", evil.display());
    victim.build_fails(ctx2.path(), "evil-named:1", &["--build-context", &named]);

    // Now the trusted base arrives; builds on it see busybox, not the attacker's files.
    let bb = victim.root.path().join("busybox.tar");
    rbuild_testkit::busybox_tarball(&bb).unwrap();
    victim.rbuild_ok(&["import", bb.to_str().unwrap(), "busybox:latest"]);
    let ctx3 = context("FROM busybox\nRUN test ! -e /POISONED && echo CLEAN-BASE\n");
    let out = victim.build_ok(ctx3.path(), "good:1", &[]);
    assert!(out.contains("CLEAN-BASE"), "{out}");
    victim.check_ok();
}

/// Runs rbuild under a 4 GiB address-space limit (so a regression fails fast instead of
/// swallowing the machine), killed after `limit`.
fn bounded(env: &Env, args: &[&str], limit: Duration) -> (Output, Duration) {
    let script = "ulimit -v 4194304; exec \"$@\"";
    let mut child = Command::new("sh")
        .args(["-c", script, "sh", env!("CARGO_BIN_EXE_rbuild"), "--root"])
        .arg(env.store())
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > limit {
            let _ = child.kill();
            break;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    (child.wait_with_output().unwrap(), start.elapsed())
}

/// A clean failure: exit code 1 with a message, not a signal, a panic or an abort.
fn assert_clean_failure(out: &Output, what: &str) {
    let log = text(out);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{what}: not a clean failure:\n{log}"
    );
    assert!(
        !log.contains("panicked") && !log.contains("overflow"),
        "{what}:\n{log}"
    );
}

#[test]
fn f9_env_that_doubles_itself_is_capped() {
    let env = Env::empty();
    let mut df = String::from("FROM scratch\nENV A=0123456789abcdef\n");
    df.push_str(&"ENV A=$A$A\n".repeat(40));
    let ctx = context(&df);
    let (out, took) = bounded(
        &env,
        &["build", ctx.path().to_str().unwrap()],
        Duration::from_secs(60),
    );
    assert_clean_failure(&out, "ENV A=$A$A x40");
    let log = text(&out);
    assert!(
        log.contains("Dockerfile:"),
        "the error names the line:\n{log}"
    );
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

#[test]
fn f9_env_lines_cost_linear_time() {
    let env = Env::empty();
    let time = |n: usize| {
        let mut df = String::from("FROM scratch\n");
        for i in 0..n {
            df.push_str(&format!("ENV V{i}=value-{i}\n"));
        }
        let ctx = context(&df);
        let (out, took) = bounded(
            &env,
            &["build", ctx.path().to_str().unwrap()],
            Duration::from_secs(600),
        );
        assert!(out.status.success(), "{n} ENV lines: {}", text(&out));
        took
    };
    let (small, large) = (time(2_500), time(10_000));
    // Four times the lines: linear work takes about 4x, quadratic 16x.
    assert!(
        large.as_secs_f64() < 8.0 * small.as_secs_f64().max(0.05),
        "2,500 ENV lines took {small:?}, 10,000 took {large:?}"
    );
}

#[test]
fn f9_an_index_nested_fifty_thousand_deep_is_refused() {
    let env = Env::empty();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("deep.tar");
    python(&format!(
        r#"import hashlib, io, json, tarfile
t = tarfile.open({out:?}, 'w')
def add(name, data):
    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
add('oci-layout', b'{{"imageLayoutVersion": "1.0.0"}}')
child = None
for _ in range(50000):
    idx = {{"schemaVersion": 2, "manifests": [] if child is None else [child]}}
    data = json.dumps(idx).encode()
    d = hashlib.sha256(data).hexdigest()
    add('blobs/sha256/' + d, data)
    child = {{"mediaType": "application/vnd.oci.image.index.v1+json", "digest": "sha256:" + d, "size": len(data)}}
add('index.json', json.dumps({{"schemaVersion": 2, "manifests": [dict(child, annotations={{"org.opencontainers.image.ref.name": "deep:1"}})]}}).encode())
t.close()
"#,
        out = out.to_str().unwrap()
    ));
    let (res, _) = bounded(
        &env,
        &["load", "-i", out.to_str().unwrap()],
        Duration::from_secs(120),
    );
    assert_clean_failure(&res, "load of a 50,000-deep index");
}

#[test]
fn f9_a_config_blob_over_the_cap_is_refused() {
    let env = Env::empty();
    let work = tempfile::tempdir().unwrap();
    let rootfs = work.path().join("rootfs");
    std::fs::create_dir(&rootfs).unwrap();
    std::fs::write(rootfs.join("f"), "x").unwrap();
    let layer = work.path().join("layer.tar");
    tar_dir(&rootfs, &layer);
    let big = work.path().join("big");
    layout(&big, &layer, None, 9 << 20, "big:1");
    let (out, _) = bounded(
        &env,
        &["load", "-i", &format!("{}.tar", big.display())],
        Duration::from_secs(120),
    );
    assert_clean_failure(&out, "load of a 9 MiB config");
}

#[test]
fn f9_images_into_a_closed_pipe_does_not_panic() {
    let env = Env::new();
    let mut child = Command::new(env!("CARGO_BIN_EXE_rbuild"))
        .arg("--root")
        .arg(env.store())
        .arg("images")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_ne!(out.status.code(), Some(101), "{err}");
}

#[test]
fn f9_a_dockerfile_from_dev_zero_is_capped() {
    let env = Env::empty();
    let ctx = tempfile::tempdir().unwrap();
    let args = ["build", "-f", "/dev/zero", ctx.path().to_str().unwrap()];
    let (out, took) = bounded(&env, &args, Duration::from_secs(60));
    assert_clean_failure(&out, "-f /dev/zero");
    let log = text(&out);
    // Under the address-space limit an uncapped read also ends, with "out of memory": the
    // error must come from the size cap instead.
    assert!(log.contains("Dockerfile") && log.contains("limit"), "{log}");
    assert!(!log.contains("out of memory"), "{log}");
    assert!(took < Duration::from_secs(30), "took {took:?}");
}
