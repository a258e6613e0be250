//! Credentials and authentication: config.json, login/logout, basic auth (htpasswd registry),
//! the bearer-token flow (token proxy), and clear errors that never show a secret.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::sync::Mutex;

use base64::Engine as _;
use common::image::make_image;
use common::proxy::{Proxy, ProxyOptions, TokenAuth};
use common::registry::Registry;
use rbuild_oci::{Platform, Reference};
use rbuild_registry::{login, logout, PushEvent, RegistryError};

const USER: &str = "alice";
const PASSWORD: &str = "correct-horse-battery";
const WRONG: &str = "wrong-password-42";

fn amd64() -> Platform {
    Platform {
        architecture: "amd64".into(),
        os: "linux".into(),
        variant: None,
    }
}

fn auths_json(host: &str, user: &str, pass: &str) -> String {
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pass}"));
    format!(r#"{{"auths":{{"{host}":{{"auth":"{auth}"}}}}}}"#)
}

fn assert_no_secret(err: &RegistryError) {
    let text = format!("{err} {err:?}");
    assert!(
        !text.contains(PASSWORD) && !text.contains(WRONG),
        "secret in error: {text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn basic_auth_with_config_auths_and_wrong_password() {
    let reg = Registry::start_with(Some((USER, PASSWORD)));
    let (_d, src) = common::store();
    let m = make_image(&src, 11, &[20_000], "amd64");
    let target = Reference::parse(&format!("{}/priv/app:1", reg.addr)).unwrap();

    let anon = tempfile::tempdir().unwrap();
    let err = common::client(anon.path())
        .push(&src, &m, &target, &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err}");
    assert!(err.to_string().contains("rbuild login"), "{err}");

    let bad = tempfile::tempdir().unwrap();
    common::write_docker_config(bad.path(), &auths_json(&reg.addr, USER, WRONG));
    let err = common::client(bad.path())
        .push(&src, &m, &target, &|_| {})
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("incorrect username or password"),
        "{err}"
    );
    assert!(err.to_string().contains(USER), "{err}");
    assert_no_secret(&err);

    let good = tempfile::tempdir().unwrap();
    common::write_docker_config(
        good.path(),
        &auths_json(&format!("http://{}/v2/", reg.addr), USER, PASSWORD),
    );
    let client = common::client(good.path());
    assert_eq!(
        client.push(&src, &m, &target, &|_| {}).await.unwrap(),
        m.digest
    );
    let (_d2, dst) = common::store();
    assert_eq!(
        client
            .pull(&dst, &target, &amd64())
            .await
            .unwrap()
            .manifest
            .digest,
        m.digest
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_verifies_writes_0600_and_logout_removes() {
    let reg = Registry::start_with(Some((USER, PASSWORD)));
    let cfg = tempfile::tempdir().unwrap();
    let err = login(Some(cfg.path()), &reg.addr, USER, WRONG).unwrap_err();
    assert!(
        err.to_string().contains("incorrect username or password"),
        "{err}"
    );
    assert_no_secret(&err);
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
    let target = Reference::parse(&format!("{}/priv/login:1", reg.addr)).unwrap();
    common::client(cfg.path())
        .push(&src, &m, &target, &|_| {})
        .await
        .unwrap();

    assert!(logout(Some(cfg.path()), &reg.addr).unwrap());
    assert!(!logout(Some(cfg.path()), &reg.addr).unwrap());
    let err = common::client(cfg.path())
        .push(&src, &m, &target, &|_| {})
        .await
        .unwrap_err();
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
    let proxy = Proxy::start(
        &reg.addr,
        ProxyOptions {
            faults: None,
            token_auth: Some(token_auth()),
        },
    )
    .await;
    let (_d, src) = common::store();
    let m = make_image(&src, 13, &[30_000, 40_000], "amd64");
    let target = Reference::parse(&format!("{}/tok/one:1", proxy.addr)).unwrap();

    let anon = tempfile::tempdir().unwrap();
    let err = common::client(anon.path())
        .push(&src, &m, &target, &|_| {})
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            RegistryError::Unauthorized { .. } | RegistryError::Denied { .. }
        ),
        "{err}"
    );

    let bad = tempfile::tempdir().unwrap();
    common::write_docker_config(bad.path(), &auths_json(&proxy.addr, USER, WRONG));
    let err = common::client(bad.path())
        .push(&src, &m, &target, &|_| {})
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains("incorrect username or password"),
        "{err}"
    );
    assert_no_secret(&err);

    let good = tempfile::tempdir().unwrap();
    common::write_docker_config(good.path(), &auths_json(&proxy.addr, USER, PASSWORD));
    let client = common::client(good.path());
    let before = proxy.token_requests();
    client.push(&src, &m, &target, &|_| {}).await.unwrap();
    let used = proxy.token_requests() - before;
    assert!(
        used <= 2,
        "{used} token requests for one push: tokens not cached per scope"
    );
    // Same scope again: the cached token serves it.
    let before = proxy.token_requests();
    client.push(&src, &m, &target, &|_| {}).await.unwrap();
    assert_eq!(proxy.token_requests(), before);

    // Mounting needs pull on the source repository too: the client asks for it.
    let events = Mutex::new(Vec::new());
    let second = Reference::parse(&format!("{}/tok/two:1", proxy.addr)).unwrap();
    client
        .push(&src, &m, &second, &|e| events.lock().unwrap().push(e))
        .await
        .unwrap();
    assert!(
        !proxy.log().iter().any(|l| l == "mount-denied"),
        "{:?}",
        proxy.log()
    );
    let mounted = events
        .lock()
        .unwrap()
        .iter()
        .filter(|e| matches!(e, PushEvent::Mounted { .. }))
        .count();
    assert_eq!(mounted, 3);

    // Anonymous pull gets a pull-only token.
    let (_d2, dst) = common::store();
    let img = common::client(anon.path())
        .pull(&dst, &target, &amd64())
        .await
        .unwrap();
    assert_eq!(img.manifest.digest, m.digest);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn identity_token_and_login_against_token_server() {
    let reg = Registry::start();
    let proxy = Proxy::start(
        &reg.addr,
        ProxyOptions {
            faults: None,
            token_auth: Some(token_auth()),
        },
    )
    .await;
    let (_d, src) = common::store();
    let m = make_image(&src, 14, &[5_000], "amd64");
    let target = Reference::parse(&format!("{}/tok/idt:1", proxy.addr)).unwrap();

    let cfg = tempfile::tempdir().unwrap();
    common::write_docker_config(
        cfg.path(),
        &format!(
            r#"{{"auths":{{"{}":{{"identitytoken":"refresh-0123"}}}}}}"#,
            proxy.addr
        ),
    );
    common::client(cfg.path())
        .push(&src, &m, &target, &|_| {})
        .await
        .unwrap();
    assert!(
        proxy.log().iter().any(|l| l.starts_with("POST /token")),
        "{:?}",
        proxy.log()
    );

    let bad = tempfile::tempdir().unwrap();
    common::write_docker_config(
        bad.path(),
        &format!(
            r#"{{"auths":{{"{}":{{"identitytoken":"stale"}}}}}}"#,
            proxy.addr
        ),
    );
    let err = common::client(bad.path())
        .push(&src, &m, &target, &|_| {})
        .await
        .unwrap_err();
    assert!(matches!(err, RegistryError::Unauthorized { .. }), "{err}");
    assert!(!err.to_string().contains("stale"), "{err}");

    let login_dir = tempfile::tempdir().unwrap();
    let err = login(Some(login_dir.path()), &proxy.addr, USER, WRONG).unwrap_err();
    assert!(
        err.to_string().contains("incorrect username or password"),
        "{err}"
    );
    login(Some(login_dir.path()), &proxy.addr, USER, PASSWORD).unwrap();
    let second = Reference::parse(&format!("{}/tok/login:1", proxy.addr)).unwrap();
    common::client(login_dir.path())
        .push(&src, &m, &second, &|_| {})
        .await
        .unwrap();
}
