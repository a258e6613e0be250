//! `--build-context NAME=oci-layout://DIR[:TAG][@DIGEST]` end to end: layouts exported by
//! rbuild itself and by skopeo, used by `FROM NAME` and `COPY --from=NAME`, cached by the
//! manifest they resolve to, and refused when tampered with.

mod common;

use std::path::{Path, PathBuf};

use common::{run_tool, text, umoci_unpack_layout, Env};

fn write(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
}

/// Builds `FROM busybox` + a RUN writing `marker` to /marker, exported as `base:v1` into the
/// OCI layout directory `dir` (not into the store's tags).
fn export_base(env: &Env, dir: &Path, marker: &str) {
    let ctx = tempfile::tempdir().unwrap();
    let df = format!("FROM busybox:latest\nRUN echo {marker} > /marker\n");
    write(&ctx.path().join("Dockerfile"), &df);
    let out = format!("type=oci,tar=false,dest={}", dir.display());
    env.build_ok(ctx.path(), "base:v1", &["-o", &out]);
}

/// A Dockerfile using the context `base` both as a stage base (with a RUN) and for COPY --from.
fn consumer() -> tempfile::TempDir {
    let ctx = tempfile::tempdir().unwrap();
    let df = "FROM base AS b\nRUN echo \"run on $(cat /marker)\" > /seen\n\
              FROM busybox:latest\nCOPY --from=base /marker /copied-marker\n\
              COPY --from=b /seen /seen\n";
    write(&ctx.path().join("Dockerfile"), df);
    ctx
}

fn rootfs(env: &Env, tag: &str) -> PathBuf {
    env.umoci_unpack(tag).join("rootfs")
}

fn read(root: &Path, file: &str) -> String {
    std::fs::read_to_string(root.join(file)).unwrap()
}

/// Asserts every RUN and COPY step of a plain log was CACHED.
fn assert_all_cached(log: &str) {
    assert!(!log.contains("cache miss"), "{log}");
    let steps = log
        .lines()
        .filter(|l| l.contains("] RUN ") || l.contains("] COPY "));
    for step in steps {
        let n = step.split_whitespace().next().unwrap();
        assert!(
            log.contains(&format!("{n} CACHED")),
            "not cached: {step}\n{log}"
        );
    }
}

/// Every blob file in a store.
fn store_blobs(env: &Env) -> Vec<String> {
    let dir = env.store().join("blobs/sha256");
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    names.sort();
    names
}

#[test]
fn oci_layout_context_for_from_and_copy_from() {
    let producer = Env::new();
    let layouts = tempfile::tempdir().unwrap();
    let dir = layouts.path().join("layout");
    export_base(&producer, &dir, "from-layout");
    // A fresh store: the image must come from the layout, not from the producer's store.
    let env = Env::new();
    let ctx = consumer();
    let base = format!("base=oci-layout://{}:v1", dir.display());
    let log = env.build_ok(ctx.path(), "out:1", &["--build-context", &base]);
    let shown = format!("FROM oci-layout://{}:v1", dir.display());
    assert!(log.contains(&shown), "{log}");
    let root = rootfs(&env, "out:1");
    assert_eq!(read(&root, "copied-marker"), "from-layout\n");
    assert_eq!(read(&root, "seen"), "run on from-layout\n");
    let again = env.build_ok(ctx.path(), "out:1", &["--build-context", &base]);
    assert_all_cached(&again);
    // A relative path is relative to the current directory: the same layout, still cached.
    let out = env
        .command()
        .current_dir(layouts.path())
        .args(["build", "--progress", "plain", "-t", "out:1"])
        .args(["--build-context", "base=oci-layout://layout:v1"])
        .arg(ctx.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
    assert_all_cached(&text(&out));
    // The layout changes under the same tag: the build sees the new image.
    export_base(&producer, &dir, "changed");
    let log = env.build_ok(ctx.path(), "out:2", &["--build-context", &base]);
    assert!(log.contains("cache miss"), "{log}");
    let root = rootfs(&env, "out:2");
    assert_eq!(read(&root, "copied-marker"), "changed\n");
    assert_eq!(read(&root, "seen"), "run on changed\n");
    env.check_ok();
}

/// The manifest, config and last layer digests of the layout's only image.
fn layout_blobs(dir: &Path) -> (String, String) {
    let index: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dir.join("index.json")).unwrap()).unwrap();
    let manifest = index["manifests"][0]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let hex = |d: &str| d.trim_start_matches("sha256:").to_string();
    let path = dir.join("blobs/sha256").join(hex(&manifest));
    let m: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let layers = m["layers"].as_array().unwrap();
    let last = layers.last().unwrap()["digest"].as_str().unwrap();
    (hex(&manifest), hex(last))
}

