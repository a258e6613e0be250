//! F2: snapshots are cached under a chain id computed from the diff_ids an image *claims*;
//! only content verified against its diff_id may become one, and `check` says which it
//! cannot vouch for.

mod common;

use std::fs;
use std::path::PathBuf;

use common::{layer_tar, put_image_of, store};
use rbuild_layer::{apply_layer_verified, decompress, ApplyOptions, LayerError};
use rbuild_oci::{chain_id, Digest};
use rbuild_store::Store;

/// What `ensure_snapshots` does for one layer: unpack verified, commit verified.
fn unpack(store: &Store, layer: &Digest, diff_id: &Digest) -> Result<PathBuf, LayerError> {
    let scratch = store.scratch().unwrap();
    let blob = store.blob_reader(layer, None).unwrap();
    let mut tar = decompress(Box::new(blob))?;
    apply_layer_verified(&mut tar, scratch.path(), &ApplyOptions::default(), diff_id)?;
    let chain = chain_id(std::slice::from_ref(diff_id)).unwrap();
    Ok(store
        .commit_verified_snapshot(&chain, scratch.keep(), diff_id)
        .unwrap())
}

/// Commits, verified, a snapshot holding `f` with `content` for the chain of one layer.
fn commit_one_file(store: &Store, content: &[u8]) -> (Digest, PathBuf) {
    let diff = Digest::of(b"layer");
    let chain = chain_id(std::slice::from_ref(&diff)).unwrap();
    let s = store.scratch().unwrap();
    fs::write(s.path().join("f"), content).unwrap();
    let snap = store
        .commit_verified_snapshot(&chain, s.keep(), &diff)
        .unwrap();
    (chain, snap)
}

#[test]
fn f2_a_poisoned_image_cannot_become_the_snapshot_of_a_genuine_chain() {
    let genuine = layer_tar("bin/sh", b"the real shell");
    let poisoned = layer_tar("bin/sh", b"a backdoor....");
    let claimed = Digest::of(&genuine);
    // An archive whose config claims busybox's diff_id but whose layer is the backdoor:
    // OCI archives are loaded by blob digest, so the claim is only caught at unpack time.
    let (_d, src) = store();
    let img = put_image_of(&src, &[(poisoned.clone(), claimed.clone())]);
    let mut tar = Vec::new();
    src.export_oci_archive(&[("evil:1".into(), img)], &mut tar)
        .unwrap();
    let (_d2, dst) = store();
    dst.import_archive(&mut tar.as_slice()).unwrap();

    let err = unpack(&dst, &Digest::of(&poisoned), &claimed).unwrap_err();
    assert!(matches!(err, LayerError::DiffIdMismatch { .. }), "{err}");
    let chain = chain_id(std::slice::from_ref(&claimed)).unwrap();
    assert!(
        dst.snapshot(&chain).is_none(),
        "a poisoned snapshot was kept"
    );
    assert!(dst.snapshots().unwrap().is_empty());

    // The genuine layer, once present, is what the chain gets.
    let mut ing = dst.ingest().unwrap();
    std::io::Write::write_all(&mut ing, &genuine).unwrap();
    ing.commit(None, None).unwrap();
    let snap = unpack(&dst, &claimed, &claimed).unwrap();
    assert_eq!(fs::read(snap.join("bin/sh")).unwrap(), b"the real shell");
    assert_eq!(dst.verified_snapshot(&chain), Some(snap));
    assert!(dst.check().unwrap().is_ok());
}

#[test]
fn f2_unverified_snapshots_are_reported_and_not_used() {
    let (_d, store) = store();
    let chain = Digest::of(b"chain");
    let s = store.scratch().unwrap();
    fs::write(s.path().join("f"), b"unproven").unwrap();
    store.commit_scratch(&chain, s).unwrap();
    assert!(store.snapshot(&chain).is_some());
    assert_eq!(store.verified_snapshot(&chain), None);
    let report = store.check().unwrap();
    assert_eq!(report.unverified_snapshots, vec![chain]);
    assert!(!report.is_ok());
}

