//! moby CVE-2024-24557: the classic builder matched cache candidates on part of the config, so
//! a change only to HEALTHCHECK or ONBUILD reused an image with the old (or an attacker's)
//! HEALTHCHECK/ONBUILD. rbuild caches only filesystem results, keyed on everything a step can
//! observe (its base's manifest digest, which covers the base's whole config, then argv, env,
//! workdir, user, network, mounts); the image config is computed afresh from the Dockerfile
//! on every build. So: a base differing only in HEALTHCHECK or ONBUILD is a cache miss for
//! every step on it, and a Dockerfile differing only there gives an image with its own
//! HEALTHCHECK/ONBUILD, never the other build's.

use crate::common::mounts::{dockerfile, step_cached};
use crate::common::Env;

/// Builds `FROM busybox` + `line` as `tag` (a base that differs only in its config).
fn base(env: &Env, tag: &str, line: &str) {
    let ctx = tempfile::tempdir().unwrap();
    dockerfile(ctx.path(), &format!("FROM busybox:latest\n{line}\n"));
    env.build_ok(ctx.path(), tag, &[]);
}

/// Builds a child of `base` whose RUN writes a random stamp; returns whether the RUN was a
/// cache hit.
fn child(env: &Env, base: &str) -> bool {
    let ctx = tempfile::tempdir().unwrap();
    dockerfile(
        ctx.path(),
        &format!("FROM {base}\nRUN cat /proc/sys/kernel/random/uuid > /stamp\n"),
    );
    let log = env.build_ok(ctx.path(), "child:1", &[]);
    step_cached(&log, "RUN cat /proc/sys/kernel/random/uuid")
}

#[test]
fn cve_2024_24557_bases_differing_only_in_healthcheck_or_onbuild_share_no_cache() {
    let env = Env::new();
    for (a, b) in [
        ("HEALTHCHECK CMD echo one", "HEALTHCHECK CMD echo two"),
        ("ONBUILD LABEL which=one", "ONBUILD LABEL which=two"),
    ] {
        base(&env, "base-a:1", a);
        base(&env, "base-b:1", b);
        assert_ne!(
            env.manifest_digest("base-a:1"),
            env.manifest_digest("base-b:1")
        );
        assert!(!child(&env, "base-a:1"), "{a}: first build");
        assert!(!child(&env, "base-b:1"), "{b}: reused the cache of {a}");
        // Control: the cache works, so the misses above are the bases' doing.
        assert!(child(&env, "base-a:1"), "{a}: rebuild missed");
    }
}

#[test]
fn cve_2024_24557_an_image_differing_only_in_healthcheck_or_onbuild_keeps_its_own() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let build = |line: &str, tag: &str| {
        dockerfile(
            ctx.path(),
            &format!(
                "FROM busybox:latest\nRUN echo same > /same\n{line}\nRUN echo after > /after\n"
            ),
        );
        env.build_ok(ctx.path(), tag, &[]);
        let config = env.skopeo_config(tag);
        let c = &config["config"];
        (c["Healthcheck"]["Test"].clone(), c["OnBuild"].clone())
    };
    let (h1, _) = build("HEALTHCHECK CMD echo one", "hc:1");
    let (h2, _) = build("HEALTHCHECK CMD echo two", "hc:2");
    assert_eq!(h1, serde_json::json!(["CMD-SHELL", "echo one"]));
    assert_eq!(h2, serde_json::json!(["CMD-SHELL", "echo two"]));
    let (_, o1) = build("ONBUILD RUN echo one", "ob:1");
    let (_, o2) = build("ONBUILD RUN echo two", "ob:2");
    assert_eq!(o1, serde_json::json!(["RUN echo one"]));
    assert_eq!(o2, serde_json::json!(["RUN echo two"]));
    let (h0, o0) = build("", "plain:1");
    assert!(h0.is_null() && o0.is_null(), "{h0} {o0}");
    let digests: std::collections::BTreeSet<String> = ["hc:1", "hc:2", "ob:1", "ob:2", "plain:1"]
        .iter()
        .map(|t| env.manifest_digest(t))
        .collect();
    assert_eq!(digests.len(), 5, "two builds gave the same image");
}
