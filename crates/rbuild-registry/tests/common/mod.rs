//! Shared fixtures for the registry tests: a real registry process, a logging / fault-injecting
//! / token-auth proxy, and test images. Everything listens on 127.0.0.1 only.
#![allow(dead_code)]

pub mod image;
pub mod proxy;
pub mod registry;

use std::time::Duration;

use rbuild_registry::{Client, RegistryOptions, RetryPolicy};

/// A fresh store in a temp dir (keep the dir alive as long as the store).
pub fn store() -> (tempfile::TempDir, rbuild_store::Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = rbuild_store::Store::open(&dir.path().join("store")).unwrap();
    (dir, store)
}

/// Short delays so retry tests stay fast.
pub fn quick_retries() -> RetryPolicy {
    RetryPolicy {
        attempts: 8,
        base: Duration::from_millis(20),
        max: Duration::from_millis(200),
        max_retry_after: Duration::from_secs(1),
    }
}

/// A client reading credentials only from `docker_config` (an empty temp dir by default).
pub fn client(docker_config: &std::path::Path) -> Client {
    Client::new(RegistryOptions {
        docker_config: Some(docker_config.to_path_buf()),
        ..Default::default()
    })
    .unwrap()
    .with_retry_policy(quick_retries())
}

/// Writes a `config.json` into `dir`.
pub fn write_docker_config(dir: &std::path::Path, json: &str) {
    std::fs::write(dir.join("config.json"), json).unwrap();
}
