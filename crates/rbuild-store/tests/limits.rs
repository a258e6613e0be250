//! F9: hostile archives end in an error, not a stack overflow or an unbounded read.

mod common;

use std::io::Write;

use common::{layer_tar, store};
use rbuild_oci::{media_type, Digest};
use rbuild_store::{LayoutError, StoreError, MAX_INDEX_DEPTH, MAX_JSON_BLOB};

fn append(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    b.append_data(&mut h, name, data).unwrap();
}

fn blob(b: &mut tar::Builder<Vec<u8>>, data: &[u8]) -> String {
    let d = Digest::of(data);
    append(b, &format!("blobs/sha256/{}", d.hex()), data);
    format!(r#""digest":"{d}","size":{}"#, data.len())
}

/// An OCI layout tar whose one image is `depth` image indexes nested in one another.
fn nested_indexes(depth: usize) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    append(&mut b, "oci-layout", br#"{"imageLayoutVersion":"1.0.0"}"#);
    let mut child = String::new();
    for _ in 0..depth {
        let idx = format!(r#"{{"schemaVersion":2,"manifests":[{child}]}}"#);
        let desc = blob(&mut b, idx.as_bytes());
        child = format!(r#"{{"mediaType":"{}",{desc}}}"#, media_type::OCI_INDEX);
    }
    let named = child.replacen(
        '{',
        r#"{"annotations":{"org.opencontainers.image.ref.name":"deep:1"},"#,
        1,
    );
    let index = format!(r#"{{"schemaVersion":2,"manifests":[{named}]}}"#);
    append(&mut b, "index.json", index.as_bytes());
    b.into_inner().unwrap()
}

#[test]
fn f9_an_index_nested_fifty_thousand_deep_is_refused() {
    // Run on a small stack: a recursive walk would overflow it long before 50,000.
    let tar = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(|| nested_indexes(50_000))
        .unwrap()
        .join()
        .unwrap();
    let (_d, store) = store();
    let (err, stored) = std::thread::Builder::new()
        .stack_size(256 << 10)
        .spawn(move || {
            let err = store.import_archive(&mut tar.as_slice()).unwrap_err();
            (common::chain(&err), store.blobs().unwrap().len())
        })
        .unwrap()
        .join()
        .expect("loading a deep index must not overflow the stack");
    assert!(
        err.contains(&format!("nested more than {MAX_INDEX_DEPTH} deep")),
        "{err}"
    );
    // The blobs waited in memory: a refused archive leaves nothing behind.
    assert_eq!(stored, 0);
}

/// A docker-archive whose config carries `pad` bytes of label.
fn docker_archive_with_config_of(pad: usize) -> Vec<u8> {
    let layer = layer_tar("f", b"x");
    let config = format!(
        r#"{{"architecture":"amd64","os":"linux","config":{{"Labels":{{"pad":"{}"}}}},"rootfs":{{"type":"layers","diff_ids":["{}"]}}}}"#,
        "x".repeat(pad),
        Digest::of(&layer)
    );
    let chex = Digest::of(config.as_bytes()).hex().to_string();
    let manifest =
        format!(r#"[{{"Config":"{chex}.json","RepoTags":["big:1"],"Layers":["l/layer.tar"]}}]"#);
    let mut b = tar::Builder::new(Vec::new());
    append(&mut b, &format!("{chex}.json"), config.as_bytes());
    append(&mut b, "l/layer.tar", &layer);
    append(&mut b, "manifest.json", manifest.as_bytes());
    b.into_inner().unwrap()
}

#[test]
fn f9_a_config_blob_over_the_cap_is_refused() {
    assert_eq!(MAX_JSON_BLOB, 8 << 20);
    let (_d, store) = store();
    let ok = docker_archive_with_config_of(1000);
    store.import_archive(&mut ok.as_slice()).unwrap();
    let big = docker_archive_with_config_of(9 << 20);
    let err = store.import_archive(&mut big.as_slice()).unwrap_err();
    assert!(matches!(err, LayoutError::TooLarge { .. }), "{err}");
    assert!(
        store.resolve_tag("big:1").unwrap().is_some(),
        "the small one stays"
    );
}

#[test]
fn f9_the_store_never_reads_a_config_over_the_cap() {
    let (_d, store) = store();
    let mut ing = store.ingest().unwrap();
    let big = vec![b' '; (MAX_JSON_BLOB + 1) as usize];
    ing.write_all(&big).unwrap();
    let (d, _) = ing.commit(None, None).unwrap();
    assert!(matches!(
        store.read_blob(&d),
        Err(StoreError::BlobTooLarge { .. })
    ));
}
