//! Credentials and authentication: config.json, login/logout, basic auth (htpasswd registry),
//! the bearer-token flow (token proxy), and clear errors that never show a secret.

mod common;

use std::os::unix::fs::PermissionsExt;

use base64::Engine as _;
use common::image::make_image;
use common::proxy::{Fault, Faults, Proxy, ProxyOptions, TokenAuth};
use common::registry::Registry;
use common::{amd64, reference};
use rbuild_registry::{login, logout, PushEvent, RegistryError};

const USER: &str = "alice";
const PASSWORD: &str = "correct-horse-battery";
const WRONG: &str = "wrong-password-42";

fn auths_json(host: &str, user: &str, pass: &str) -> String {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#)
}

fn identity_token_json(host: &str, token: &str) -> String {
    format!(r#"{{"auths":{{"{host}":{{"identitytoken":"{token}"}}}}}}"#)
}

fn assert_no_secret(err: &RegistryError) {
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains(PASSWORD) && !text.contains(WRONG),
        "secret in error: {text}"
    );
}

/// A wrong password is refused as such, without showing it.
fn assert_wrong_password(err: &RegistryError) {
    assert!(
        err.to_string().contains("incorrect username or password"),
        "{err}"
    );
    assert_no_secret(err);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_with_config_auths_and_wrong_password() {
    let reg = Registry::start_with(Some((USER, PASSWORD)));
    let (_d, src) = common::store();
    let m = make_image(&src, 11, &[20_000], "amd64");
    let target = reference(format!("{}/priv/app:1", reg.addr));

    let (_anon, anon) = common::anonymous_client();
    let err = common::push(&anon, &src, &m, &target).await.unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains("rbuild login"), "{err}");

    let (_bad, bad) = common::client_with_config(&auths_json(&reg.addr, USER, WRONG));
    let err = common::push(&bad, &src, &m, &target).await.unwrap_err();
    assert_wrong_password(&err);
    assert!(err.to_string().contains(USER), "{err}");

    let url = format!("http://{}/v2/", reg.addr);
    let (_good, client) = common::client_with_config(&auths_json(&url, USER, PASSWORD));
    common::round_trip(&client, &src, &m, &target).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_verifies_writes_0600_and_logout_removes() {
    let reg = Registry::start_with(Some((USER, PASSWORD)));
    let cfg = tempfile::tempdir().unwrap();
    let err = login(Some(cfg.path()), &reg.addr, USER, WRONG).unwrap_err();
    assert_wrong_password(&err);
    assert!(
        !cfg.path().join("config.json").exists(),
        "failed login wrote credentials"
    );

    login(Some(cfg.path()), &reg.addr, USER, PASSWORD).unwrap();
    let file = cfg.path().join("config.json");
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
    assert!(doc["auths"][&reg.addr]["auth"].is_string(), "{doc}");

    let (_d, src) = common::store();
    let m = make_image(&src, 12, &[10_000], "amd64");
    let target = reference(format!("{}/priv/login:1", reg.addr));
    let client = common::client(cfg.path());
    common::push(&client, &src, &m, &target).await.unwrap();

    assert!(logout(Some(cfg.path()), &reg.addr).unwrap());
    assert!(!logout(Some(cfg.path()), &reg.addr).unwrap());
    // A new client, as the next rbuild invocation after the logout would be.
    let client = common::client(cfg.path());
    let err = common::push(&client, &src, &m, &target).await.unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err}");
}

