//! Registry connection flags end to end: `--registry-certs` against a TLS registry,
//! `--insecure-registry` for plain HTTP off loopback, `--registry-mirror` for Docker Hub
//! names, and `pull --platform` (index selection and the mismatch warning). Both the TLS and
//! the insecure registry listen on this machine's own non-loopback address.

mod common;

use std::path::Path;
use std::process::Output;

use common::registry::{
    build, context, fresh_store, inspect, log_len, log_since, ok, reach, run_with, tls_registry,
};
use common::{text, Env};
use rbuild_testkit::{host_address, Registry, RegistryAuth};

/// Builds `tag` (busybox plus one RUN) in `env`'s store; returns its manifest digest.
fn local_image(env: &Env, tag: &str) -> String {
    let ctx = context("FROM busybox:latest\nRUN echo flags > /flags\n");
    build(&env.store(), &env.docker_config(), ctx.path(), &[tag], &[]);
    inspect(&env.store(), tag).0
}

/// rbuild on `store` with `env`'s empty Docker config and `vars`.
fn rbuild_at(env: &Env, store: &Path, args: &[&str], vars: &[(&str, String)]) -> Output {
    run_with(store, &env.docker_config(), args, None, vars)
}

/// A directory in the layout of /etc/docker/certs.d holding `ca` for `host_port`.
fn certs_dir(host_port: &str, ca: &Path) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir(dir.path().join(host_port)).unwrap();
    std::fs::copy(ca, dir.path().join(host_port).join("ca.crt")).unwrap();
    dir
}

#[test]
fn registry_certs_trust_a_tls_registry_and_nothing_else_does() {
    let env = Env::new();
    let host = host_address();
    let tls = tls_registry(&host, "rbuild-test-ca");
    let (reg, certs) = (&tls.reg, &tls);
    let image = format!("{}/tls/app:1", reg.addr);
    let digest = local_image(&env, &image);
    let vars = reach(&host);
    // The registry's CA is nobody's root: refused, saying why.
    let out = rbuild_at(&env, &env.store(), &["push", &image], &vars);
    assert!(!out.status.success(), "pushed to an untrusted registry");
    assert!(text(&out).contains("certificate"), "{}", text(&out));
    // Its CA under another host's directory does not count either.
    let elsewhere = certs_dir("127.0.0.1:1", &certs.ca);
    let other = elsewhere.path().to_str().unwrap();
    let out = rbuild_at(
        &env,
        &env.store(),
        &["push", "--registry-certs", other, &image],
        &vars,
    );
    assert!(!out.status.success(), "another host's CA was trusted");
    // Under DIR/<host:port>/ca.crt it is trusted: push, pull and FROM work.
    let trust = certs_dir(&reg.addr, &certs.ca);
    let flag = ["--registry-certs", trust.path().to_str().unwrap()];
    let out = rbuild_at(
        &env,
        &env.store(),
        &[&["push"], &flag[..], &[&image]].concat(),
        &vars,
    );
    assert_eq!(common::registry::stdout(&out), digest, "{}", text(&out));
    let (_d, store) = fresh_store();
    let out = rbuild_at(
        &env,
        &store,
        &[&["pull"], &flag[..], &[&image]].concat(),
        &vars,
    );
    assert_eq!(common::registry::stdout(&out), digest, "{}", text(&out));
    let (_d2, store2) = fresh_store();
    let child = context(&format!("FROM {image}\nRUN cat /flags\n"));
    let c = child.path().to_str().unwrap();
    let args = [&["build", "--progress", "plain"], &flag[..], &[c]].concat();
    ok(
        rbuild_at(&env, &store2, &args, &vars),
        "build FROM a TLS registry",
    );
}

#[test]
fn insecure_registry_allows_plain_http_off_loopback() {
    let env = Env::new();
    let host = host_address();
    let reg = Registry::start_at(&host, RegistryAuth::None).unwrap();
    let image = format!("{}/plain/app:1", reg.addr);
    let digest = local_image(&env, &image);
    let vars = reach(&host);
    // Not loopback, not named insecure: HTTPS is spoken, and the plain registry cannot answer.
    let at = log_len(&reg);
    let out = rbuild_at(&env, &env.store(), &["push", &image], &vars);
    assert!(!out.status.success(), "pushed over plain HTTP unasked");
    assert!(text(&out).contains(&reg.addr), "{}", text(&out));
    assert!(
        !log_since(&reg, at).contains("/v2/plain/"),
        "a request went over plain HTTP"
    );
    let flag = ["--insecure-registry", reg.addr.as_str()];
    let out = rbuild_at(
        &env,
        &env.store(),
        &[&["push"], &flag[..], &[&image]].concat(),
        &vars,
    );
    assert_eq!(common::registry::stdout(&out), digest, "{}", text(&out));
    // The host alone, without the port, names it too.
    let (_d, store) = fresh_store();
    let args = ["pull", "--insecure-registry", &host, &image];
    let out = rbuild_at(&env, &store, &args, &vars);
    assert_eq!(common::registry::stdout(&out), digest, "{}", text(&out));
}

