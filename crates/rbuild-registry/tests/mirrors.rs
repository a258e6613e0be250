//! Mirrors of any registry (rbuild.toml's `[registry."host"] mirrors`): a pull asks the mirror
//! first, falls back to the registry when the mirror lacks the image, and a mirror path goes
//! before the repository.

mod common;

use common::image::make_image;
use common::proxy::{Proxy, ProxyOptions};
use common::registry::Registry;
use common::{amd64, quick_retries, reference};
use rbuild_registry::{Client, HostOptions, RegistryOptions};

/// A client whose `registry` has `mirrors`.
fn client_with_mirrors(registry: &str, mirrors: Vec<String>) -> (tempfile::TempDir, Client) {
    let dir = tempfile::tempdir().unwrap();
    let hosts = [(
        registry.to_string(),
        HostOptions {
            mirrors,
            ..Default::default()
        },
    )];
    let client = Client::new(RegistryOptions {
        docker_config: Some(dir.path().to_path_buf()),
        hosts: hosts.into(),
        ..Default::default()
    })
    .unwrap()
    .with_retry_policy(quick_retries());
    (dir, client)
}

fn manifest_gets(log: &[String]) -> Vec<&String> {
    log.iter()
        .filter(|l| l.starts_with("GET ") && l.contains("/manifests/"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pull_asks_the_mirror_first_and_falls_back_to_the_registry() {
    let origin_reg = Registry::start();
    let mirror_reg = Registry::start();
    let origin = Proxy::start(&origin_reg.addr, ProxyOptions::default()).await;
    let mirror = Proxy::start(&mirror_reg.addr, ProxyOptions::default()).await;
    let (_d, src) = common::store();
    let m = make_image(&src, 41, &[30_000, 5_000], "amd64");
    let (_c, plain) = common::anonymous_client();
    let image = reference(format!("{}/team/app:1", origin.addr));
    common::push(&plain, &src, &m, &image).await.unwrap();
    let (_c2, client) = client_with_mirrors(&origin.addr, vec![format!("{}/cache", mirror.addr)]);

    // The mirror lacks it: asked first (under its path), then the registry serves the pull.
    origin.clear_log();
    let (_d1, dst) = common::store();
    let img = client.pull(&dst, &image, &amd64()).await.unwrap();
    assert_eq!(img.manifest.digest, m.digest);
    let asked = mirror.log();
    let first = manifest_gets(&asked);
    assert!(
        first
            .first()
            .is_some_and(|l| l.contains("/v2/cache/team/app/manifests/1")),
        "mirror not asked first: {asked:?}"
    );
    assert!(!manifest_gets(&origin.log()).is_empty());

    // Once the mirror holds it, the registry is not asked at all.
    let on_mirror = reference(format!("{}/cache/team/app:1", mirror.addr));
    common::push(&plain, &src, &m, &on_mirror).await.unwrap();
    origin.clear_log();
    mirror.clear_log();
    let (_d2, dst2) = common::store();
    let img = client.pull(&dst2, &image, &amd64()).await.unwrap();
    assert_eq!(img.manifest.digest, m.digest);
    assert!(
        origin.log().is_empty(),
        "registry asked: {:?}",
        origin.log()
    );
    assert!(!manifest_gets(&mirror.log()).is_empty());
    assert!(dst2.resolve_tag(&image.familiar()).unwrap().is_some());
}
