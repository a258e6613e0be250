//! check, prune, disk usage, leases.

mod common;

use std::fs;
use std::os::unix::fs::PermissionsExt;

use common::{layers_of, put_image, store};
use rbuild_oci::{chain_id, Digest};
use rbuild_store::{PruneOptions, Store};

#[test]
fn check_passes_on_a_sound_store() {
    let (_d, store) = store();
    let img = put_image(&store, &["a", "b"]);
    store.set_tag("app:1", &img).unwrap();
    let report = store.check().unwrap();
    assert!(report.is_ok(), "{report:?}");
    assert_eq!(report.blobs_checked, 4);
}

#[test]
fn check_finds_a_corrupted_blob() {
    let (_d, store) = store();
    let img = put_image(&store, &["a"]);
    store.set_tag("app:1", &img).unwrap();
    let layer = &layers_of(&store, &img)[0];
    let path = store.blob_path(layer);
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    fs::write(&path, b"garbage").unwrap();
    let report = store.check().unwrap();
    assert_eq!(
        report.corrupt,
        vec![(layer.clone(), Digest::of(b"garbage"))]
    );
    assert!(!report.is_ok());
}

#[test]
fn check_finds_a_missing_layer() {
    let (_d, store) = store();
    let img = put_image(&store, &["a"]);
    store.set_tag("app:1", &img).unwrap();
    let layer = layers_of(&store, &img)[0].clone();
    fs::remove_file(store.blob_path(&layer)).unwrap();
    let report = store.check().unwrap();
    assert_eq!(report.missing, vec![("app:1".to_string(), layer)]);
}

