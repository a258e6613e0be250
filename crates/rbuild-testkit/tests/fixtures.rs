//! The fixtures themselves work: the registry answers, the busybox tarball has what tests need.

use rbuild_testkit::{busybox_tarball, Registry, RegistryAuth};

#[test]
fn registry_starts_answers_and_stops() {
    let reg = Registry::start(RegistryAuth::None).expect("start docker-registry");
    let resp = reg.get("/v2/").unwrap();
    assert!(resp.starts_with("HTTP/1.1 200"), "{resp}");
    let addr = reg.addr.clone();
    drop(reg);
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "registry still listening after drop"
    );
}

#[test]
fn basic_auth_registry_challenges() {
    let auth = RegistryAuth::Basic {
        user: "u".into(),
        password: "p".into(),
    };
    let reg = Registry::start(auth).expect("start docker-registry with htpasswd");
    let resp = reg.get("/v2/").unwrap();
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");
    assert!(
        resp.to_lowercase().contains("www-authenticate: basic"),
        "{resp}"
    );
}

#[test]
fn busybox_tarball_has_shell_users_and_sticky_tmp() {
    let dir = tempfile::tempdir().unwrap();
    let tar = dir.path().join("bb.tar");
    busybox_tarball(&tar).unwrap();
    let out = std::process::Command::new("tar")
        .args(["-tvf"])
        .arg(&tar)
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    for needle in ["./bin/sh -> busybox", "./etc/passwd", "./bin/busybox"] {
        assert!(listing.contains(needle), "missing {needle} in\n{listing}");
    }
    assert!(
        listing
            .lines()
            .any(|l| l.starts_with("drwxrwxrwt") && l.ends_with("./tmp/")),
        "{listing}"
    );
}
