//! The core API: ingest, tags, snapshots, key-value, sweep, format version.

use std::fs;
use std::io::Write;
use std::sync::Arc;

use rbuild_oci::{media_type, Descriptor, Digest};
use rbuild_store::{Store, StoreError};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("root")).unwrap();
    (dir, store)
}

fn blob_count(store: &Store) -> usize {
    fs::read_dir(store.root().join("blobs/sha256"))
        .unwrap()
        .count()
}

fn ingest_count(store: &Store) -> usize {
    fs::read_dir(store.root().join("ingest")).unwrap().count()
}

#[test]
fn open_creates_an_oci_layout() {
    let (_d, store) = store();
    let layout = fs::read_to_string(store.root().join("oci-layout")).unwrap();
    assert_eq!(layout, r#"{"imageLayoutVersion":"1.0.0"}"#);
    let index: serde_json::Value =
        serde_json::from_slice(&fs::read(store.root().join("index.json")).unwrap()).unwrap();
    assert_eq!(index["schemaVersion"], 2);
    assert!(store.root().join("cache.db").is_file());
}

#[test]
fn ingest_commits_and_verifies() {
    let (_d, store) = store();
    let mut ing = store.ingest().unwrap();
    ing.write_all(b"hello ").unwrap();
    ing.write_all(b"world").unwrap();
    let expected = Digest::of(b"hello world");
    let (d, n) = ing.commit(Some(&expected), Some(11)).unwrap();
    assert_eq!((d.clone(), n), (expected, 11));
    assert!(store.has_blob(&d));
    assert_eq!(store.read_blob(&d).unwrap(), b"hello world");
    assert_eq!(store.blob_size(&d).unwrap(), 11);
    assert_eq!(ingest_count(&store), 0);
}

#[test]
fn digest_mismatch_names_both_and_stores_nothing() {
    let (_d, store) = store();
    let mut ing = store.ingest().unwrap();
    ing.write_all(b"actual").unwrap();
    let wrong = Digest::of(b"expected");
    let err = ing.commit(Some(&wrong), None).unwrap_err();
    let msg = err.to_string();
    assert!(matches!(err, StoreError::DigestMismatch { .. }));
    assert!(msg.contains(&wrong.to_string()), "{msg}");
    assert!(msg.contains(&Digest::of(b"actual").to_string()), "{msg}");
    assert_eq!(blob_count(&store), 0);
    assert_eq!(ingest_count(&store), 0);
}

#[test]
fn size_mismatch_stores_nothing() {
    let (_d, store) = store();
    let mut ing = store.ingest().unwrap();
    ing.write_all(b"abc").unwrap();
    let err = ing.commit(Some(&Digest::of(b"abc")), Some(4)).unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SizeMismatch {
                expected: 4,
                actual: 3,
                ..
            }
        ),
        "{err}"
    );
    assert_eq!(blob_count(&store), 0);
    assert_eq!(ingest_count(&store), 0);
}

#[test]
fn dropped_ingest_leaves_nothing() {
    let (_d, store) = store();
    let mut ing = store.ingest().unwrap();
    ing.write_all(b"partial").unwrap();
    drop(ing);
    assert_eq!(ingest_count(&store), 0);
    assert_eq!(blob_count(&store), 0);
}

