//! rbuild.toml end to end: a configured mirror for a registry other than Docker Hub (asked
//! first, registry as fallback), `http` and `insecure`/`ca` for registries off loopback, the
//! `[gc]` policy after a build, `prune --filter`, and errors naming file, line and key.

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::registry::{
    context, fresh_store, log_len, log_since, ok, reach, run_with, stdout, tls_registry,
};
use common::{text, Env};
use rbuild_testkit::{host_address, Registry, RegistryAuth};

/// Writes `toml` as a configuration file in `dir`; returns its path.
fn config(dir: &Path, toml: &str) -> PathBuf {
    let path = dir.join("rbuild.toml");
    std::fs::write(&path, toml).unwrap();
    path
}

/// rbuild on `store` with `env`'s empty Docker config, `--config file` and `vars`.
fn rbuild_cfg(
    env: &Env,
    store: &Path,
    file: &Path,
    args: &[&str],
    vars: &[(&str, String)],
) -> Output {
    let mut all = vec!["--config", file.to_str().unwrap()];
    all.extend_from_slice(args);
    run_with(store, &env.docker_config(), &all, None, vars)
}

/// Builds busybox plus one RUN as `tag` in `env`'s store; returns its manifest digest.
fn local_image(env: &Env, tag: &str) -> String {
    let ctx = context("FROM busybox:latest\nRUN echo config > /config\n");
    env.build_ok(ctx.path(), tag, &[]);
    env.manifest_digest(tag)
}

fn manifest_gets<'a>(log: &'a str, repository: &str) -> Vec<&'a str> {
    let wanted = format!("GET /v2/{repository}/manifests/");
    log.lines().filter(|l| l.contains(&wanted)).collect()
}

/// Pushes `image` from the test's store with its docker config.
fn push(env: &Env, image: &str) {
    let out = run_with(
        &env.store(),
        &env.docker_config(),
        &["push", image],
        None,
        &[],
    );
    ok(out, "push");
}

#[test]
fn configured_mirror_is_asked_first_and_the_registry_is_the_fallback() {
    let env = Env::new();
    let origin = Registry::start(RegistryAuth::None).unwrap();
    let mirror = Registry::start(RegistryAuth::None).unwrap();
    let image = format!("{}/team/app:1", origin.addr);
    let digest = local_image(&env, &image);
    push(&env, &image);
    let dir = tempfile::tempdir().unwrap();
    let toml = format!(
        "[registry.\"{}\"]\nmirrors = [\"{}/proxy\"]\n",
        origin.addr, mirror.addr
    );
    let file = config(dir.path(), &toml);

    // The mirror lacks the image: it is asked (under its path), then the registry serves it.
    let (at_m, at_o) = (log_len(&mirror), log_len(&origin));
    let (_d, store) = fresh_store();
    let out = rbuild_cfg(&env, &store, &file, &["pull", &image], &[]);
    assert_eq!(stdout(&out), digest, "{}", text(&out));
    assert!(!manifest_gets(&log_since(&mirror, at_m), "proxy/team/app").is_empty());
    assert!(!manifest_gets(&log_since(&origin, at_o), "team/app").is_empty());

    // Once the mirror holds it, a FROM of the registry's name never reaches the registry.
    let on_mirror = format!("{}/proxy/team/app:1", mirror.addr);
    env.rbuild_ok(&["tag", &image, &on_mirror]);
    push(&env, &on_mirror);
    let at_o = log_len(&origin);
    let (_d2, store2) = fresh_store();
    let child = context(&format!("FROM {image}\nRUN cat /config\n"));
    let args = [
        "build",
        "--progress",
        "plain",
        child.path().to_str().unwrap(),
    ];
    ok(
        rbuild_cfg(&env, &store2, &file, &args, &[]),
        "build FROM through the mirror",
    );
    assert_eq!(
        log_since(&origin, at_o)
            .lines()
            .filter(|l| l.contains("/v2/team"))
            .count(),
        0
    );
}

#[test]
fn http_reaches_a_plain_registry_off_loopback() {
    let env = Env::new();
    let host = host_address();
    let reg = Registry::start_at(&host, RegistryAuth::None).unwrap();
    let image = format!("{}/plain/app:1", reg.addr);
    let digest = local_image(&env, &image);
    let vars = reach(&host);
    let dir = tempfile::tempdir().unwrap();
    let https = config(dir.path(), "");
    let at = log_len(&reg);
    let out = rbuild_cfg(&env, &env.store(), &https, &["push", &image], &vars);
    assert!(!out.status.success(), "pushed over plain HTTP unasked");
    assert!(
        !log_since(&reg, at).contains("/v2/plain/"),
        "a request went over plain HTTP"
    );
    let file = config(
        dir.path(),
        &format!("[registry.\"{}\"]\nhttp = true\n", reg.addr),
    );
    let out = rbuild_cfg(&env, &env.store(), &file, &["push", &image], &vars);
    assert_eq!(stdout(&out), digest, "{}", text(&out));
    let (_d, store) = fresh_store();
    let out = rbuild_cfg(&env, &store, &file, &["pull", &image], &vars);
    assert_eq!(stdout(&out), digest, "{}", text(&out));
}