#[test]
fn oci_layout_errors_name_the_problem_and_store_nothing() {
    let producer = Env::new();
    let layouts = tempfile::tempdir().unwrap();
    let dir = layouts.path().join("layout");
    export_base(&producer, &dir, "x");
    let env = Env::new();
    let ctx = consumer();
    let before = store_blobs(&env);
    let ctx_arg = |value: String| format!("base=oci-layout://{value}");
    let unknown = ctx_arg(format!("{}:nope", dir.display()));
    let log = env.build_fails(ctx.path(), "bad:1", &["--build-context", &unknown]);
    assert!(log.contains("tag \"nope\" not found"), "{log}");
    assert!(
        log.contains(&dir.display().to_string()) && log.contains("base:v1"),
        "{log}"
    );
    let missing = ctx_arg(layouts.path().join("nowhere").display().to_string());
    let log = env.build_fails(ctx.path(), "bad:1", &["--build-context", &missing]);
    assert!(log.contains("is not an OCI image layout"), "{log}");
    // A layer rewritten after export.
    let (_, layer) = layout_blobs(&dir);
    let file = dir.join("blobs/sha256").join(&layer);
    std::fs::remove_file(&file).unwrap();
    std::fs::write(&file, b"not the layer it claims to be").unwrap();
    let good = ctx_arg(format!("{}:v1", dir.display()));
    let log = env.build_fails(ctx.path(), "bad:1", &["--build-context", &good]);
    assert!(
        log.contains("digest mismatch") && log.contains(&layer),
        "{log}"
    );
    assert_eq!(
        store_blobs(&env),
        before,
        "a refused layout left blobs behind"
    );
    env.check_ok();
}

#[test]
fn skopeo_layouts_by_tag_digest_and_platform_index() {
    let env = Env::new();
    let layouts = tempfile::tempdir().unwrap();
    let dir = layouts.path().join("sk");
    let from = format!("oci:{}:busybox:latest", env.store().display());
    let to = format!("oci:{}:bb", dir.display());
    run_tool("skopeo", "skopeo", &["copy", "-q", &from, &to]);
    let (manifest, _) = layout_blobs(&dir);
    let multi = add_platform_index(&dir, &manifest);
    let ctx = tempfile::tempdir().unwrap();
    write(
        &ctx.path().join("Dockerfile"),
        "FROM bb\nRUN echo hi > /hi\n",
    );
    for (n, suffix) in [":bb".to_string(), format!("@sha256:{manifest}"), multi]
        .iter()
        .enumerate()
    {
        let value = format!("bb=oci-layout://{}{suffix}", dir.display());
        let tag = format!("sk:{n}");
        let bundle = env.root.path().join(format!("bundle-sk-{n}"));
        let out = tempfile::tempdir().unwrap();
        let export = format!("type=oci,tar=false,dest={}", out.path().display());
        env.build_ok(
            ctx.path(),
            &tag,
            &["--build-context", &value, "-o", &export],
        );
        let root = umoci_unpack_layout(out.path(), &tag, &bundle);
        assert_eq!(read(&root, "hi"), "hi\n");
        assert!(root.join("bin/busybox").is_file());
    }
}

/// Adds to the layout an image index offering the manifest as linux/amd64 next to an arm64
/// entry whose blob does not exist (never read: the build platform is amd64), tagged `multi`.
fn add_platform_index(dir: &Path, manifest: &str) -> String {
    let blob = |hex: &str| std::fs::read(dir.join("blobs/sha256").join(hex)).unwrap();
    let size = blob(manifest).len();
    let entry = |digest: String, arch: &str| {
        serde_json::json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": digest, "size": size,
            "platform": {"architecture": arch, "os": "linux"},
        })
    };
    let absent = format!("sha256:{}", "0".repeat(64));
    let index = serde_json::json!({
        "schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [entry(absent, "arm64"), entry(format!("sha256:{manifest}"), "amd64")],
    });
    let bytes = serde_json::to_vec(&index).unwrap();
    let hex = rbuild_oci::sha256_hex(&bytes);
    std::fs::write(dir.join("blobs/sha256").join(&hex), &bytes).unwrap();
    let path = dir.join("index.json");
    let mut top: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    top["manifests"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": format!("sha256:{hex}"), "size": bytes.len(),
            "annotations": {"org.opencontainers.image.ref.name": "multi"},
        }));
    std::fs::write(&path, serde_json::to_vec(&top).unwrap()).unwrap();
    ":multi".to_string()
}
