//! Test images made of pseudo-random layers, written into a store.

use rbuild_oci::{
    media_type, to_canonical_json, Descriptor, Digest, ImageConfig, Index, Manifest, Platform,
    RootFs,
};
use rbuild_store::Store;

/// `len` incompressible bytes determined by `seed`.
pub fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::with_capacity(len + 8);
    while out.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(&x.to_le_bytes());
    }
    out.truncate(len);
    out
}

/// An image with one layer per size, for `arch`; returns the manifest descriptor.
pub fn make_image(store: &Store, seed: u64, sizes: &[usize], arch: &str) -> Descriptor {
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for (i, &size) in sizes.iter().enumerate() {
        let data = noise(seed * 1000 + i as u64, size);
        let d = store.put_blob(&data).unwrap();
        diff_ids.push(Digest::of(format!("diff-{d}").as_bytes()));
        layers.push(Descriptor::new(media_type::OCI_LAYER_GZIP, d, size as u64));
    }
    let config = ImageConfig {
        architecture: arch.to_string(),
        os: "linux".to_string(),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids,
        },
        ..Default::default()
    };
    let config_bytes = to_canonical_json(&config);
    let cd = store.put_blob(&config_bytes).unwrap();
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.to_string()),
        config: Descriptor::new(media_type::OCI_CONFIG, cd, config_bytes.len() as u64),
        layers,
        annotations: None,
    };
    let bytes = to_canonical_json(&manifest);
    let md = store.put_blob(&bytes).unwrap();
    Descriptor::new(media_type::OCI_MANIFEST, md, bytes.len() as u64)
}

/// An image whose config is exactly `config` (any bytes) with one layer of `layer_size`.
pub fn make_image_with_config(
    store: &Store,
    seed: u64,
    config: &[u8],
    layer_size: usize,
) -> Descriptor {
    let layer = noise(seed, layer_size);
    let ld = store.put_blob(&layer).unwrap();
    let cd = store.put_blob(config).unwrap();
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.to_string()),
        config: Descriptor::new(media_type::OCI_CONFIG, cd, config.len() as u64),
        layers: vec![Descriptor::new(
            media_type::OCI_LAYER_GZIP,
            ld,
            layer_size as u64,
        )],
        annotations: None,
    };
    let bytes = to_canonical_json(&manifest);
    let md = store.put_blob(&bytes).unwrap();
    Descriptor::new(media_type::OCI_MANIFEST, md, bytes.len() as u64)
}

/// An index over `manifests`, each tagged with its platform.
pub fn make_index(store: &Store, manifests: &[(Descriptor, &str)]) -> Descriptor {
    let entries = manifests
        .iter()
        .map(|(d, arch)| {
            let mut d = d.clone();
            d.platform = Some(Platform {
                architecture: arch.to_string(),
                os: "linux".into(),
                variant: None,
            });
            d
        })
        .collect();
    let index = Index {
        manifests: entries,
        ..Default::default()
    };
    let bytes = to_canonical_json(&index);
    let d = store.put_blob(&bytes).unwrap();
    Descriptor::new(media_type::OCI_INDEX, d, bytes.len() as u64)
}

/// The config and layer descriptors of a stored manifest.
pub fn blobs_of(store: &Store, manifest: &Descriptor) -> Vec<Descriptor> {
    let m: Manifest = serde_json::from_slice(&store.read_blob(&manifest.digest).unwrap()).unwrap();
    std::iter::once(m.config).chain(m.layers).collect()
}

/// Asserts that `dst` holds every blob of `manifest` with the same bytes as `src`.
pub fn assert_same_blobs(src: &Store, dst: &Store, manifest: &Descriptor) {
    for b in blobs_of(src, manifest) {
        assert_eq!(
            dst.read_blob(&b.digest).unwrap(),
            src.read_blob(&b.digest).unwrap()
        );
    }
}
