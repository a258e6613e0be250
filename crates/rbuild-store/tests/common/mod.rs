//! Test fixtures: small but well-formed images.
#![allow(dead_code)]

use std::io::Write;

use rbuild_oci::{media_type, Descriptor, Digest, ImageConfig, Manifest, RootFs};
use rbuild_store::Store;

pub mod layout;

/// An error with its sources, as the CLI prints it (`{:#}`).
pub fn chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut next = e.source();
    while let Some(source) = next {
        text = format!("{text}: {source}");
        next = source.source();
    }
    text
}

pub fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("root")).unwrap();
    (dir, store)
}

/// An uncompressed layer tar holding one file.
pub fn layer_tar(name: &str, content: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(content.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    b.append_data(&mut h, name, content).unwrap();
    b.into_inner().unwrap()
}

/// Stores an image of uncompressed layers (one per name) and returns its manifest descriptor.
pub fn put_image(store: &Store, files: &[&str]) -> Descriptor {
    let layers: Vec<(Vec<u8>, Digest)> = files
        .iter()
        .map(|f| {
            let tar = layer_tar(f, f.as_bytes());
            let diff_id = Digest::of(&tar);
            (tar, diff_id)
        })
        .collect();
    put_image_of(store, &layers)
}

/// Stores an image of the given uncompressed layers, each with the diff_id its config claims.
pub fn put_image_of(store: &Store, tars: &[(Vec<u8>, Digest)]) -> Descriptor {
    let mut layers = Vec::new();
    let mut diff_ids = Vec::new();
    for (tar, diff_id) in tars {
        let mut ing = store.ingest().unwrap();
        ing.write_all(tar).unwrap();
        let (d, n) = ing.commit(None, None).unwrap();
        diff_ids.push(diff_id.clone());
        layers.push(Descriptor::new(media_type::OCI_LAYER_TAR, d, n));
    }
    let config = ImageConfig {
        architecture: "amd64".into(),
        os: "linux".into(),
        created: Some("2024-01-01T00:00:00Z".into()),
        rootfs: RootFs {
            kind: "layers".into(),
            diff_ids,
        },
        ..Default::default()
    };
    let cbytes = rbuild_oci::to_canonical_json(&config);
    let cd = store.put_blob(&cbytes).unwrap();
    let manifest = Manifest {
        schema_version: 2,
        media_type: Some(media_type::OCI_MANIFEST.into()),
        config: Descriptor::new(media_type::OCI_CONFIG, cd, cbytes.len() as u64),
        layers,
        annotations: None,
    };
    let mbytes = rbuild_oci::to_canonical_json(&manifest);
    let md = store.put_blob(&mbytes).unwrap();
    Descriptor::new(media_type::OCI_MANIFEST, md, mbytes.len() as u64)
}

/// Layer digests of a stored manifest.
pub fn layers_of(store: &Store, desc: &Descriptor) -> Vec<Digest> {
    let m: Manifest = serde_json::from_slice(&store.read_blob(&desc.digest).unwrap()).unwrap();
    m.layers.into_iter().map(|l| l.digest).collect()
}
