//! F10: `repair` drops what cannot be verified; `check` works on a damaged store; a damaged
//! blob is an error naming it, not silently used.

mod common;

use std::fs;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use common::{layer_tar, put_image_of, store};
use rbuild_layer::{apply_layer_verified, decompress, ApplyOptions};
use rbuild_oci::{chain_id, Descriptor, Digest};
use rbuild_store::{Repaired, Store, StoreError};

fn layers() -> Vec<(Vec<u8>, Digest)> {
    let base = layer_tar("bin/busybox", &vec![7u8; 50_000]);
    let top = layer_tar("made-by-run", b"layer\n");
    [base, top]
        .into_iter()
        .map(|t| {
            let d = Digest::of(&t);
            (t, d)
        })
        .collect()
}

/// What a build does: store the image, unpack every layer verified, record a cache entry.
fn build(store: &Store) -> (Descriptor, Vec<PathBuf>) {
    let layers = layers();
    let img = put_image_of(store, &layers);
    store.set_tag("app:1", &img).unwrap();
    let diff_ids: Vec<Digest> = layers.iter().map(|(_, d)| d.clone()).collect();
    let mut snaps = Vec::new();
    for (i, diff_id) in diff_ids.iter().enumerate() {
        let chain = chain_id(&diff_ids[..=i]).unwrap();
        if let Some(s) = store.verified_snapshot(&chain) {
            snaps.push(s);
            continue;
        }
        let scratch = store.scratch().unwrap();
        let blob = store.blob_reader(diff_id, None).unwrap();
        let mut tar = decompress(Box::new(blob)).unwrap();
        apply_layer_verified(&mut tar, scratch.path(), &ApplyOptions::default(), diff_id).unwrap();
        snaps.push(
            store
                .commit_verified_snapshot(&chain, scratch.keep(), diff_id)
                .unwrap(),
        );
    }
    store
        .kv_put_refs("cache", "run-step", b"{}", &diff_ids)
        .unwrap();
    (img, snaps)
}

