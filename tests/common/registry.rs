//! rbuild against a registry: runs on any store with its own `DOCKER_CONFIG` (never the
//! caller's ~/.docker), and reading the registry's access log.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use rbuild_testkit::{require_tool, Registry};

use super::text;

/// Runs rbuild on `store` with `DOCKER_CONFIG=cfg`, optional stdin and extra environment.
pub fn run_with(
    store: &Path,
    cfg: &Path,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, String)],
) -> Output {
    let mut cmd = super::rbuild_command(store, cfg);
    cmd.args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    });
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
    }
    child.wait_with_output().unwrap()
}

/// Runs rbuild on `store` with `DOCKER_CONFIG=cfg`, no stdin.
pub fn run(store: &Path, cfg: &Path, args: &[&str]) -> Output {
    run_with(store, cfg, args, None, &[])
}

/// Asserts success; returns stdout and stderr.
pub fn ok(out: Output, what: &str) -> String {
    assert!(out.status.success(), "{what} failed:\n{}", text(&out));
    text(&out)
}

/// stdout, trimmed.
pub fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// A build context holding only this Dockerfile.
pub fn context(dockerfile: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("Dockerfile"), dockerfile).unwrap();
    dir
}

/// An empty store directory (no busybox imported).
pub fn fresh_store() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let store = dir.path().join("store");
    (dir, store)
}

/// `rbuild build --progress plain` of `ctx` with a `-t` per tag, whatever its outcome.
pub fn build_output(store: &Path, cfg: &Path, ctx: &Path, tags: &[&str], extra: &[&str]) -> Output {
    let mut args = vec!["build", "--progress", "plain"];
    for t in tags {
        args.extend(["-t", t]);
    }
    args.extend_from_slice(extra);
    args.push(ctx.to_str().unwrap());
    run(store, cfg, &args)
}

/// Like [`build_output`], asserting success; returns stdout and stderr.
pub fn build(store: &Path, cfg: &Path, ctx: &Path, tags: &[&str], extra: &[&str]) -> String {
    ok(build_output(store, cfg, ctx, tags, extra), "build")
}

/// `rbuild inspect` of a tag in `store`: (manifest digest, layer digests).
pub fn inspect(store: &Path, tag: &str) -> (String, Vec<String>) {
    let cfg = tempfile::tempdir().unwrap();
    let out = run(store, cfg.path(), &["inspect", tag]);
    assert!(out.status.success(), "inspect {tag}: {}", text(&out));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let layers = v["Manifest"]["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect();
    (v["Digest"].as_str().unwrap().to_string(), layers)
}

/// The first 12 hex digits, as `rbuild push` prints blob ids.
pub fn short(digest: &str) -> &str {
    &digest["sha256:".len().."sha256:".len() + 12]
}

/// The registry's access log from byte `from` on: every request answered so far (a sentinel
/// request marks the end, so nothing is left to a pause).
pub fn log_since(reg: &Registry, from: usize) -> String {
    reg.log_since(from)
}

/// The access log's length so far, for a later [`log_since`].
pub fn log_len(reg: &Registry) -> usize {
    reg.log_len()
}

/// Access-log lines that start, continue or finish a blob upload.
pub fn upload_requests(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| {
            l.contains("/blobs/uploads/")
                && (l.contains("\"POST ") || l.contains("\"PATCH ") || l.contains("\"PUT "))
        })
        .filter(|l| !l.contains("mount=sha256"))
        .collect()
}

/// Runs skopeo, whatever its outcome.
pub fn skopeo(args: &[&str]) -> Output {
    let skopeo = require_tool("skopeo", "skopeo");
    Command::new(skopeo).args(args).output().unwrap()
}

/// The manifest `reference` names in a plain-HTTP registry, as `skopeo inspect --raw` reads it.
pub fn raw_manifest(reference: &str) -> serde_json::Value {
    let raw = skopeo(&[
        "inspect",
        "--raw",
        "--tls-verify=false",
        &format!("docker://{reference}"),
    ]);
    assert!(raw.status.success(), "skopeo inspect --raw: {}", text(&raw));
    serde_json::from_slice(&raw.stdout).unwrap()
}

/// The layer digests a manifest lists.
pub fn layer_digests(manifest: &serde_json::Value) -> Vec<String> {
    let layers = manifest["layers"].as_array().unwrap();
    layers
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

/// `skopeo inspect` of `image` in a plain-HTTP registry, whatever its outcome.
pub fn skopeo_inspect(image: &str) -> Output {
    skopeo(&[
        "inspect",
        "--tls-verify=false",
        &format!("docker://{image}"),
    ])
}

/// Standard base64 with padding, as config.json `auth` values are.
pub fn base64(data: &[u8]) -> String {
    const ABC: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Writes a `config.json` into `dir`.
pub fn write_config(dir: &Path, json: &str) {
    std::fs::write(dir.join("config.json"), json).unwrap();
}

/// NO_PROXY letting the sealed rbuild reach `host`, an address of this machine, directly.
pub fn reach(host: &str) -> Vec<(&'static str, String)> {
    let list = format!("{},{host}", super::LOCAL_HOSTS);
    vec![("NO_PROXY", list.clone()), ("no_proxy", list)]
}

/// A registry serving TLS on `host` with a certificate of a throwaway CA, and that CA.
pub struct TlsRegistry {
    /// The registry.
    pub reg: Registry,
    /// The CA certificate (PEM) a client must trust.
    pub ca: PathBuf,
    _pki: tempfile::TempDir,
}

/// Starts a [`TlsRegistry`] on `host`, its CA named `ca_name`.
pub fn tls_registry(host: &str, ca_name: &str) -> TlsRegistry {
    let pki = tempfile::tempdir().unwrap();
    let certs = rbuild_testkit::make_certs(pki.path(), ca_name, host);
    let tls = rbuild_testkit::RegistryTls {
        host: host.to_string(),
        cert: certs.cert.clone(),
        key: certs.key.clone(),
    };
    let reg = Registry::start_tls(rbuild_testkit::RegistryAuth::None, Some(tls)).unwrap();
    TlsRegistry {
        reg,
        ca: certs.ca,
        _pki: pki,
    }
}