#[test]
fn concurrent_identical_ingests_agree() {
    let (_d, store) = store();
    let store = Arc::new(store);
    let data: Vec<u8> = (0..200_000u32).flat_map(|i| i.to_le_bytes()).collect();
    let data = Arc::new(data);
    let handles: Vec<_> = (0..8)
        .map(|_| {
            let (store, data) = (store.clone(), data.clone());
            std::thread::spawn(move || {
                let mut ing = store.ingest().unwrap();
                for chunk in data.chunks(4096) {
                    ing.write_all(chunk).unwrap();
                }
                ing.commit(Some(&Digest::of(&data)), Some(data.len() as u64))
                    .unwrap()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap().0, Digest::of(&data));
    }
    assert_eq!(blob_count(&store), 1);
    assert_eq!(ingest_count(&store), 0);
    assert_eq!(store.read_blob(&Digest::of(&data)).unwrap(), *data);
}

#[test]
fn missing_blob_is_not_found() {
    let (_d, store) = store();
    let d = Digest::of(b"nope");
    assert!(!store.has_blob(&d));
    assert!(matches!(
        store.read_blob(&d),
        Err(StoreError::BlobNotFound(_))
    ));
    assert!(matches!(
        store.open_blob(&d),
        Err(StoreError::BlobNotFound(_))
    ));
}

fn manifest_desc(store: &Store, n: u32) -> Descriptor {
    let body = format!("{{\"schemaVersion\":2,\"n\":{n}}}");
    let d = store.put_blob(body.as_bytes()).unwrap();
    Descriptor::new(media_type::OCI_MANIFEST, d, body.len() as u64)
}

#[test]
fn tags_set_resolve_replace_remove() {
    let (_d, store) = store();
    let a = manifest_desc(&store, 1);
    let b = manifest_desc(&store, 2);
    store.set_tag("app:1.0", &a).unwrap();
    store.set_tag("other", &a).unwrap();
    store.set_tag("app:1.0", &b).unwrap();
    let got = store.resolve_tag("app:1.0").unwrap().unwrap();
    assert_eq!(got.digest, b.digest);
    assert_eq!(rbuild_store::ref_name(&got), Some("app:1.0"));
    assert_eq!(store.tags().unwrap().len(), 2);
    assert!(store.remove_tag("other").unwrap());
    assert!(!store.remove_tag("other").unwrap());
    assert_eq!(store.resolve_tag("other").unwrap(), None);
    assert!(matches!(
        store.set_tag("", &a),
        Err(StoreError::InvalidTag(_))
    ));
}

#[test]
fn retagging_the_same_image_does_not_rewrite_the_index() {
    use std::os::unix::fs::MetadataExt;
    let (_d, store) = store();
    let a = manifest_desc(&store, 1);
    let b = manifest_desc(&store, 2);
    let index = store.root().join("index.json");
    store.set_tag("app:1.0", &a).unwrap();
    let ino = fs::metadata(&index).unwrap().ino();
    store.set_tag("app:1.0", &a).unwrap();
    assert!(!store.remove_tag("absent").unwrap());
    // The index is replaced by rename when it changes: same inode, no write.
    assert_eq!(fs::metadata(&index).unwrap().ino(), ino);
    store.set_tag("app:1.0", &b).unwrap();
    assert_ne!(fs::metadata(&index).unwrap().ino(), ino);
    assert_eq!(
        store.resolve_tag("app:1.0").unwrap().unwrap().digest,
        b.digest
    );
}

#[test]
fn concurrent_tagging_loses_nothing() {
    let (dir, store) = store();
    let root = store.root().to_path_buf();
    let desc = manifest_desc(&store, 0);
    let handles: Vec<_> = (0..8)
        .map(|i| {
            // Separate Store handles behave like separate processes (separate lock fds).
            let (root, desc) = (root.clone(), desc.clone());
            std::thread::spawn(move || {
                let s = Store::open(&root).unwrap();
                for j in 0..10 {
                    s.set_tag(&format!("t{i}:{j}"), &desc).unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_eq!(store.tags().unwrap().len(), 80);
    drop(dir);
}

#[test]
fn snapshot_commit_race_has_one_winner() {
    let (_d, store) = store();
    let store = Arc::new(store);
    let chain = Digest::of(b"chain");
    let handles: Vec<_> = (0..6)
        .map(|i| {
            let store = store.clone();
            let chain = chain.clone();
            std::thread::spawn(move || {
                let scratch = store.scratch().unwrap();
                fs::write(scratch.path().join("who"), format!("{i}")).unwrap();
                let path = scratch.keep();
                store.commit_snapshot(&chain, path.clone()).unwrap();
                assert!(!path.exists(), "loser's dir must be removed");
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let snap = store.snapshot(&chain).unwrap();
    assert!(snap.join("who").is_file());
    assert_eq!(fs::read_dir(store.root().join("tmp")).unwrap().count(), 0);
}

#[test]
fn scratch_dir_is_removed_on_drop() {
    let (_d, store) = store();
    let scratch = store.scratch().unwrap();
    let p = scratch.path().to_path_buf();
    fs::create_dir(p.join("sub")).unwrap();
    assert!(p.is_dir());
    drop(scratch);
    assert!(!p.exists());
    assert!(store.snapshot(&Digest::of(b"x")).is_none());
}

#[test]
fn commit_scratch_subdir_then_drop() {
    let (_d, store) = store();
    let scratch = store.scratch().unwrap();
    let upper = scratch.path().join("upper");
    fs::create_dir(&upper).unwrap();
    fs::write(upper.join("f"), "x").unwrap();
    let chain = Digest::of(b"c");
    let snap = store.commit_snapshot(&chain, upper).unwrap();
    drop(scratch);
    assert!(snap.join("f").is_file());
    assert_eq!(store.snapshot(&chain), Some(snap));
}

#[test]
fn kv_persists_across_reopen() {
    let (dir, store) = store();
    let root = store.root().to_path_buf();
    store.kv_put("cache", "k1", b"v1").unwrap();
    store
        .kv_put_many(
            "ctxhash",
            &[("a".into(), b"1".to_vec()), ("b".into(), b"2".to_vec())],
        )
        .unwrap();
    store.kv_put("cache", "gone", b"x").unwrap();
    store.kv_delete("cache", "gone").unwrap();
    drop(store);
    let store = Store::open(&root).unwrap();
    assert_eq!(store.kv_get("cache", "k1").unwrap(), Some(b"v1".to_vec()));
    assert_eq!(store.kv_get("ctxhash", "b").unwrap(), Some(b"2".to_vec()));
    assert_eq!(store.kv_get("cache", "gone").unwrap(), None);
    assert_eq!(store.kv_get("explain", "k1").unwrap(), None);
    drop(dir);
}
