//! The example of docs/CONFIG.md read whole, merging, and errors with file and line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

const FULL: &str = r#"
# Registries, as in buildkitd.toml.
[registry."docker.io"]
mirrors = ["mirror.lan:5000", "harbor.lan/proxy.docker.io"]
ca = ["/etc/rbuild/certs/corp-ca.pem"]

[[registry."docker.io".keypair]]
key = "client.key"
cert = "client.pem"

[registry."mirror.lan:5000"]
http = true

[registry."harbor.lan"]
insecure = true

[build]
cache-from = ["type=registry,ref=reg.lan/app:cache"]
cache-to = ["type=registry,ref=reg.lan/app:cache,mode=max"]

[gc]
keep-storage = "10GB"
keep-duration = "48h"
"#;

fn write(dir: &Path, name: &str, text: &str) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn parse_err(text: &str) -> (String, ConfigError) {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "rbuild.toml", text);
    let err = load_files(&[path], true).unwrap_err();
    (err.to_string(), err)
}

#[test]
fn the_documented_example_reads_whole() {
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "rbuild.toml", FULL);
    let c = load(Some(&path)).unwrap();
    let hub = RegistryConfig {
        mirrors: Some(vec![
            "mirror.lan:5000".into(),
            "harbor.lan/proxy.docker.io".into(),
        ]),
        ca: Some(vec!["/etc/rbuild/certs/corp-ca.pem".into()]),
        keypair: Some(vec![KeyPair {
            key: dir.path().join("client.key"),
            cert: dir.path().join("client.pem"),
        }]),
        ..Default::default()
    };
    let mirror = RegistryConfig {
        http: Some(true),
        ..Default::default()
    };
    let harbor = RegistryConfig {
        insecure: Some(true),
        ..Default::default()
    };
    let want = Config {
        registry: [
            ("docker.io".to_string(), hub),
            ("mirror.lan:5000".to_string(), mirror),
            ("harbor.lan".to_string(), harbor),
        ]
        .into(),
        build: BuildDefaults {
            cache_from: Some(Sourced {
                values: vec!["type=registry,ref=reg.lan/app:cache".into()],
                file: path.clone(),
            }),
            cache_to: Some(Sourced {
                values: vec!["type=registry,ref=reg.lan/app:cache,mode=max".into()],
                file: path.clone(),
            }),
        },
        gc: Some(Gc::Policy(GcPolicy {
            keep_storage: Some(10 << 30),
            keep_duration: Some(Duration::from_secs(48 * 3600)),
        })),
        files: vec![path],
    };
    assert_eq!(c, want);
    assert_eq!(mirror_host("harbor.lan/proxy.docker.io"), "harbor.lan");
    assert_eq!(mirror_host("https://m.lan:5000/p"), "m.lan:5000");
}

#[test]
fn later_files_replace_earlier_keys_and_missing_defaults_are_skipped() {
    let dir = tempfile::tempdir().unwrap();
    let system = write(
        dir.path(),
        "system.toml",
        "[registry.\"r.lan\"]\nhttp = true\nmirrors = [\"m.lan\"]\n[gc]\nkeep-storage = 1024\n",
    );
    let user = write(
        dir.path(),
        "user.toml",
        "[registry.\"r.lan\"]\nmirrors = []\n[gc]\nkeep-duration = 3600\n[build]\ncache-to = []\n",
    );
    let absent = dir.path().join("absent.toml");
    let c = load_files(&[system.clone(), absent, user.clone()], false).unwrap();
    let r = &c.registry["r.lan"];
    assert_eq!((r.http, r.mirrors.as_deref()), (Some(true), Some(&[][..])));
    let policy = c.gc_policy().unwrap();
    assert_eq!(policy.keep_storage, Some(1024));
    assert_eq!(policy.keep_duration, Some(Duration::from_secs(3600)));
    assert_eq!(c.build.cache_to.as_ref().map(|s| &s.file), Some(&user));
    assert_eq!(c.files, [system.clone(), user]);
    let off = write(dir.path(), "off.toml", "gc = false\n");
    let c = load_files(&[system, off], false).unwrap();
    assert_eq!((&c.gc, c.gc_policy()), (&Some(Gc::Off), None));
}

#[test]
fn unknown_keys_name_file_line_and_key() {
    let (text, err) = parse_err("[registry.\"r.lan\"]\nhttp = true\nmirror = [\"m\"]\n");
    assert!(
        matches!(
            err,
            ConfigError::Parse {
                line: 3,
                column: 1,
                ..
            }
        ),
        "{text}"
    );
    assert!(
        text.contains("rbuild.toml:3:1") && text.contains("mirror"),
        "{text}"
    );
    let (text, _) = parse_err("[gc]\nkeep-storage = \"1GB\"\nkeep-bytes = 1\n");
    assert!(
        text.contains(":3:1") && text.contains("keep-bytes"),
        "{text}"
    );
    let (text, _) = parse_err("[worker.oci]\ngc = true\n");
    assert!(text.contains(":1:") && text.contains("worker"), "{text}");
    let (text, _) = parse_err("[build]\ncache-to = \"type=inline\"\n");
    assert!(text.contains(":2:12"), "{text}");
}

#[test]
fn bad_values_are_refused_with_their_line() {
    let (text, _) = parse_err("\n[gc]\nkeep-storage = \"10%\"\n");
    assert!(
        text.contains(":3:") && text.contains("share of the disk"),
        "{text}"
    );
    let (text, _) = parse_err("[gc]\nkeep-duration = \"2 days\"\n");
    assert!(text.contains(":2:") && text.contains("duration"), "{text}");
    let (text, _) = parse_err("gc = true\n");
    assert!(
        text.contains(":1:") && text.contains("keep-storage"),
        "{text}"
    );
    let (text, _) = parse_err("[registry.\"r\"]\nhttp = \"yes\"\n");
    assert!(text.contains(":2:"), "{text}");
    let (text, _) = parse_err("[registry.\"r\"\n");
    assert!(text.contains(":1:"), "{text}");
}

#[test]
fn contradictions_name_the_key() {
    let (text, _) = parse_err("[registry.\"r.lan\"]\nhttp = true\ninsecure = true\n");
    assert!(text.contains("registry.\"r.lan\".insecure"), "{text}");
    let two = "[[registry.\"r\".keypair]]\nkey=\"a\"\ncert=\"b\"\n\
               [[registry.\"r\".keypair]]\nkey=\"c\"\ncert=\"d\"\n";
    let (text, _) = parse_err(two);
    assert!(
        text.contains("keypair") && text.contains("one client"),
        "{text}"
    );
    let (text, _) = parse_err("[gc]\n");
    assert!(text.contains("gc: sets no limit"), "{text}");
    let (text, _) = parse_err("[registry.\"r\"]\nmirrors = [\"https:///x\"]\n");
    assert!(text.contains("names no host"), "{text}");
}

#[test]
fn an_explicit_file_must_exist() {
    let err = load(Some(Path::new("/nonexistent/rbuild.toml"))).unwrap_err();
    assert!(matches!(err, ConfigError::Read { .. }));
    assert!(err.to_string().contains("/nonexistent/rbuild.toml"));
}