#[test]
fn f2_a_verified_commit_replaces_an_unverified_snapshot() {
    let (_d, store) = store();
    let diff = Digest::of(b"layer");
    let chain = chain_id(std::slice::from_ref(&diff)).unwrap();
    let s = store.scratch().unwrap();
    fs::write(s.path().join("f"), b"poison").unwrap();
    store.commit_scratch(&chain, s).unwrap();
    let s = store.scratch().unwrap();
    fs::write(s.path().join("f"), b"genuine").unwrap();
    let snap = store
        .commit_verified_snapshot(&chain, s.keep(), &diff)
        .unwrap();
    assert_eq!(fs::read(snap.join("f")).unwrap(), b"genuine");
    assert_eq!(store.verified_snapshot(&chain), Some(snap));
    assert!(store.check().unwrap().is_ok());
}

#[test]
fn f2_a_verified_snapshot_wins_over_a_later_commit() {
    let (_d, store) = store();
    let diff = Digest::of(b"layer");
    let chain = chain_id(std::slice::from_ref(&diff)).unwrap();
    for content in [&b"first"[..], b"second"] {
        let s = store.scratch().unwrap();
        fs::write(s.path().join("f"), content).unwrap();
        store
            .commit_verified_snapshot(&chain, s.keep(), &diff)
            .unwrap();
    }
    let snap = store.verified_snapshot(&chain).unwrap();
    assert_eq!(fs::read(snap.join("f")).unwrap(), b"first");
    let report = store.check().unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.snapshots_checked, 1);
}

#[test]
fn f2_check_reports_a_truncated_snapshot() {
    let (_d, store) = store();
    let diff = Digest::of(b"layer");
    let chain = chain_id(std::slice::from_ref(&diff)).unwrap();
    let s = store.scratch().unwrap();
    fs::create_dir(s.path().join("bin")).unwrap();
    fs::write(s.path().join("bin/sh"), b"a shell binary").unwrap();
    let snap = store
        .commit_verified_snapshot(&chain, s.keep(), &diff)
        .unwrap();
    fs::write(snap.join("bin/sh"), b"a sh").unwrap();
    let report = store.check().unwrap();
    assert_eq!(report.damaged_snapshots.len(), 1, "{report:?}");
    assert_eq!(report.damaged_snapshots[0].0, chain);
    assert!(report.damaged_snapshots[0].1.contains("file bytes"));
}

#[test]
fn f2_load_refuses_a_blob_whose_bytes_do_not_match_its_digest() {
    let (_d, src) = store();
    let img = common::put_image(&src, &["payload-to-tamper"]);
    let refs = [("app:1".to_string(), img)];
    let (mut oci, mut docker) = (Vec::new(), Vec::new());
    src.export_oci_archive(&refs, &mut oci).unwrap();
    src.export_docker_archive(&refs, &mut docker).unwrap();
    for (format, mut tar) in [("oci", oci), ("docker", docker)] {
        // Flip a byte of the layer: its member name (its digest) stays the same.
        let pos = tar
            .windows(b"payload-to-tamper".len())
            .rposition(|w| w == b"payload-to-tamper")
            .unwrap();
        tar[pos] = b'P';
        let (_d2, dst) = store();
        let err = dst.import_archive(&mut tar.as_slice()).unwrap_err();
        assert!(
            common::chain(&err).contains("digest mismatch"),
            "{format}: {err}"
        );
        assert!(dst.tags().unwrap().is_empty(), "{format}");
        assert!(dst.check().unwrap().is_ok(), "{format}");
    }
}

#[test]
fn a_snapshot_vouched_for_once_is_not_vouched_for_after_it_was_replaced() {
    // verified_snapshot remembers the records it has read (one query per layer, not per
    // step); a directory swapped in behind its back is another inode, so it must miss.
    let (d, store) = store();
    let (chain, snap) = commit_one_file(&store, b"genuine");
    assert_eq!(store.verified_snapshot(&chain), Some(snap.clone()));
    let aside = d.path().join("aside");
    fs::rename(&snap, &aside).unwrap();
    fs::create_dir(&snap).unwrap();
    fs::write(snap.join("f"), b"swapped in").unwrap();
    assert_eq!(store.verified_snapshot(&chain), None);
    // The same directory back in place is vouched for again.
    fs::remove_dir_all(&snap).unwrap();
    fs::rename(&aside, &snap).unwrap();
    assert_eq!(store.verified_snapshot(&chain), Some(snap));
}
