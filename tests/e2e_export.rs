//! Exporters end to end: `save`/`load` and `build --output` (oci, docker, local; gzip, zstd,
//! uncompressed). Archives are checked with skopeo, umoci and runc.

mod common;

use std::path::Path;

use common::images::{skopeo_inspect, small_context};
use common::{project, run_tool, text, umoci_unpack_layout, Env};

/// Extracts an OCI layout tar into `dir` (umoci reads layouts, not archives).
fn untar(archive: &Path, dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    run_tool(
        "tar",
        "tar",
        &[
            "-xf",
            archive.to_str().unwrap(),
            "-C",
            dir.to_str().unwrap(),
        ],
    );
}

fn layer_media_types(manifest: &serde_json::Value) -> Vec<String> {
    manifest["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["mediaType"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn save_oci_and_docker_archives_pass_skopeo_umoci_runc_and_load_back() {
    let env = Env::new();
    env.build_ok(&project().join("examples/hello"), "hello:1", &[]);
    let digest = env.manifest_digest("hello:1");
    let work = env.root.path();
    let oci = work.join("hello-oci.tar");
    env.rbuild_ok(&["save", "-o", oci.to_str().unwrap(), "hello:1"]);
    let m = skopeo_inspect(&format!("oci-archive:{}:hello:1", oci.display()));
    // busybox, WORKDIR /app (made by a mkdir step, as BuildKit does), COPY, three RUNs.
    assert_eq!(m["layers"].as_array().unwrap().len(), 6, "{m}");
    let layout = work.join("oci-layout");
    untar(&oci, &layout);
    let rootfs = umoci_unpack_layout(&layout, "hello:1", &work.join("b-oci"));
    assert!(rootfs.join("app/hello.sh").is_file());

    let docker = work.join("hello-docker.tar");
    env.rbuild_ok(&[
        "save",
        "--format",
        "docker",
        "-o",
        docker.to_str().unwrap(),
        "hello:1",
    ]);
    let out = run_docker_archive(&env, &docker, "hello");
    assert!(
        out.contains("Hello from rbuild") && out.contains("built on Linux as root"),
        "{out}"
    );

    // Load both archives into fresh stores: same image, same digest (OCI) / same config (docker).
    let other = Env::empty();
    let loaded = other.rbuild_ok(&["load", "-i", oci.to_str().unwrap()]);
    assert_eq!(loaded.trim(), "Loaded image: hello:1");
    assert_eq!(other.manifest_digest("hello:1"), digest);
    other.check_ok();
    let third = Env::empty();
    let loaded = third.rbuild_ok(&["load", "-i", docker.to_str().unwrap()]);
    assert!(loaded.contains("Loaded image: hello:1"), "{loaded}");
    assert_eq!(
        third.skopeo_config("hello:1")["rootfs"],
        env.skopeo_config("hello:1")["rootfs"]
    );
}

/// Converts a docker-archive to an OCI layout with skopeo (umoci reads only those), unpacks it
/// with umoci and runs it with runc; returns what it printed. Works in `env`'s root.
fn run_docker_archive(env: &Env, archive: &Path, tag: &str) -> String {
    let work = env.root.path();
    let converted = work.join("from-docker");
    run_tool(
        "skopeo",
        "skopeo",
        &[
            "copy",
            &format!("docker-archive:{}", archive.display()),
            &format!("oci:{}:{tag}", converted.display()),
        ],
    );
    let bundle = work.join("b-docker");
    umoci_unpack_layout(&converted, tag, &bundle);
    env.runc_run(&bundle)
}

#[test]
fn build_outputs_oci_docker_local_with_compression() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    small_context(ctx.path());
    oci_output_with_zstd(&env, ctx.path());
    docker_output_with_gzip(&env, ctx.path());
    local_output_matches_umoci(&env, ctx.path());
    oci_output_uncompressed(&env, ctx.path());
    env.check_ok();
}

