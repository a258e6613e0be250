//! Opening a store: sweeping what dead processes left, the format version, privacy.

use std::fs;
use std::io::Write;

use rbuild_oci::{media_type, Descriptor};
use rbuild_store::{Store, StoreError};

fn store() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("root")).unwrap();
    (dir, store)
}

fn ingest_count(store: &Store) -> usize {
    fs::read_dir(store.root().join("ingest")).unwrap().count()
}

fn manifest_desc(store: &Store, n: u32) -> Descriptor {
    let body = format!("{{\"schemaVersion\":2,\"n\":{n}}}");
    let d = store.put_blob(body.as_bytes()).unwrap();
    Descriptor::new(media_type::OCI_MANIFEST, d, body.len() as u64)
}

#[test]
fn open_sweeps_stale_ingest_but_not_live_ones() {
    let (_d, store) = store();
    let root = store.root().to_path_buf();
    // A crashed writer leaves an unlocked file behind.
    fs::write(root.join("ingest/12345-0-deadbeef"), b"half a layer").unwrap();
    fs::create_dir_all(root.join("tmp/s-12345-1-0/upper/x")).unwrap();
    let mut live = store.ingest().unwrap();
    live.write_all(b"in progress").unwrap();
    let live_scratch = store.scratch().unwrap();
    let reopened = Store::open(&root).unwrap();
    assert!(!root.join("ingest/12345-0-deadbeef").exists());
    assert!(!root.join("tmp/s-12345-1-0").exists());
    assert_eq!(ingest_count(&reopened), 1, "the live ingest survives");
    assert!(
        live_scratch.path().is_dir(),
        "the live scratch dir survives"
    );
    let (d, _) = live.commit(None, None).unwrap();
    assert_eq!(reopened.read_blob(&d).unwrap(), b"in progress");
}

#[test]
fn newer_format_is_refused_clearly() {
    let (_d, store) = store();
    let root = store.root().to_path_buf();
    drop(store);
    let conn = rusqlite::Connection::open(root.join("cache.db")).unwrap();
    conn.execute("UPDATE meta SET value = '99' WHERE key = 'format'", [])
        .unwrap();
    drop(conn);
    let err = Store::open(&root).err().unwrap();
    assert!(
        matches!(err, StoreError::FormatTooNew { found: 99, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("newer than this rbuild supports"));
}

#[test]
fn older_format_without_a_migration_is_refused_clearly() {
    let (_d, store) = store();
    let root = store.root().to_path_buf();
    drop(store);
    let conn = rusqlite::Connection::open(root.join("cache.db")).unwrap();
    conn.execute("UPDATE meta SET value = '0' WHERE key = 'format'", [])
        .unwrap();
    drop(conn);
    let err = Store::open(&root).err().unwrap();
    assert!(
        matches!(err, StoreError::FormatUnsupported { found: 0, .. }),
        "{err}"
    );
}

#[test]
fn f8_the_store_and_its_files_are_private() {
    use std::os::unix::fs::PermissionsExt;
    let (_d, store) = store();
    store.kv_put("cache", "k", b"secret-ish").unwrap();
    store.set_tag("a:1", &manifest_desc(&store, 1)).unwrap();
    let _lease_and_lock = store.ingest().unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(store.root()), 0o700);
    let mut files = Vec::new();
    let mut stack = vec![store.root().to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let e = e.unwrap();
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                files.push(e.path());
            }
        }
    }
    assert!(files.iter().any(|p| p.ends_with("cache.db")));
    assert!(files.iter().any(|p| p.ends_with("cache.db-wal")));
    for f in &files {
        assert_eq!(mode(f) & 0o077, 0, "{} is open to others", f.display());
    }
}

#[test]
fn f8_opening_an_old_world_readable_store_makes_it_private() {
    use std::os::unix::fs::PermissionsExt;
    let (_d, store) = store();
    let root = store.root().to_path_buf();
    drop(store);
    let chmod = |p: &std::path::Path, m: u32| {
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(m)).unwrap()
    };
    chmod(&root, 0o755);
    chmod(&root.join("cache.db"), 0o644);
    chmod(&root.join("index.json"), 0o644);
    let _store = Store::open(&root).unwrap();
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&root), 0o700);
    assert_eq!(mode(&root.join("cache.db")), 0o600);
    assert_eq!(mode(&root.join("index.json")), 0o600);
}
