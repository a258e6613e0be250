//! `rbuild load`: every image of a layout (directory or tar) or docker-archive, verified in
//! full before anything is committed.

mod common;

use common::layout::Layout;
use common::{chain, layer_tar};
use rbuild_oci::{media_type, Descriptor, Digest, Index, Platform};
use rbuild_store::LayoutError;

/// A layout with a tagged two-platform index and an untagged image.
fn two_platforms(l: &mut Layout) -> (Descriptor, Descriptor) {
    let (arm, _) = l.image("arm64", media_type::OCI_LAYER_GZIP);
    let (amd, _) = l.image("amd64", media_type::OCI_LAYER_TAR);
    let plat = |mut d: Descriptor, arch: &str| {
        d.platform = Some(Platform {
            architecture: arch.into(),
            os: "linux".into(),
            variant: None,
        });
        d
    };
    let index = Index {
        manifests: vec![plat(arm, "arm64"), plat(amd, "amd64")],
        ..Index::default()
    };
    let ix = l.blob(media_type::OCI_INDEX, &serde_json::to_vec(&index).unwrap());
    l.tag(ix.clone(), "multi:1");
    let (lone, _) = l.image("riscv64", media_type::OCI_LAYER_ZSTD);
    l.tag(lone.clone(), "");
    (ix, lone)
}

#[test]
fn a_layout_directory_loads_every_image_and_platform() {
    let (_d, store) = common::store();
    let mut l = Layout::new();
    let (ix, lone) = two_platforms(&mut l);
    let images = store.import_layout_dir(l.path()).unwrap();
    let names: Vec<&str> = images.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["multi:1", ""]);
    assert_eq!(images[0].1.digest, ix.digest);
    assert_eq!(
        images[0].1.annotations, None,
        "the name annotation is taken out"
    );
    assert_eq!(images[1].1, lone);
    assert_eq!(
        store.resolve_tag("multi:1").unwrap().unwrap().digest,
        ix.digest
    );
    // index, 3 manifests, 3 configs, 3 layers.
    assert_eq!(store.blobs().unwrap().len(), 10);
    assert!(store.check().unwrap().is_ok());
    // The same layout as a tar loads the same.
    let (_d2, other) = common::store();
    assert_eq!(
        other.import_archive(&mut l.tar().as_slice()).unwrap(),
        images
    );
}

#[test]
fn a_missing_platform_blob_fails_the_load_and_stores_nothing() {
    let mut l = Layout::new();
    let (ix, _) = two_platforms(&mut l);
    let index: Index =
        serde_json::from_slice(&std::fs::read(l.blob_file(&ix.digest)).unwrap()).unwrap();
    std::fs::remove_file(l.blob_file(&index.manifests[0].digest)).unwrap();
    let (_d, store) = common::store();
    let err = store.import_layout_dir(l.path()).unwrap_err();
    assert!(matches!(err, LayoutError::BlobMissing { .. }), "{err}");
    let err = store.import_archive(&mut l.tar().as_slice()).unwrap_err();
    assert!(matches!(err, LayoutError::BlobMissing { .. }), "{err}");
    assert!(store.blobs().unwrap().is_empty());
    assert!(store.tags().unwrap().is_empty());
}

#[test]
fn big_blobs_wait_outside_the_store_until_the_archive_verified() {
    let mut l = Layout::new();
    // Over the 4 MiB kept in memory: staged in a scratch file.
    let big: Vec<u8> = (0..5u32 << 20).map(|i| (i % 251) as u8).collect();
    let layer = l.blob(media_type::OCI_LAYER_TAR, &big);
    let config = l.blob(
        media_type::OCI_CONFIG,
        br#"{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}"#,
    );
    let manifest = serde_json::json!({
        "schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST,
        "config": config, "layers": [layer],
    });
    let m = l.blob(media_type::OCI_MANIFEST, manifest.to_string().as_bytes());
    l.tag(m.clone(), "big:1");
    let (_d, store) = common::store();
    let tar = l.tar();
    std::fs::remove_file(l.blob_file(&config.digest)).unwrap();
    let err = store.import_archive(&mut l.tar().as_slice()).unwrap_err();
    assert!(matches!(err, LayoutError::BlobMissing { .. }), "{err}");
    assert!(
        store.blobs().unwrap().is_empty(),
        "a refused archive left blobs"
    );
    let tmp = std::fs::read_dir(store.root().join("tmp")).unwrap().count();
    assert_eq!(tmp, 0, "the stage is removed");
    store.import_archive(&mut tar.as_slice()).unwrap();
    assert!(store.has_blob(&layer.digest) && store.has_blob(&m.digest));
    assert!(store.check().unwrap().is_ok());
}

#[test]
fn links_where_layout_files_belong_are_refused_in_a_tar() {
    let mut l = Layout::new();
    let (m, _) = l.image("amd64", media_type::OCI_LAYER_GZIP);
    l.tag(m, "a:1");
    let index = l.path().join("index.json");
    std::fs::rename(&index, l.path().join("real-index.json")).unwrap();
    std::os::unix::fs::symlink("real-index.json", &index).unwrap();
    let (_d, store) = common::store();
    let err = store.import_archive(&mut l.tar().as_slice()).unwrap_err();
    assert!(matches!(err, LayoutError::NotRegular { .. }), "{err}");
    let err = store.import_layout_dir(l.path()).unwrap_err();
    assert!(matches!(err, LayoutError::NotRegular { .. }), "{err}");
}

/// A docker-archive with one layer stored as given (the config claims `diff_id`).
fn docker_archive(layer: &[u8], diff_id: &Digest) -> Vec<u8> {
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","rootfs":{{"type":"layers","diff_ids":["{diff_id}"]}}}}"#
    );
    let chex = Digest::of(config.as_bytes()).hex().to_string();
    let manifest =
        format!(r#"[{{"Config":"{chex}.json","RepoTags":["d:1"],"Layers":["l/layer.tar"]}}]"#);
    let mut b = tar::Builder::new(Vec::new());
    let files = [
        (format!("{chex}.json"), config.as_bytes()),
        ("l/layer.tar".into(), layer),
        ("manifest.json".into(), manifest.as_bytes()),
    ];
    for (name, data) in files {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, name, data).unwrap();
    }
    b.into_inner().unwrap()
}

#[test]
fn docker_layers_are_sniffed_by_content() {
    let tar = layer_tar("f", b"x");
    let diff = Digest::of(&tar);
    let (_d, store) = common::store();
    let zstd = zstd::encode_all(&tar[..], 1).unwrap();
    let images = store
        .import_archive(&mut docker_archive(&zstd, &diff).as_slice())
        .unwrap();
    let m = store.image_manifest(&images[0].1).unwrap().1;
    assert_eq!(m.layers[0].media_type, media_type::OCI_LAYER_ZSTD);
    let xz = [0xfd, b'7', b'z', b'X', b'Z', 0, 0, 0];
    let err = store
        .import_archive(&mut docker_archive(&xz, &diff).as_slice())
        .unwrap_err();
    assert!(
        matches!(err, LayoutError::LayerCompression { format: "xz", .. }),
        "{err}"
    );
    let err = store
        .import_archive(&mut docker_archive(&zstd, &Digest::of(b"other")).as_slice())
        .unwrap_err();
    assert!(matches!(err, LayoutError::DiffId { .. }), "{}", chain(&err));
}
