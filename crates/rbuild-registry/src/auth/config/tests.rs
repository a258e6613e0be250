use super::*;

#[test]
fn normalizes_registry_names() {
    assert_eq!(normalize_host("https://index.docker.io/v1/"), "docker.io");
    assert_eq!(normalize_host("registry-1.docker.io"), "docker.io");
    assert_eq!(
        normalize_host("http://127.0.0.1:5000/v2/"),
        "127.0.0.1:5000"
    );
    assert_eq!(config_key("docker.io"), DOCKER_HUB_KEY);
    assert_eq!(config_key("Quay.io"), "quay.io");
}

#[test]
fn reads_auths_helpers_and_identity_tokens() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("config.json"),
        r#"{"auths":{"https://index.docker.io/v1/":{"auth":"Ym9iOnMzY3I6ZXQ="},
            "r.example":{"identitytoken":"tok"}, "empty.example":{}},
           "credsStore":"desktop","credHelpers":{"gcr.io":"gcloud"},"other":1}"#,
    )
    .unwrap();
    let c = DockerConfig::load(dir.path()).unwrap();
    assert_eq!(
        c.inline_credentials("docker.io").unwrap(),
        Some(Credentials::Basic {
            username: "bob".into(),
            password: "s3cr:et".into()
        })
    );
    assert_eq!(
        c.inline_credentials("r.example").unwrap(),
        Some(Credentials::IdentityToken {
            username: None,
            token: "tok".into()
        })
    );
    assert_eq!(c.inline_credentials("empty.example").unwrap(), None);
    assert_eq!(c.helper_for("gcr.io").as_deref(), Some("gcloud"));
    assert_eq!(c.helper_for("docker.io").as_deref(), Some("desktop"));
    let dbg = format!("{:?}", c.inline_credentials("docker.io").unwrap());
    assert!(!dbg.contains("s3cr"), "{dbg}");
    let dbg = format!("{c:?} {:?}", c.inline_credentials("r.example").unwrap());
    assert!(!dbg.contains("Ym9i") && !dbg.contains("\"tok\""), "{dbg}");
}

#[test]
fn saves_0600_and_keeps_other_fields() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("d");
    std::fs::create_dir(&sub).unwrap();
    std::fs::write(sub.join("config.json"), r#"{"psFormat":"x"}"#).unwrap();
    let mut c = DockerConfig::load(&sub).unwrap();
    c.set_inline("localhost:5000", "u", "p");
    c.save().unwrap();
    let mode = std::fs::metadata(sub.join("config.json"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    let c = DockerConfig::load(&sub).unwrap();
    assert_eq!(c.doc["psFormat"], "x");
    assert_eq!(c.doc["auths"]["localhost:5000"]["auth"], "dTpw");
    let mut c = c;
    assert!(c.remove("localhost:5000"));
    assert!(!c.remove("localhost:5000"));
}
