//! Manifests, indexes and configs from a registry or an OCI layout: classifying and decoding
//! never panic, and an index's platform selection never panics on what decoded.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rbuild_oci::{ImageConfig, Index, Manifest};

fuzz_target!(|data: &[u8]| {
    // The first byte picks the type the referrer declared, as a registry's Content-Type would.
    let Some((pick, doc)) = data.split_first() else {
        return;
    };
    let declared = match pick % 5 {
        0 => None,
        1 => Some(rbuild_oci::media_type::OCI_INDEX),
        2 => Some(rbuild_oci::media_type::OCI_MANIFEST),
        3 => Some(rbuild_oci::media_type::OCI_CONFIG),
        _ => Some(""),
    };
    let _ = rbuild_oci::media_type::detect(declared, doc);
    let _ = serde_json::from_slice::<Manifest>(doc);
    let _ = serde_json::from_slice::<ImageConfig>(doc);
    if let Ok(index) = serde_json::from_slice::<Index>(doc) {
        for spec in ["linux/amd64", "linux/arm64/v8", "linux/arm/v7", "windows/amd64"] {
            let want = rbuild_oci::platform::parse(spec).expect("a valid platform");
            let _ = rbuild_oci::platform::select(&index.manifests, &want);
        }
    }
});