#[test]
fn insecure_skips_verification_and_ca_trusts_a_private_ca() {
    let env = Env::new();
    let host = host_address();
    let tls = tls_registry(&host, "rbuild-config-ca");
    let (reg, certs) = (&tls.reg, &tls);
    let image = format!("{}/tls/app:1", reg.addr);
    let digest = local_image(&env, &image);
    let vars = reach(&host);
    let dir = tempfile::tempdir().unwrap();
    let plain = config(dir.path(), "");
    let out = rbuild_cfg(&env, &env.store(), &plain, &["push", &image], &vars);
    assert!(text(&out).contains("certificate"), "{}", text(&out));
    let skip = config(
        dir.path(),
        &format!("[registry.\"{}\"]\ninsecure = true\n", reg.addr),
    );
    let out = rbuild_cfg(&env, &env.store(), &skip, &["push", &image], &vars);
    assert_eq!(stdout(&out), digest, "{}", text(&out));
    // A relative `ca` is read from the file's directory.
    std::fs::copy(&certs.ca, dir.path().join("ca.pem")).unwrap();
    let trust = config(
        dir.path(),
        &format!("[registry.\"{}\"]\nca = [\"ca.pem\"]\n", reg.addr),
    );
    let (_d, store) = fresh_store();
    let out = rbuild_cfg(&env, &store, &trust, &["pull", &image], &vars);
    assert_eq!(stdout(&out), digest, "{}", text(&out));
}

/// Whether the store holds the blob `digest`.
fn has_blob(env: &Env, digest: &str) -> bool {
    env.store()
        .join("blobs/sha256")
        .join(&digest["sha256:".len()..])
        .exists()
}

#[test]
fn gc_policy_runs_after_each_successful_build() {
    let env = Env::new();
    let old = local_image(&env, "old:1");
    env.rbuild_ok(&["rm", "old:1"]);
    let dir = tempfile::tempdir().unwrap();
    let ctx = context("FROM busybox:latest\nRUN echo new > /new\n");
    let c = ctx.path().to_str().unwrap();
    // Disabled: nothing is collected, nothing said.
    let off = config(dir.path(), "gc = false\n");
    let args = ["build", "--progress", "plain", "-t", "new:1", c];
    let log = ok(rbuild_cfg(&env, &env.store(), &off, &args, &[]), "build");
    assert!(!log.contains("gc ("), "{log}");
    // An hour's keep-duration spares what was just made.
    let hour = config(dir.path(), "[gc]\nkeep-duration = \"1h\"\n");
    let log = ok(rbuild_cfg(&env, &env.store(), &hour, &args, &[]), "build");
    assert!(
        log.contains("gc (keep-duration 3600s): removed 0 blobs"),
        "{log}"
    );
    assert!(has_blob(&env, &old));
    // keep-storage 0 removes everything no tag reaches, and says what it freed.
    let zero = config(dir.path(), "[gc]\nkeep-storage = 0\n");
    let log = ok(rbuild_cfg(&env, &env.store(), &zero, &args, &[]), "build");
    let line = log
        .lines()
        .find(|l| l.contains("gc (keep-storage"))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        !line.contains("removed 0 blobs") && line.contains("freed"),
        "{line}"
    );
    assert!(!has_blob(&env, &old), "the untagged image survived");
    assert!(has_blob(&env, &env.manifest_digest("new:1")));
    env.check_ok();
    // A failed build collects nothing.
    let bad = context("FROM busybox:latest\nRUN false\n");
    let args = ["build", "--progress", "plain", bad.path().to_str().unwrap()];
    let out = rbuild_cfg(&env, &env.store(), &zero, &args, &[]);
    assert!(
        !out.status.success() && !text(&out).contains("gc ("),
        "{}",
        text(&out)
    );
}

