//! Credentials from a `docker-credential-*` helper (credHelpers and credsStore), and login
//! storing through the helper. Own test binary: it puts the helper on this process's PATH.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::image::make_image;
use common::reference;
use common::registry::Registry;
use rbuild_registry::login;

const USER: &str = "helper-user";
const PASSWORD: &str = "helper-secret-9";

/// A helper that knows `host` and records `store`/`erase` calls in `dir`.
fn write_helper(dir: &std::path::Path, host: &str) {
    let script = format!(
        r#"#!/bin/sh
d='{dir}'
case "$1" in
get)
  read -r server
  if [ "$server" = '{host}' ] || [ -f "$d/stored-$server" ]; then
    printf '{{"ServerURL":"%s","Username":"{USER}","Secret":"{PASSWORD}"}}' "$server"
  else
    echo "credentials not found in native keychain"; exit 1
  fi ;;
store) cat > "$d/stored.json"; touch "$d/stored-{host}" ;;
erase) read -r server; rm -f "$d/stored-$server" "$d/stored.json" ;;
esac
"#,
        dir = dir.display()
    );
    let path = dir.join("docker-credential-rbtest");
    std::fs::write(&path, script).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn credentials_from_helpers_and_login_through_helper() {
    let reg = Registry::start_with(Some((USER, PASSWORD)));
    let bin = tempfile::tempdir().unwrap();
    write_helper(bin.path(), &reg.addr);
    let path = format!(
        "{}:{}",
        bin.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The only test in this binary: nothing else reads the environment concurrently.
    std::env::set_var("PATH", path);

    let (_d, src) = common::store();
    let m = make_image(&src, 21, &[8_000], "amd64");

    let helpers = format!(r#"{{"credHelpers":{{"{}":"rbtest"}}}}"#, reg.addr);
    let (_helpers, client) = common::client_with_config(&helpers);
    let target = reference(format!("{}/h/one:1", reg.addr));
    common::push(&client, &src, &m, &target).await.unwrap();

    let store_cfg = tempfile::tempdir().unwrap();
    common::write_docker_config(store_cfg.path(), r#"{"credsStore":"rbtest"}"#);
    let target = reference(format!("{}/h/two:1", reg.addr));
    let client = common::client(store_cfg.path());
    common::push(&client, &src, &m, &target).await.unwrap();

    // A helper that is configured but missing is reported by name.
    let (_missing, client) = common::client_with_config(r#"{"credsStore":"nonexistent"}"#);
    let err = common::push(&client, &src, &m, &target).await.unwrap_err();
    assert!(
        err.to_string().contains("docker-credential-nonexistent"),
        "{err}"
    );

    // login stores through the helper and leaves only a marker in config.json.
    std::fs::remove_file(bin.path().join(format!("stored-{}", reg.addr))).ok();
    login(Some(store_cfg.path()), &reg.addr, USER, PASSWORD).unwrap();
    let stored = std::fs::read_to_string(bin.path().join("stored.json")).unwrap();
    assert!(
        stored.contains(USER) && stored.contains(&reg.addr),
        "{stored}"
    );
    let cfg = std::fs::read_to_string(store_cfg.path().join("config.json")).unwrap();
    assert!(!cfg.contains(PASSWORD) && cfg.contains(&reg.addr), "{cfg}");
    assert!(rbuild_registry::logout(Some(store_cfg.path()), &reg.addr).unwrap());
    assert!(!bin.path().join("stored.json").exists());
}