#[test]
fn registry_mirror_serves_docker_hub_names_and_the_harness_reaches_no_other() {
    let env = Env::new();
    let mirror = Registry::start(RegistryAuth::None).unwrap();
    let on_mirror = format!("{}/library/busybox:mirrored", mirror.addr);
    env.rbuild_ok(&["tag", "busybox:latest", &on_mirror]);
    let digest = env.manifest_digest(&on_mirror);
    ok(
        rbuild_at(&env, &env.store(), &["push", &on_mirror], &[]),
        "push to the mirror",
    );
    // Without the mirror, a Docker Hub name cannot be fetched: the harness is sealed.
    let (_d, store) = fresh_store();
    let out = rbuild_at(&env, &store, &["pull", "busybox:mirrored"], &[]);
    assert!(
        !out.status.success(),
        "a test reached Docker Hub:\n{}",
        text(&out)
    );
    // With it, the mirror answers for docker.io/library/busybox.
    let at = log_len(&mirror);
    let url = format!("http://{}", mirror.addr);
    let args = ["pull", "--registry-mirror", &url, "busybox:mirrored"];
    let out = rbuild_at(&env, &store, &args, &[]);
    assert_eq!(common::registry::stdout(&out), digest, "{}", text(&out));
    let asked = log_since(&mirror, at);
    assert!(
        asked.contains("GET /v2/library/busybox/manifests/mirrored"),
        "{asked}"
    );
    // A build's FROM goes through the mirror too.
    let (_d2, store2) = fresh_store();
    let child = context("FROM busybox:mirrored\nRUN echo from-mirror\n");
    let c = child.path().to_str().unwrap();
    let args = ["build", "--progress", "plain", "--registry-mirror", &url, c];
    ok(
        rbuild_at(&env, &store2, &args, &[]),
        "build FROM a mirrored name",
    );
}

/// The OCI architecture of this machine, and another one.
fn arches() -> (&'static str, &'static str) {
    match std::env::consts::ARCH {
        "x86_64" => ("amd64", "arm64"),
        "aarch64" => ("arm64", "amd64"),
        other => panic!("no OCI architecture name known for {other}"),
    }
}

/// Builds `FROM scratch` for `linux/<arch>` as `tag` and pushes it; returns (digest, size).
fn push_scratch_image(env: &Env, tag: &str, arch: &str) -> (String, u64) {
    let ctx = context("FROM scratch\nARG TARGETARCH\nCOPY Dockerfile /made-for-$TARGETARCH\n");
    let platform = format!("linux/{arch}");
    build(
        &env.store(),
        &env.docker_config(),
        ctx.path(),
        &[tag],
        &["--platform", &platform],
    );
    ok(rbuild_at(env, &env.store(), &["push", tag], &[]), "push");
    let digest = inspect(&env.store(), tag).0;
    let blob = env
        .store()
        .join("blobs/sha256")
        .join(&digest["sha256:".len()..]);
    (digest, std::fs::metadata(blob).unwrap().len())
}

#[test]
fn pull_platform_selects_from_an_index_and_warns_on_a_mismatch() {
    let env = Env::new();
    let reg = Registry::start(RegistryAuth::None).unwrap();
    let (native, foreign) = arches();
    let (n, n_size) = push_scratch_image(&env, &format!("{}/plat/app:n", reg.addr), native);
    let (f, f_size) = push_scratch_image(&env, &format!("{}/plat/app:f", reg.addr), foreign);
    let entry = |d: &str, size: u64, arch: &str| {
        format!(
            r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{d}","size":{size},"platform":{{"architecture":"{arch}","os":"linux"}}}}"#
        )
    };
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{},{}]}}"#,
        entry(&n, n_size, native),
        entry(&f, f_size, foreign)
    );
    let mt = "application/vnd.oci.image.index.v1+json";
    let put = reg
        .put("/v2/plat/app/manifests/all", mt, index.as_bytes())
        .unwrap();
    assert!(put.starts_with("HTTP/1.1 201"), "{put}");
    let all = format!("{}/plat/app:all", reg.addr);
    let pull = |args: &[&str]| {
        let (_d, store) = fresh_store();
        let out = rbuild_at(&env, &store, args, &[]);
        assert!(out.status.success(), "{args:?}: {}", text(&out));
        out
    };
    // From the index: the asked platform's manifest, no warning; the default is this machine's.
    let out = pull(&["pull", "--platform", &format!("linux/{foreign}"), &all]);
    assert_eq!(common::registry::stdout(&out), f, "{}", text(&out));
    assert!(!text(&out).contains("WARNING"), "{}", text(&out));
    let out = pull(&["pull", &all]);
    assert_eq!(common::registry::stdout(&out), n, "{}", text(&out));
    // A single-platform image of another platform is pulled, with a warning naming both.
    let single = format!("{}/plat/app:n", reg.addr);
    let out = pull(&["pull", "--platform", &format!("linux/{foreign}"), &single]);
    assert_eq!(common::registry::stdout(&out), n);
    let warning =
        format!("WARNING: the image is for linux/{native}, not the requested linux/{foreign}");
    assert!(text(&out).contains(&warning), "{}", text(&out));
    let out = pull(&["pull", "--platform", &format!("linux/{native}"), &single]);
    assert!(!text(&out).contains("WARNING"), "{}", text(&out));
}