fn token_auth() -> TokenAuth {
    TokenAuth {
        user: USER.into(),
        password: PASSWORD.into(),
        refresh_token: Some("refresh-0123".into()),
        anonymous_pull: true,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bearer_token_flow_with_scopes_cache_and_mount() {
    let reg = Registry::start();
    let proxy = common::token_proxy(&reg.addr, token_auth()).await;
    let (_d, src) = common::store();
    let m = make_image(&src, 13, &[30_000, 40_000], "amd64");
    let target = reference(format!("{}/tok/one:1", proxy.addr));

    let (anon_cfg, anon) = common::anonymous_client();
    let err = common::push(&anon, &src, &m, &target).await.unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::Unauthorized { .. } | RegistryError::Denied { .. }
        ),
        "{err}"
    );

    let (_bad, bad) = common::client_with_config(&auths_json(&proxy.addr, USER, WRONG));
    let err = common::push(&bad, &src, &m, &target).await.unwrap_err();
    assert_wrong_password(&err);

    let (_good, client) = common::client_with_config(&auths_json(&proxy.addr, USER, PASSWORD));
    let before = proxy.token_requests();
    common::push(&client, &src, &m, &target).await.unwrap();
    let used = proxy.token_requests() - before;
    assert!(
        used <= 2,
        "{used} token requests for one push: tokens not cached per scope"
    );
    // Same scope again: the cached token serves it.
    let before = proxy.token_requests();
    common::push(&client, &src, &m, &target).await.unwrap();
    assert_eq!(proxy.token_requests(), before);

    // Mounting needs pull on the source repository too: the client asks for it.
    let second = reference(format!("{}/tok/two:1", proxy.addr));
    let (_, events) = common::push_events(&client, &src, &m, &second).await;
    assert!(
        !proxy.log().iter().any(|l| l == "mount-denied"),
        "{:?}",
        proxy.log()
    );
    let mounted = common::count(&events, |e| matches!(e, PushEvent::Mounted { .. }));
    assert_eq!(mounted, 3);

    // Anonymous pull gets a pull-only token.
    let (_d2, dst) = common::store();
    let anon = common::client(anon_cfg.path());
    let img = anon.pull(&dst, &target, &amd64()).await.unwrap();
    assert_eq!(img.manifest.digest, m.digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_token_and_login_against_token_server() {
    let reg = Registry::start();
    let proxy = common::token_proxy(&reg.addr, token_auth()).await;
    let (_d, src) = common::store();
    let m = make_image(&src, 14, &[5_000], "amd64");
    let target = reference(format!("{}/tok/idt:1", proxy.addr));

    let config = identity_token_json(&proxy.addr, "refresh-0123");
    let (_cfg, client) = common::client_with_config(&config);
    common::push(&client, &src, &m, &target).await.unwrap();
    assert!(
        proxy.log().iter().any(|l| l.starts_with("POST /token")),
        "{:?}",
        proxy.log()
    );

    let (_bad, bad) = common::client_with_config(&identity_token_json(&proxy.addr, "stale"));
    let err = common::push(&bad, &src, &m, &target).await.unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err}");
    assert!(!err.to_string().contains("stale"), "{err}");

    let login_dir = tempfile::tempdir().unwrap();
    let err = login(Some(login_dir.path()), &proxy.addr, USER, WRONG).unwrap_err();
    assert!(
        err.to_string().contains("incorrect username or password"),
        "{err}"
    );
    login(Some(login_dir.path()), &proxy.addr, USER, PASSWORD).unwrap();
    let second = reference(format!("{}/tok/login:1", proxy.addr));
    let client = common::client(login_dir.path());
    common::push(&client, &src, &m, &second).await.unwrap();
}

/// Formats `err` every way a caller might, and asserts none of `secrets` shows.
fn assert_hidden(err: &RegistryError, secrets: &[&str]) {
    let text = format!("{err} | {err:?} | {err:#?}");
    for s in secrets {
        assert!(!text.contains(s), "{s:?} shown: {text}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_auth_failures_never_show_tokens_or_passwords() {
    let reg = Registry::start();
    let proxy = common::token_proxy(&reg.addr, token_auth()).await;
    let (_d, src) = common::store();
    let m = make_image(&src, 15, &[5_000], "amd64");
    let target = reference(format!("{}/tok/secret:1", proxy.addr));

    // A refresh token the token server rejects.
    const REFRESH: &str = "refresh-known-7f3a9c";
    let (cfg, client) = common::client_with_config(&identity_token_json(&proxy.addr, REFRESH));
    let err = common::push(&client, &src, &m, &target).await.unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err}");
    assert_hidden(&err, &[REFRESH]);
    let loaded = rbuild_registry::auth::config::DockerConfig::load(cfg.path()).unwrap();
    assert!(!format!("{loaded:?}").contains(REFRESH), "{loaded:?}");

    // A bearer token (the proxy's are "tok-<n>-<grants>") that lacks the push scope: it was
    // sent, and rejected, on the request the error is about.
    let (_anon_cfg, anon) = common::anonymous_client();
    let err = common::push(&anon, &src, &m, &target).await.unwrap_err();
    assert!(proxy.token_requests() > 0);
    assert_hidden(&err, &["tok-", "Bearer "]);

    // A password the token server rejects, sent as Basic credentials.
    let (_bad, bad) = common::client_with_config(&auths_json(&proxy.addr, USER, WRONG));
    let err = common::push(&bad, &src, &m, &target).await.unwrap_err();
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{WRONG}"));
    assert_hidden(&err, &[WRONG, &basic]);
}

/// Every progress event a push and a pull report (what the CLI prints), through a token server
/// whose registry fails every third request so retries are reported too: none holds a bearer
/// token, the identity (refresh) token or a password. Errors are checked in
/// `secrets_auth_failures_never_show_tokens_or_passwords`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn secrets_never_reach_progress_events() {
    let reg = Registry::start();
    let opts = ProxyOptions {
        token_auth: Some(token_auth()),
        faults: Some(Faults {
            every: 3,
            kinds: vec![Fault::Status500],
            only: None,
        }),
        ..Default::default()
    };
    let proxy = Proxy::start(&reg.addr, opts).await;
    let (_d, src) = common::store();
    let m = make_image(&src, 16, &[6_000, 7_000], "amd64");
    let target = reference(format!("{}/tok/events:1", proxy.addr));
    let (_cfg, client) =
        common::client_with_config(&identity_token_json(&proxy.addr, "refresh-0123"));
    let (_, pushed) = common::push_events(&client, &src, &m, &target).await;
    let (recording, pulled) = common::recording(&client);
    let (_d2, dst) = common::store();
    recording.pull(&dst, &target, &amd64()).await.unwrap();
    assert!(proxy.faults() > 0 && proxy.token_requests() > 0);
    let retries = pushed
        .iter()
        .filter(|e| matches!(e, PushEvent::Retrying { .. }))
        .count();
    let shown = format!("{pushed:?} {:?}", pulled.lock().unwrap());
    assert!(
        retries > 0 || shown.contains("Retry"),
        "no retry was reported: {shown}"
    );
    for secret in ["tok-", "refresh-0123", "Bearer", PASSWORD] {
        assert!(
            !shown.contains(secret),
            "{secret:?} in progress events: {shown}"
        );
    }
}