#[test]
fn prune_keeps_tagged_images_and_removes_the_rest() {
    let (_d, store) = store();
    let kept = put_image(&store, &["kept1", "kept2"]);
    let gone = put_image(&store, &["gone"]);
    store.set_tag("app:1", &kept).unwrap();
    let kept_layers = layers_of(&store, &kept);
    let gone_layer = layers_of(&store, &gone)[0].clone();
    // Snapshots: one for the tagged chain, one orphan.
    let kept_chain = chain_id(&kept_layers[..1]).unwrap();
    let orphan_chain = Digest::of(b"orphan");
    for id in [&kept_chain, &orphan_chain] {
        let s = store.scratch().unwrap();
        fs::write(s.path().join("f"), b"data").unwrap();
        store.commit_verified_snapshot(id, s.keep(), id).unwrap();
    }
    store
        .kv_put_refs("cache", "k-gone", b"v", std::slice::from_ref(&gone_layer))
        .unwrap();
    store
        .kv_put_refs("cache", "k-kept", b"v", &[kept_layers[0].clone()])
        .unwrap();
    store.kv_put("cache", "plain", b"v").unwrap();
    // Reopen so the snapshots we just looked up are not leased by this handle.
    let root = store.root().to_path_buf();
    drop(store);
    let store = Store::open(&root).unwrap();

    let report = store.prune(&PruneOptions::default()).unwrap();
    assert_eq!(report.blobs_removed, 3, "{report:?}"); // layer, config, manifest of `gone`
    assert_eq!(report.snapshots_removed, 1);
    assert_eq!(report.cache_entries_removed, 1);
    assert!(store.has_blob(&kept.digest));
    assert!(kept_layers.iter().all(|l| store.has_blob(l)));
    assert!(!store.has_blob(&gone_layer));
    assert!(store.snapshot(&kept_chain).is_some());
    assert!(store.snapshot(&orphan_chain).is_none());
    assert_eq!(store.kv_get("cache", "k-gone").unwrap(), None);
    assert!(store.kv_get("cache", "k-kept").unwrap().is_some());
    assert!(store.check().unwrap().is_ok());

    let all = store
        .prune(&PruneOptions {
            all: true,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(all.cache_entries_removed, 2);
    assert_eq!(all.blobs_removed, 0);
}

#[test]
fn prune_spares_what_another_live_store_created_or_protects() {
    let (_d, store) = store();
    let old = put_image(&store, &["old"]);
    let protected = put_image(&store, &["protected"]);
    let root = store.root().to_path_buf();
    // Past the 1 s slack prune allows for timestamps, on the filesystem's own clock.
    wait_fs_clock_past(&store, &store.blob_path(&old.digest), 1_100_000_000);
    drop(store);
    let builder = Store::open(&root).unwrap();
    builder.protect(&protected.digest).unwrap();
    let fresh = put_image(&builder, &["fresh"]);
    let pruner = Store::open(&root).unwrap();
    pruner.prune(&PruneOptions::default()).unwrap();
    assert!(!pruner.has_blob(&old.digest));
    assert!(pruner.has_blob(&protected.digest));
    assert!(
        pruner.has_blob(&fresh.digest),
        "new work of a live process is kept"
    );
    drop(builder);
    pruner.prune(&PruneOptions::default()).unwrap();
    assert!(!pruner.has_blob(&fresh.digest));
    assert!(!pruner.has_blob(&protected.digest));
}

/// The change time of `path`, in nanoseconds.
fn ctime(path: &std::path::Path) -> i128 {
    use std::os::unix::fs::MetadataExt;
    let m = fs::symlink_metadata(path).unwrap();
    m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128
}

/// Waits until a file changed now gets a change time more than `nanos` after `path`'s: the
/// kernel's file timestamps are coarser than any clock a sleep measures.
fn wait_fs_clock_past(store: &Store, path: &std::path::Path, nanos: i128) {
    let target = ctime(path) + nanos;
    let probe = store.root().join("clock-probe");
    let start = std::time::Instant::now();
    loop {
        fs::write(&probe, b"tick").unwrap();
        if ctime(&probe) > target {
            fs::remove_file(&probe).unwrap();
            return;
        }
        assert!(
            start.elapsed().as_secs() < 60,
            "the file clock stands still"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

#[test]
fn keep_storage_removes_oldest_first() {
    let (_d, store) = store();
    let first = put_image(&store, &["first"]);
    // "Oldest" is by change time: the second image's must be later, whatever the clock's grain.
    wait_fs_clock_past(&store, &store.blob_path(&first.digest), 0);
    let second = put_image(&store, &["second"]);
    let total: u64 = store.disk_usage().unwrap().blob_bytes;
    let second_size = store.image_size(&second);
    let report = store
        .prune(&PruneOptions {
            keep_storage: Some(second_size),
            ..Default::default()
        })
        .unwrap();
    assert_eq!(report.bytes_freed, total - second_size, "{report:?}");
    assert!(!store.has_blob(&first.digest));
    assert!(store.has_blob(&second.digest));
}

#[test]
fn older_than_spares_recent_work_and_collect_garbage_then_trims_to_size() {
    let (_d, store) = store();
    let old = put_image(&store, &["old"]);
    // The old image must be more than 2 s old on the filesystem's clock.
    wait_fs_clock_past(&store, &store.blob_path(&old.digest), 2_100_000_000);
    let first = put_image(&store, &["first"]);
    wait_fs_clock_past(&store, &store.blob_path(&first.digest), 0);
    let second = put_image(&store, &["second"]);
    let one_second = Some(std::time::Duration::from_secs(1));
    let report = store
        .prune(&PruneOptions {
            older_than: one_second,
            ..Default::default()
        })
        .unwrap();
    assert_eq!(report.blobs_removed, 3, "{report:?}");
    assert!(!store.has_blob(&old.digest));
    assert!(store.has_blob(&first.digest) && store.has_blob(&second.digest));
    // Nothing is old any more: the size phase removes the oldest of the recent ones.
    let keep = store.image_size(&second);
    let minute = Some(std::time::Duration::from_secs(60));
    let report = store.collect_garbage(minute, Some(keep)).unwrap();
    assert_eq!(report.blobs_removed, 3, "{report:?}");
    assert!(!store.has_blob(&first.digest));
    assert!(store.has_blob(&second.digest));
}

#[test]
fn disk_usage_and_images() {
    let (_d, store) = store();
    let img = put_image(&store, &["a", "b"]);
    let _loose = put_image(&store, &["c"]);
    store.set_tag("app:1", &img).unwrap();
    let du = store.disk_usage().unwrap();
    assert_eq!(du.blobs, 7);
    let images = store.images().unwrap();
    assert_eq!(images.len(), 1);
    assert_eq!(images[0].tag, "app:1");
    assert_eq!(images[0].created.as_deref(), Some("2024-01-01T00:00:00Z"));
    assert_eq!(images[0].size, store.image_size(&img));
    assert_eq!(du.reclaimable_bytes + images[0].size, du.blob_bytes);
}

#[test]
fn a_lease_lists_each_protected_id_once() {
    // A step on N layers protects all N again; the lease must not grow by N per step.
    let (d, store) = store();
    let id = Digest::of(b"snapshot");
    for _ in 0..3 {
        store.protect(&id).unwrap();
    }
    let leases = d.path().join("root/leases");
    let texts: Vec<String> = fs::read_dir(&leases)
        .unwrap()
        .map(|e| fs::read_to_string(e.unwrap().path()).unwrap())
        .collect();
    assert_eq!(texts.len(), 1, "{texts:?}");
    assert_eq!(texts[0].matches(&id.to_string()).count(), 1, "{}", texts[0]);
}