fn flip_byte(path: &Path) {
    fs::set_permissions(path, fs::Permissions::from_mode(0o600)).unwrap();
    let mut bytes = fs::read(path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    fs::write(path, bytes).unwrap();
}

fn truncate(path: &Path) {
    let len = fs::metadata(path).unwrap().len();
    let f = fs::OpenOptions::new().write(true).open(path).unwrap();
    f.set_len(len / 2).unwrap();
}

/// Damages a built store: a layer blob, a snapshot file and the cache database; returns
/// the store root and the damaged layer.
fn damage() -> (tempfile::TempDir, PathBuf, Digest) {
    let (d, store) = store();
    let (_, snaps) = build(&store);
    let top = layers()[1].1.clone();
    flip_byte(&store.blob_path(&top));
    truncate(&snaps[0].join("bin/busybox"));
    let root = store.root().to_path_buf();
    drop(store);
    for name in ["cache.db-wal", "cache.db-shm"] {
        let _ = fs::remove_file(root.join(name));
    }
    fs::write(root.join("cache.db"), b"this is not a database").unwrap();
    (d, root, top)
}

/// What `repair` should have done to a store [`damage`]d at `top`.
fn assert_repaired(done: &[Repaired], top: &Digest) {
    let shown: Vec<String> = done.iter().map(ToString::to_string).collect();
    let any = |f: &dyn Fn(&Repaired) -> bool| done.iter().any(f);
    assert!(
        matches!(done[0], Repaired::DatabaseRebuilt { .. }),
        "{shown:#?}"
    );
    assert!(
        any(&|r| matches!(r, Repaired::BlobDropped { digest, .. } if digest == top)),
        "{shown:#?}"
    );
    assert!(
        any(&|r| matches!(r, Repaired::ManifestDropped { missing, .. } if missing == top)),
        "{shown:#?}"
    );
    assert!(
        any(&|r| matches!(r, Repaired::TagRemoved { tag, .. } if tag == "app:1")),
        "{shown:#?}"
    );
    let dropped = done
        .iter()
        .filter(|r| matches!(r, Repaired::SnapshotDropped { .. }));
    assert_eq!(dropped.count(), 2, "{shown:#?}");
    assert!(
        shown.iter().all(|l| !l.contains('\n')),
        "one line per item: {shown:#?}"
    );
}

#[test]
fn f10_repair_heals_a_flipped_blob_a_truncated_snapshot_and_a_corrupt_database() {
    let (_d, root, top) = damage();
    // The store opens; check reports every problem instead of failing.
    let store = Store::open(&root).unwrap();
    let before = store.check().unwrap();
    assert!(before.db_error.is_some(), "{before:?}");
    assert_eq!(before.corrupt.len(), 1, "{before:?}");
    assert_eq!(before.unverified_snapshots.len(), 2, "{before:?}");
    assert!(!before.is_ok());
    let err = store.kv_get("cache", "run-step").unwrap_err();
    assert!(err.to_string().contains("store check --repair"), "{err}");

    assert_repaired(&store.repair().unwrap(), &top);
    let after = store.check().unwrap();
    assert!(after.is_ok(), "{after:?}");
    assert_eq!(store.format_version(), rbuild_store::FORMAT_VERSION);

    // A rebuild (or re-pull) brings everything back, verified.
    let (img, snaps) = build(&store);
    let tagged = store.resolve_tag("app:1").unwrap().unwrap();
    assert_eq!(tagged.digest, img.digest);
    let busybox = fs::read(snaps[0].join("bin/busybox")).unwrap();
    assert_eq!(busybox.len(), 50_000);
    assert!(store.check().unwrap().is_ok());
    drop(store);
    // The rebuilt database is a store of the current format.
    assert!(Store::open(&root).unwrap().check().unwrap().is_ok());
}

#[test]
fn f10_repair_drops_cache_entries_of_dropped_blobs() {
    let (_d, store) = store();
    build(&store);
    let top = layers()[1].1.clone();
    flip_byte(&store.blob_path(&top));
    let done = store.repair().unwrap();
    assert!(
        done.contains(&Repaired::CacheEntryDropped {
            namespace: "cache".into(),
            key: "run-step".into(),
            blob: top,
        }),
        "{done:#?}"
    );
    assert_eq!(store.kv_get("cache", "run-step").unwrap(), None);
    assert!(store.check().unwrap().is_ok());
    assert!(
        store.repair().unwrap().is_empty(),
        "a second repair finds nothing"
    );
}

#[test]
fn f10_a_corrupt_index_json_is_reported_and_repaired() {
    let (_d, store) = store();
    let (img, _) = build(&store);
    store.set_tag("app:2", &img).unwrap();
    let index = store.root().join("index.json");
    let text = fs::read(&index).unwrap();
    fs::write(&index, &text[..text.len() - 30]).unwrap();
    let err = store.tags().unwrap_err();
    assert!(matches!(err, StoreError::IndexCorrupt { .. }), "{err}");
    assert!(err.to_string().contains("store check --repair"), "{err}");
    let report = store.check().unwrap();
    assert!(report.index_error.is_some() && !report.is_ok());
    let done = store.repair().unwrap();
    assert!(
        matches!(&done[0], Repaired::IndexSalvaged { kept: 1, .. }),
        "{done:#?}"
    );
    assert_eq!(store.tags().unwrap().len(), 1);
    assert!(store.check().unwrap().is_ok());
    fs::write(&index, b"{ not json").unwrap();
    store.repair().unwrap();
    assert!(store.tags().unwrap().is_empty());
    assert!(store.check().unwrap().is_ok());
}

#[test]
fn f10_reading_a_damaged_blob_names_it() {
    let (d, store) = store();
    build(&store);
    // Damage at rest, found by a later process: the process that wrote a blob hashed it as
    // it wrote and does not hash it again (its reads come from the page cache anyway).
    drop(store);
    let store = Store::open(&d.path().join("root")).unwrap();
    let top = layers()[1].1.clone();
    flip_byte(&store.blob_path(&top));
    let mut got = Vec::new();
    let err = store
        .blob_reader(&top, None)
        .unwrap()
        .read_to_end(&mut got)
        .unwrap_err();
    let msg = err.to_string();
    assert!(
        msg.contains(&top.to_string()) && msg.contains("--repair"),
        "{msg}"
    );
    let err = store.blob_reader(&top, Some(1)).err().unwrap();
    assert!(matches!(err, StoreError::CorruptBlob { .. }), "{err}");
    let config = store.put_blob(b"{\"a\":1}").unwrap();
    flip_byte(&store.blob_path(&config));
    assert!(matches!(
        store.read_blob(&config),
        Err(StoreError::CorruptBlob { .. })
    ));
}

#[test]
fn f10_no_cache_rebuild_does_not_keep_a_corrupt_blob() {
    let (_d, store) = store();
    build(&store);
    let (tar, top) = layers().remove(1);
    flip_byte(&store.blob_path(&top));
    // Re-making the same layer (a --no-cache build) replaces the damaged copy.
    let mut ing = store.ingest().unwrap();
    ing.write_all(&tar).unwrap();
    ing.commit(Some(&top), None).unwrap();
    assert_eq!(fs::read(store.blob_path(&top)).unwrap(), tar);
    // So does storing the same JSON again.
    let json = b"{\"config\":true}";
    let d = store.put_blob(json).unwrap();
    flip_byte(&store.blob_path(&d));
    store.put_blob(json).unwrap();
    assert_eq!(store.read_blob(&d).unwrap(), json);
    assert!(store.check().unwrap().is_ok());
}

#[test]
fn a_blob_this_process_wrote_is_read_back_without_rehashing_but_size_checked() {
    let (_d, store) = store();
    build(&store);
    let top = layers()[1].1.clone();
    let mut got = Vec::new();
    let mut reader = store.blob_reader(&top, None).unwrap();
    reader.read_to_end(&mut got).unwrap();
    assert!(reader.verified());
    assert_eq!(Digest::of(&got), top);
    // A truncation is still found by the size kept at open.
    let path = store.blob_path(&top);
    let mut reader = store.blob_reader(&top, None).unwrap();
    let mut perms = fs::metadata(&path).unwrap().permissions();
    perms.set_mode(0o600);
    fs::set_permissions(&path, perms).unwrap();
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(1)
        .unwrap();
    let err = reader.read_to_end(&mut Vec::new()).unwrap_err();
    assert!(err.to_string().contains(&top.to_string()), "{err}");
}
