//! Issue 14, must-show 1: real-world Dockerfiles that use `RUN --mount` build offline where
//! their bases and sources can be made on this machine (testdata/real-world/README.md says
//! why the others cannot). uv's Docker example: its `Dockerfile`, unmodified, on a stand-in
//! for `ghcr.io/astral-sh/uv:python3.12-bookworm-slim` built here from the debootstrapped
//! Debian base (Debian's python3, which is 3.11, and uv from PyPI), with a trimmed project
//! (testdata/real-world/uv-docker-example/app: one dependency, its uv.lock); then its
//! `multistage.Dockerfile`, whose final base is the stand-in's python stage.

mod common;

use std::path::{Path, PathBuf};

use common::context::rootfs;
use common::mounts::{debian_env, dockerfile, step_output};
use common::{project, Env};

/// The stand-in bases: Debian's python3 and pip, then uv from PyPI (the version that wrote
/// the example's uv.lock) where the upstream image has it, /usr/local/bin/uv. This machine
/// reaches PyPI through a TLS-intercepting proxy, so the stand-ins carry the host's CA bundle
/// and point pip and uv at it, as a company's base images do.
const STAND_INS: &str = "FROM debian:bookworm AS python\n\
    COPY host-ca.crt /etc/ssl/certs/host-ca.crt\n\
    ENV SSL_CERT_FILE=/etc/ssl/certs/host-ca.crt PIP_CERT=/etc/ssl/certs/host-ca.crt\n\
    RUN apt-get update && apt-get install -y --no-install-recommends python3 python3-pip \
    && rm -rf /var/lib/apt/lists/*\n\
    FROM python AS uv\n\
    RUN pip install --break-system-packages --no-cache-dir uv==0.13.9 && uv --version\n";

/// The host's CA bundle (Debian's ca-certificates, with whatever CA the machine adds).
const HOST_CA: &str = "/etc/ssl/certs/ca-certificates.crt";
const UV_IMAGE: &str = "ghcr.io/astral-sh/uv:python3.12-bookworm-slim";
/// The final base of `multistage.Dockerfile`: the stand-ins' `python` stage (the same
/// interpreter path as the builder, which the example says must match).
const PYTHON_IMAGE: &str = "python:3.12-slim-bookworm";

fn example() -> PathBuf {
    project().join("testdata/real-world/uv-docker-example")
}

/// Builds the stand-in bases into `env`'s store under the upstream names.
fn stand_ins(env: &Env) {
    let ctx = tempfile::tempdir().unwrap();
    dockerfile(ctx.path(), STAND_INS);
    let bundle = std::fs::read(HOST_CA).unwrap_or_else(|e| panic!("{HOST_CA}: {e}"));
    std::fs::write(ctx.path().join("host-ca.crt"), bundle).unwrap();
    env.build_ok(ctx.path(), PYTHON_IMAGE, &["--target", "python"]);
    let log = env.build_ok(ctx.path(), UV_IMAGE, &["--target", "uv"]);
    assert!(
        step_output(&log, "pip install")
            .iter()
            .any(|l| l.starts_with("uv 0.13.9")),
        "uv from PyPI:\n{log}"
    );
}

/// Builds `file` of the example with the trimmed project as context.
fn build_example(env: &Env, file: &str, tag: &str) -> String {
    let df = example().join(file);
    let app = example().join("app");
    env.build_ok(&app, tag, &["-f", df.to_str().unwrap()])
}

/// What `python` of `image`'s PATH prints for idna (the locked dependency), run as its USER.
fn idna_in(env: &Env, image: &str) -> Vec<String> {
    let ctx = tempfile::tempdir().unwrap();
    let check = "RUN python -c 'import idna, sys; print(idna.encode(\"b\\u00fccher.example\").decode(), sys.prefix)'";
    dockerfile(ctx.path(), &format!("FROM {image}\n{check}\n"));
    let log = env.build_ok(ctx.path(), &format!("{image}-check"), &[]);
    step_output(&log, "import idna")
}

/// The locked dependency is in the image's virtual environment.
fn has_idna(root: &Path) -> bool {
    let lib = root.join("app/.venv/lib");
    std::fs::read_dir(&lib)
        .map(|d| {
            d.flatten()
                .any(|p| p.path().join("site-packages/idna").is_dir())
        })
        .unwrap_or(false)
}

#[test]
fn uv_docker_example_builds_offline_with_its_cache_mount() {
    let env = debian_env();
    stand_ins(&env);
    let log = build_example(&env, "Dockerfile", "uv-example:1");
    assert!(has_idna(&rootfs(&env, "uv-example:1")), "{log}");
    let config = env.skopeo_config("uv-example:1");
    assert_eq!(config["config"]["User"], "nonroot", "{config}");
    assert_eq!(
        idna_in(&env, "uv-example:1"),
        ["xn--bcher-kva.example /app/.venv"]
    );
    // uv's cache lives on the cache mount the Dockerfile names.
    let caches = env.rbuild_ok(&["cache", "ls"]);
    assert!(caches.contains("/root/.cache/uv"), "{caches}");
    multistage_example_builds_a_final_image_without_uv(&env);
}

/// uv's `multistage.Dockerfile`, unmodified: the builder stage syncs on the uv stand-in with
/// its cache and bind mounts, the final image is the python stand-in with only the venv.
fn multistage_example_builds_a_final_image_without_uv(env: &Env) {
    let log = build_example(env, "multistage.Dockerfile", "uv-multistage:1");
    let root = rootfs(env, "uv-multistage:1");
    assert!(has_idna(&root), "{log}");
    assert!(
        !root.join("usr/local/bin/uv").exists(),
        "uv reached the final image"
    );
    let config = env.skopeo_config("uv-multistage:1");
    assert_eq!(config["config"]["User"], "nonroot", "{config}");
    assert_eq!(
        idna_in(env, "uv-multistage:1"),
        ["xn--bcher-kva.example /app/.venv"]
    );
}