/// type=oci with zstd: the archive's new layers are zstd, the store gets no tag.
fn oci_output_with_zstd(env: &Env, ctx: &Path) {
    let work = env.root.path();
    let oci = work.join("out-oci.tar");
    let spec = format!(
        "type=oci,dest={},compression=zstd,compression-level=9",
        oci.display()
    );
    let out = env.build_with(ctx, &["-t", "small:zstd", "--output", &spec]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(
        !env.rbuild(&["inspect", "small:zstd"]).status.success(),
        "type=oci alone must not tag the store"
    );
    let m = skopeo_inspect(&format!("oci-archive:{}:small:zstd", oci.display()));
    let types = layer_media_types(&m);
    assert_eq!(types.len(), 3, "{m}");
    assert!(
        types[1..]
            .iter()
            .all(|t| t == "application/vnd.oci.image.layer.v1.tar+zstd"),
        "{types:?}"
    );
    // umoci 0.4 reads no zstd: skopeo decompresses (proving the blobs are valid zstd) first.
    let layout = work.join("zstd-layout");
    run_tool(
        "skopeo",
        "skopeo",
        &[
            "copy",
            "--dest-compress-format",
            "gzip",
            "--dest-compress",
            &format!("oci-archive:{}:small:zstd", oci.display()),
            &format!("oci:{}:small", layout.display()),
        ],
    );
    let rootfs = umoci_unpack_layout(&layout, "small", &work.join("b-zstd"));
    assert_eq!(
        std::fs::read_to_string(rootfs.join("msg.txt")).unwrap(),
        "exported\n"
    );
    assert!(!rootfs.join("bin/vi").exists());
}

/// The same steps with gzip (the default) are other cache records and other blobs.
fn docker_output_with_gzip(env: &Env, ctx: &Path) {
    let work = env.root.path();
    let docker = work.join("out-docker.tar");
    let spec = format!("type=docker,dest={}", docker.display());
    let out = env.build_with(ctx, &["-t", "small:gz", "-o", &spec, "-o", "type=image"]);
    assert!(out.status.success(), "{}", text(&out));
    let m = skopeo_inspect(&format!("oci:{}:small:gz", env.store().display()));
    assert!(layer_media_types(&m)
        .iter()
        .all(|t| t == "application/vnd.oci.image.layer.v1.tar+gzip"));
    assert_eq!(run_docker_archive(env, &docker, "small"), "exported\n");
}

/// type=local: the root filesystem unpacked by rbuild equals umoci's unpacking.
fn local_output_matches_umoci(env: &Env, ctx: &Path) {
    let work = env.root.path();
    let local = work.join("local-out");
    let spec = format!("type=local,dest={}", local.display());
    let out = env.build_with(ctx, &["-o", &spec]);
    assert!(out.status.success(), "{}", text(&out));
    let all = text(&out);
    assert!(
        !all.contains("cache miss"),
        "the gzip build's records should be reused:\n{all}"
    );
    let umoci_root = env.umoci_unpack("small:gz").join("rootfs");
    common::fstree::assert_same_tree(&local, &umoci_root, "rbuild type=local vs umoci");
}

/// Uncompressed layers are accepted by skopeo as plain tars.
fn oci_output_uncompressed(env: &Env, ctx: &Path) {
    let work = env.root.path();
    let plain = work.join("plain.tar");
    let spec = format!(
        "type=oci,dest={},compression=uncompressed,name=p:1",
        plain.display()
    );
    let out = env.build_with(ctx, &["-o", &spec]);
    assert!(out.status.success(), "{}", text(&out));
    let m = skopeo_inspect(&format!("oci-archive:{}:p:1", plain.display()));
    assert!(layer_media_types(&m)[1..]
        .iter()
        .all(|t| t == "application/vnd.oci.image.layer.v1.tar"));
}

#[test]
fn bad_output_specs_fail_before_building() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let marker = "step-ran-marker";
    let dockerfile = format!("FROM busybox:latest\nRUN echo {marker} > /m\n");
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    let records = cache_entries(&env);
    let assert_nothing_built = |out: &std::process::Output, what: &str| {
        let said = text(out);
        assert!(!out.status.success(), "{what} accepted:\n{said}");
        assert!(!said.contains(marker), "{what}: a step ran:\n{said}");
        assert_eq!(cache_entries(&env), records, "{what}: a step was recorded");
    };
    for bad in ["type=oci", "type=nope,dest=x", "type=image,compression=lz4"] {
        let out = env.build_with(ctx.path(), &["-o", bad]);
        assert_nothing_built(&out, bad);
        assert!(text(&out).contains("--output"), "{}", text(&out));
    }
    // Two outputs asking for different compressions of the same layers.
    let dest = env.root.path().join("never-written.tar");
    let oci = format!("type=oci,dest={},compression=gzip", dest.display());
    let out = env.build_with(
        ctx.path(),
        &["-o", "type=image,compression=zstd", "-o", &oci],
    );
    assert_nothing_built(&out, "conflicting compressions");
    assert!(!dest.exists(), "the archive was written");
}

/// Build cache entries in the store (no rbuild process runs meanwhile).
fn cache_entries(env: &Env) -> usize {
    rbuild_store::Store::open(&env.store())
        .unwrap()
        .disk_usage()
        .unwrap()
        .cache_entries
}
