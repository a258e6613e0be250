//! What a registry sends is untrusted (issue 12, F9 and F2): documents read into memory are
//! capped, and manifest, config and layers are verified against the digest and size they
//! must have before anything enters the store. Tampering comes from the rewriting proxy.

mod common;

use common::image::{blobs_of, make_image_with_config};
use common::proxy::{Proxy, ProxyOptions};
use common::registry::Registry;
use common::{amd64, reference};
use rbuild_registry::RegistryError;

/// Asserts that a failed pull left nothing of `manifest` behind but what was there before.
fn assert_nothing_committed(dst: &rbuild_store::Store, manifest: &rbuild_oci::Digest, tag: &str) {
    assert!(!dst.has_blob(manifest), "manifest stored");
    assert!(dst.resolve_tag(tag).unwrap().is_none(), "tag set");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f9_config_blob_over_the_cap_is_refused() {
    let reg = Registry::start();
    let (_cfg, client) = common::anonymous_client();
    let (_d, src) = common::store();
    let padding = "x".repeat(9 << 20);
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":[]}},"comment":"{padding}"}}"#
    );
    let m = make_image_with_config(&src, 31, config.as_bytes(), 1000);
    let direct = reference(format!("{}/big/config:1", reg.addr));
    common::push(&client, &src, &m, &direct).await.unwrap();

    let proxy = Proxy::start(&reg.addr, ProxyOptions::default()).await;
    let target = reference(format!("{}/big/config:1", proxy.addr));
    let (_d2, dst) = common::store();
    let err = client.pull(&dst, &target, &amd64()).await.unwrap_err();
    assert!(
        matches!(err, RegistryError::TooLarge { limit, .. } if limit == 8 << 20),
        "{err:?}"
    );
    let config_digest = blobs_of(&src, &m)[0].digest.clone();
    let text = err.to_string();
    assert!(text.contains(&config_digest.to_string()), "{text}");
    // Refused from the manifest's descriptor: the config was never downloaded.
    let log = proxy.log();
    assert!(
        !log.iter().any(|l| l.contains(&config_digest.to_string())),
        "{log:?}"
    );
    assert!(!dst.has_blob(&config_digest));
    assert_nothing_committed(&dst, &m.digest, &target.familiar());
}
