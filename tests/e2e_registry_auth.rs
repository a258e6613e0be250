//! Registry credentials end to end against a docker-registry with basic auth: config.json
//! `auths`, a credential helper, `rbuild login`/`logout`; refusals never show a secret.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Output;

use common::registry::{
    base64, build, context, fresh_store, inspect, ok, run, run_with, stdout, write_config,
};
use common::{text, Env};
use rbuild_testkit::{Registry, RegistryAuth};

const USER: &str = "rbuser";
const PASSWORD: &str = "Sup3r-s3cret-pw";
const WRONG: &str = "Wr0ng-guess-pw";

fn assert_no_secret(output: &str) {
    for secret in [PASSWORD, WRONG] {
        assert!(
            !output.contains(secret),
            "a password leaked into the output:\n{output}"
        );
        let encoded = base64(format!("{USER}:{secret}").as_bytes());
        assert!(
            !output.contains(&encoded),
            "an auth value leaked into the output:\n{output}"
        );
    }
}

/// `docker-credential-test`: knows `host` only.
fn write_helper(dir: &Path, host: &str) {
    let script = format!(
        "#!/bin/sh\ncase \"$1\" in\nget)\n  read -r server\n  if [ \"$server\" = '{host}' ]; then\n    \
         printf '{{\"ServerURL\":\"%s\",\"Username\":\"{USER}\",\"Secret\":\"{PASSWORD}\"}}' \"$server\"\n  \
         else echo 'credentials not found in native keychain'; exit 1; fi ;;\n*) exit 1 ;;\nesac\n"
    );
    let path = dir.join("docker-credential-test");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A config.json in `dir` whose `auths` give USER with `password` for `host`.
fn write_auths(dir: &Path, host: &str, password: &str) {
    let auth = base64(format!("{USER}:{password}").as_bytes());
    write_config(
        dir,
        &format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#),
    );
}

/// `rbuild login` as USER to `host`, storing into `cfg`, with `password` on stdin.
fn login(env: &Env, cfg: &Path, host: &str, password: &str) -> Output {
    let args = ["login", "-u", USER, "--password-stdin", host];
    run_with(
        &env.store(),
        cfg,
        &args,
        Some(&format!("{password}\n")),
        &[],
    )
}

/// A refusal that says the password is wrong and shows no secret.
fn assert_wrong_password_refused(out: &Output) {
    assert!(!out.status.success());
    assert!(
        text(out).contains("incorrect username or password"),
        "{}",
        text(out)
    );
    assert_no_secret(&text(out));
}

#[test]
fn credentials_from_config_helper_and_login() {
    let env = Env::new();
    let reg = Registry::start(RegistryAuth::Basic {
        user: USER.into(),
        password: PASSWORD.into(),
    })
    .unwrap();
    let host = reg.addr.clone();
    let tag = |repo: &str| format!("{host}/{repo}:1");
    let ctx = context("FROM busybox:latest\nRUN echo secret-app > /s\n");
    let none = tempfile::tempdir().unwrap();
    build(
        &env.store(),
        none.path(),
        ctx.path(),
        &[&tag("auths"), &tag("helper"), &tag("login")],
        &[],
    );
    let (digest, _) = inspect(&env.store(), &tag("auths"));

    // No credentials: refused, with the way out named.
    let out = run(&env.store(), none.path(), &["push", &tag("auths")]);
    assert_unauthorized(&out, &host, "push without credentials");

    // A wrong password in config.json, and through `rbuild login`: a clear refusal, no secret shown.
    let bad = tempfile::tempdir().unwrap();
    write_auths(bad.path(), &host, WRONG);
    assert_wrong_password_refused(&run(&env.store(), bad.path(), &["push", &tag("auths")]));
    let login_cfg = tempfile::tempdir().unwrap();
    assert_wrong_password_refused(&login(&env, login_cfg.path(), &host, WRONG));
    assert!(
        !login_cfg.path().join("config.json").exists(),
        "a failed login stored credentials"
    );

    // config.json `auths`.
    let good = tempfile::tempdir().unwrap();
    write_auths(good.path(), &host, PASSWORD);
    push_and_pull(&env, good.path(), &tag("auths"), &digest, &[]);

    // A credential helper found on PATH through `credHelpers`.
    let bin = tempfile::tempdir().unwrap();
    write_helper(bin.path(), &host);
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let helper = tempfile::tempdir().unwrap();
    write_config(
        helper.path(),
        &format!(r#"{{"credHelpers":{{"{host}":"test"}}}}"#),
    );
    let vars = [("PATH", path)];
    push_and_pull(&env, helper.path(), &tag("helper"), &digest, &vars);

    login_push_logout(&env, login_cfg.path(), &host, &tag("login"), &digest);
}

/// `rbuild login` into `cfg`, a push and pull of `image` with it, then `rbuild logout`, after
/// which a pull is refused.
fn login_push_logout(env: &Env, cfg: &Path, host: &str, image: &str, digest: &str) {
    let said = ok(login(env, cfg, host, PASSWORD), "login");
    assert!(said.contains("Login Succeeded"), "{said}");
    assert_no_secret(&said);
    let stored = cfg.join("config.json");
    assert_eq!(
        std::fs::metadata(&stored).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(std::fs::read_to_string(&stored).unwrap().contains(host));
    push_and_pull(env, cfg, image, digest, &[]);
    let said = ok(run(&env.store(), cfg, &["logout", host]), "logout");
    assert!(said.contains("Removing login credentials"), "{said}");
    let (_d, store) = fresh_store();
    let out = run(&store, cfg, &["pull", image]);
    assert_unauthorized(&out, host, "pull after logout");
}

/// A refusal for want of credentials (not any failure: the registry answered 401), naming
/// the registry and the way out, showing no secret.
fn assert_unauthorized(out: &Output, host: &str, what: &str) {
    let said = text(out);
    assert!(!out.status.success(), "{what} succeeded:\n{said}");
    assert!(
        said.contains("rbuild login") && said.contains(host),
        "{what} did not fail for want of credentials:\n{said}"
    );
    assert_no_secret(&said);
}

/// Pushes `image` with the credentials in `cfg`, then pulls it into an empty store.
fn push_and_pull(env: &Env, cfg: &Path, image: &str, digest: &str, vars: &[(&str, String)]) {
    let out = run_with(&env.store(), cfg, &["push", image], None, vars);
    assert!(out.status.success(), "push {image}: {}", text(&out));
    assert_eq!(stdout(&out), digest);
    assert_no_secret(&text(&out));
    let (_d, store) = fresh_store();
    let out = run_with(&store, cfg, &["pull", image], None, vars);
    assert!(out.status.success(), "pull {image}: {}", text(&out));
    assert_eq!(stdout(&out), digest);
}
