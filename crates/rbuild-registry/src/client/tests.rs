use super::*;

#[test]
fn loopback_and_insecure_hosts_use_http() {
    for h in [
        "127.0.0.1:5000",
        "127.1.2.3",
        "localhost",
        "localhost:80",
        "[::1]:5000",
        "::1",
    ] {
        assert!(is_loopback(h), "{h}");
    }
    assert!(!is_loopback("registry.example:5000"));
    assert!(!is_loopback("10.0.0.1"));
    let c = Client::new(RegistryOptions {
        insecure: vec!["reg.lan:5000".into(), "other.lan".into()],
        ..Default::default()
    })
    .unwrap();
    assert!(c.is_plain_http("reg.lan:5000"));
    assert!(c.is_plain_http("other.lan:443"));
    assert!(!c.is_plain_http("reg.lan:5001"));
    assert!(!c.is_plain_http("docker.io"));
}

#[test]
fn mirrors_come_first_for_docker_hub_only() {
    let c = Client::new(RegistryOptions {
        mirrors: vec!["127.0.0.1:5001".into(), "https://mirror.example/".into()],
        ..Default::default()
    })
    .unwrap();
    let hub = rbuild_oci::Reference::parse("busybox").unwrap();
    let eps = c.pull_endpoints(&hub).unwrap();
    let bases: Vec<String> = eps.iter().map(|e| e.base.to_string()).collect();
    assert_eq!(
        bases,
        [
            "http://127.0.0.1:5001/",
            "https://mirror.example/",
            "https://registry-1.docker.io/"
        ]
    );
    assert_eq!(
        eps[2].url("manifests/latest").unwrap().as_str(),
        "https://registry-1.docker.io/v2/library/busybox/manifests/latest"
    );
    let other = rbuild_oci::Reference::parse("localhost:5000/a/b:1").unwrap();
    assert_eq!(c.pull_endpoints(&other).unwrap().len(), 1);
}

#[test]
fn debug_and_errors_hide_mirror_passwords() {
    let opts = RegistryOptions {
        mirrors: vec!["https://bob:hunter2@mirror.example/".into()],
        ..Default::default()
    };
    let dbg = format!("{opts:?}");
    assert!(
        dbg.contains("mirror.example") && !dbg.contains("hunter2"),
        "{dbg}"
    );
    let bad = Client::new(RegistryOptions {
        mirrors: vec!["https://bob:hunter2@[bad".into()],
        ..Default::default()
    })
    .unwrap();
    let hub = rbuild_oci::Reference::parse("busybox").unwrap();
    let err = bad.pull_endpoints(&hub).unwrap_err();
    let text = format!("{err} {err:?}");
    assert!(!text.contains("hunter2"), "{text}");
}

/// Callers may run pulls on any runtime thread: the futures and the client must be Send.
#[test]
fn pull_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let c = Client::new(RegistryOptions::default())
        .unwrap()
        .with_progress(|_| {});
    let dir = tempfile::tempdir().unwrap();
    let store = rbuild_store::Store::open(&dir.path().join("s")).unwrap();
    let r = rbuild_oci::Reference::parse("localhost:1/x:1").unwrap();
    let p = rbuild_oci::Platform::host();
    send(&c);
    send(&c.pull(&store, &r, &p));
}

#[test]
fn push_futures_are_send() {
    fn send<T: Send>(_: &T) {}
    let c = Client::new(RegistryOptions::default()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let store = rbuild_store::Store::open(&dir.path().join("s")).unwrap();
    let r = rbuild_oci::Reference::parse("localhost:1/x:1").unwrap();
    let d = rbuild_oci::Descriptor::new(
        rbuild_oci::media_type::OCI_MANIFEST,
        rbuild_oci::Digest::of(b"m"),
        1,
    );
    send(&c.push(&store, &d, &r, &|_| {}));
}

#[test]
fn any_registry_has_mirrors_and_per_host_http() {
    let hosts = [
        (
            "reg.lan:5000".to_string(),
            HostOptions {
                mirrors: vec!["mirror.lan/proxy".into(), "127.0.0.1:5002".into()],
                ..Default::default()
            },
        ),
        (
            "mirror.lan".to_string(),
            HostOptions {
                http: Some(true),
                ..Default::default()
            },
        ),
        (
            "127.0.0.1:5002".to_string(),
            HostOptions {
                http: Some(false),
                ..Default::default()
            },
        ),
    ];
    let c = Client::new(RegistryOptions {
        mirrors: vec!["hub-mirror.lan".into()],
        hosts: hosts.into(),
        ..Default::default()
    })
    .unwrap();
    let r = rbuild_oci::Reference::parse("reg.lan:5000/team/app:1").unwrap();
    let eps = c.pull_endpoints(&r).unwrap();
    let urls: Vec<String> = eps
        .iter()
        .map(|e| e.url("manifests/1").unwrap().to_string())
        .collect();
    assert_eq!(
        urls,
        [
            "http://mirror.lan/v2/proxy/team/app/manifests/1",
            "https://127.0.0.1:5002/v2/team/app/manifests/1",
            "https://reg.lan:5000/v2/team/app/manifests/1",
        ]
    );
    // --registry-mirror stays Docker Hub's only.
    let hub = rbuild_oci::Reference::parse("busybox").unwrap();
    assert_eq!(c.pull_endpoints(&hub).unwrap().len(), 2);
}