#[test]
fn prune_filters_select_by_type_and_age() {
    let env = Env::new();
    let ctx =
        context("FROM busybox:latest\nRUN --mount=type=cache,id=tools,target=/c echo x > /c/f\n");
    env.build_ok(ctx.path(), "cached:1", &[]);
    let untagged = local_image(&env, "gone:1");
    env.rbuild_ok(&["rm", "gone:1"]);
    let mounts = |env: &Env| env.rbuild_ok(&["cache", "ls"]).lines().skip(1).count();
    assert_eq!(mounts(&env), 1);
    // Everything is younger than a day: nothing goes.
    let out = env.rbuild_ok(&["prune", "--filter", "until=24h"]);
    assert!(
        out.contains("Deleted 0 blobs") && out.contains("Deleted 0 cache mounts"),
        "{out}"
    );
    // type=cache (exec.cachemount) takes the cache mounts only.
    let out = env.rbuild_ok(&["prune", "--filter", "type=cache"]);
    assert!(
        out.contains("Deleted 1 cache mounts") && !out.contains("blobs"),
        "{out}"
    );
    assert_eq!(mounts(&env), 0);
    assert!(has_blob(&env, &untagged));
    env.build_ok(ctx.path(), "cached:2", &["--no-cache"]);
    // type!=exec.cachemount, as buildx writes it, takes the rest and leaves the mounts.
    let out = env.rbuild_ok(&["prune", "--filter", "type!=exec.cachemount"]);
    assert!(
        !out.contains("cache mounts") && !out.contains("Deleted 0 blobs"),
        "{out}"
    );
    assert!(!has_blob(&env, &untagged));
    assert_eq!(mounts(&env), 1);
    // Combined in one flag, all must hold; unknown filters are refused.
    let out = env.rbuild_ok(&["prune", "--filter", "until=1s,type=cache"]);
    assert!(out.contains("cache mounts"), "{out}");
    let out = env.rbuild(&["prune", "--filter", "dangling=true"]);
    assert!(
        !out.status.success() && text(&out).contains("unknown filter"),
        "{}",
        text(&out)
    );
}

#[test]
fn files_are_found_and_errors_name_file_line_and_key() {
    let env = Env::new();
    let xdg = tempfile::tempdir().unwrap();
    std::fs::create_dir(xdg.path().join("rbuild")).unwrap();
    let user = xdg.path().join("rbuild/rbuild.toml");
    std::fs::write(&user, "[registry.\"r.lan\"]\nhttp = true\nmirror = []\n").unwrap();
    let mut cmd = env.command();
    cmd.env_remove("RBUILD_CONFIG")
        .env("XDG_CONFIG_HOME", xdg.path());
    let out = cmd.arg("images").output().unwrap();
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    let at = format!("{}:3:1", user.display());
    assert!(
        said.contains(&at) && said.contains("unknown field `mirror`"),
        "{said}"
    );
    // --config names the one file read instead.
    let dir = tempfile::tempdir().unwrap();
    let good = config(dir.path(), "[gc]\nkeep-duration = \"48h\"\n");
    let mut cmd = env.command();
    cmd.env_remove("RBUILD_CONFIG")
        .env("XDG_CONFIG_HOME", xdg.path());
    let out = cmd
        .args(["--config", good.to_str().unwrap(), "images"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out));
}

#[test]
fn build_cache_defaults_apply_when_no_flag_names_a_cache() {
    let ctx = context("FROM busybox:latest\nRUN echo $((6*7))-ran > /answer && cat /answer\n");
    let c = ctx.path().to_str().unwrap();
    let args = ["build", "--progress", "plain", "-t", "app:1", c];
    let first = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let cache = dir.path().join("cache");
    let to = format!(
        "[build]\ncache-to = [\"type=local,dest={},mode=max\"]\n",
        cache.display()
    );
    let file = config(dir.path(), &to);
    let log = ok(
        rbuild_cfg(&first, &first.store(), &file, &args, &[]),
        "build",
    );
    assert!(
        log.contains("42-ran") && cache.join("index.json").exists(),
        "{log}"
    );
    // With its own cache pruned (busybox, tagged, stays), the store reads the configured one
    // and runs nothing.
    first.rbuild_ok(&["rm", "app:1"]);
    first.rbuild_ok(&["prune", "--all"]);
    let from = format!(
        "[build]\ncache-from = [\"type=local,src={}\"]\n",
        cache.display()
    );
    let file = config(dir.path(), &from);
    let log = ok(
        rbuild_cfg(&first, &first.store(), &file, &args, &[]),
        "build",
    );
    assert!(
        !log.contains("42-ran"),
        "the step ran despite the configured cache:\n{log}"
    );
    // A flag replaces the defaults.
    let other = Env::new();
    let missing = format!("type=local,src={}", dir.path().join("none").display());
    let flagged = [&args[..5], &["--cache-from", &missing, c]].concat();
    let log = ok(
        rbuild_cfg(&other, &other.store(), &file, &flagged, &[]),
        "build",
    );
    assert!(
        log.contains("no cache at") && log.contains("42-ran"),
        "{log}"
    );
    // A default that is not a valid --cache-to is an error naming file and key.
    let bad = config(dir.path(), "[build]\ncache-to = [\"type=gha\"]\n");
    let out = rbuild_cfg(&other, &other.store(), &bad, &args, &[]);
    let said = text(&out);
    assert!(!out.status.success(), "{said}");
    let at = format!("{}: build.cache-to: \"type=gha\"", bad.display());
    assert!(
        said.contains(&at) && said.contains("unsupported cache type"),
        "{said}"
    );
}
