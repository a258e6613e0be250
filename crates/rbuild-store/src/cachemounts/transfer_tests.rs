//! Export and import through an OCI layout directory into a fresh store: the tree comes back
//! the same (bytes, modes, owners, mtimes, links), a second export copies only what changed,
//! and a tampered or hostile artifact replaces nothing. Needs root (it gives files away).

use std::collections::{BTreeMap, HashMap};
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use rbuild_oci::Digest;

use super::base::{Base, Place};
use super::error::CacheMountError;
use crate::{Sharing, Store};

fn require_root() {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test needs root: it restores files owned by other users"
    );
}

/// Deterministic noise (xorshift).
fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut s = seed | 1;
    (0..len)
        .map(|_| {
            s ^= s << 13;
            s ^= s >> 7;
            s ^= s << 17;
            s as u8
        })
        .collect()
}

/// Fills a cache mount with every kind of entry the format carries.
fn populate(data: &Path) {
    fs::create_dir_all(data.join("pkg/sub")).unwrap();
    for i in 0..40 {
        fs::write(
            data.join(format!("pkg/f{i:02}")),
            noise(100 + i * 300, i as u64),
        )
        .unwrap();
    }
    fs::write(data.join("pkg/sub/big"), noise(3 << 20, 99)).unwrap();
    fs::write(data.join("pkg/empty"), b"").unwrap();
    fs::hard_link(data.join("pkg/f01"), data.join("pkg/sub/f01-again")).unwrap();
    std::os::unix::fs::symlink("../f02", data.join("pkg/sub/to-f02")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", data.join("abs-link")).unwrap();
    rustix::fs::mknodat(
        rustix::fs::CWD,
        data.join("pipe"),
        rustix::fs::FileType::Fifo,
        0o640.into(),
        0,
    )
    .unwrap();
    fs::set_permissions(data.join("pkg/f03"), fs::Permissions::from_mode(0o4750)).unwrap();
    fs::set_permissions(data.join("pkg/sub"), fs::Permissions::from_mode(0o1777)).unwrap();
    std::os::unix::fs::lchown(data.join("pkg/f04"), Some(1234), Some(5678)).unwrap();
    std::os::unix::fs::lchown(data.join("abs-link"), Some(42), Some(43)).unwrap();
    let t = fs::FileTimes::new()
        .set_modified(std::time::UNIX_EPOCH + std::time::Duration::new(1_000_000, 123));
    fs::File::options()
        .write(true)
        .open(data.join("pkg/f05"))
        .unwrap()
        .set_times(t)
        .unwrap();
}

/// Every entry under `root` (root included as ""): kind, mode, owner, mtime, content digest or
/// link target, and hardlink group.
fn describe(root: &Path) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut groups: HashMap<u64, String> = HashMap::new();
    let mut todo = vec![String::new()];
    while let Some(rel) = todo.pop() {
        let path = if rel.is_empty() {
            root.to_path_buf()
        } else {
            root.join(&rel)
        };
        let m = fs::symlink_metadata(&path).unwrap();
        let what = if m.is_dir() {
            for e in fs::read_dir(&path).unwrap() {
                let name = e.unwrap().file_name().into_string().unwrap();
                todo.push(if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                });
            }
            "dir".to_string()
        } else if m.is_symlink() {
            format!("-> {}", fs::read_link(&path).unwrap().display())
        } else if m.is_file() {
            let group = groups.entry(m.ino()).or_insert_with(|| rel.clone());
            format!("{} ({group})", Digest::of(&fs::read(&path).unwrap()))
        } else {
            "other".to_string()
        };
        let mtime = if m.is_dir() {
            0
        } else {
            m.mtime() * 1_000_000_000 + m.mtime_nsec()
        };
        let line = format!("{what} {:o} {}:{} {mtime}", m.mode(), m.uid(), m.gid());
        out.insert(rel, line);
    }
    out
}

fn store(dir: &Path, name: &str) -> Store {
    Store::open(&dir.join(name)).unwrap()
}

#[test]
fn a_mount_round_trips_through_a_layout_directory_into_a_fresh_store() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let a = store(t.path(), "a");
    let data = a.cache_mount("go", Sharing::Locked).unwrap().data;
    populate(&data);
    let before = describe(&data);
    let export = a.export_cache_mounts(&[], &Base::empty()).unwrap();
    assert_eq!(export.mounts.len(), 1);
    let stats = &export.mounts[0].stats;
    assert_eq!((stats.files, stats.chunks), (42, 1), "one pack: {stats:?}");
    let layout = t.path().join("layout");
    let copied = a.write_cache_layout(&export, &layout, "latest").unwrap();
    assert_eq!(copied.present, 0);
    let b = store(t.path(), "b");
    let done = b.import_cache_layout(&layout, "latest", &[]).unwrap();
    assert_eq!((done.len(), done[0].replaced), (1, false));
    assert_eq!(
        done[0].fetched, done[0].chunks,
        "a fresh store fetches every chunk"
    );
    let restored = b.cache_mount("go", Sharing::Shared).unwrap();
    assert!(!restored.created);
    assert_eq!(describe(&restored.data), before);
    assert_eq!(b.cache_mount_list().unwrap()[0].id, "go");
}

/// Exports the store's mounts on top of what `layout` holds as `base_tag`, writes the result
/// as `tag`; what the export found and what was copied.
fn export_over(
    a: &Store,
    layout: &Path,
    base_tag: &str,
    tag: &str,
) -> (super::PackStats, crate::CopyReport) {
    let base = Base::from_layout(layout, base_tag).unwrap();
    let export = a.export_cache_mounts(&[], &base).unwrap();
    let copied = a.write_cache_layout(&export, layout, tag).unwrap();
    (export.mounts[0].stats.clone(), copied)
}

#[test]
fn a_second_export_sends_only_the_changed_file_and_compacts_mostly_dead_packs() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let a = store(t.path(), "a");
    let data = a.cache_mount("npm", Sharing::Locked).unwrap().data;
    populate(&data);
    let layout = t.path().join("layout");
    let (first, _) = export_over(&a, &layout, "none", "v1");
    assert_eq!(
        (first.new_chunks, first.reused_bytes, first.compacted),
        (1, 0, 0),
        "{first:?}"
    );
    let b = store(t.path(), "b");
    b.import_cache_layout(&layout, "v1", &[]).unwrap();
    fs::write(data.join("pkg/f07"), b"changed").unwrap();
    let (second, copied) = export_over(&a, &layout, "v1", "v2");
    assert_eq!((second.new_chunks, second.new_bytes), (1, 7), "{second:?}");
    assert_eq!(second.reused_bytes, second.bytes - 7);
    // The new pack, the config, the manifest and the index.
    assert_eq!(copied.copied, 4, "{copied:?}");
    let done = b.import_cache_layout(&layout, "v2", &[]).unwrap();
    assert!(done[0].replaced);
    assert_eq!(
        describe(&b.cache_mount("npm", Sharing::Shared).unwrap().data),
        describe(&data)
    );
    // Rewriting the big file leaves the first pack mostly unused: its live pieces move.
    fs::write(data.join("pkg/sub/big"), noise(3 << 20, 100)).unwrap();
    let (third, _) = export_over(&a, &layout, "v2", "v3");
    assert_eq!(third.compacted, 1, "{third:?}");
    assert_eq!(
        third.reused_bytes, 7,
        "only f07's piece stays where it was: {third:?}"
    );
    b.import_cache_layout(&layout, "v3", &[]).unwrap();
    assert_eq!(
        describe(&b.cache_mount("npm", Sharing::Shared).unwrap().data),
        describe(&data)
    );
    assert!(matches!(
        b.import_cache_layout(&layout, "v3", &["nope".into()]),
        Err(CacheMountError::NotInArtifact { .. })
    ));
}

#[test]
fn a_lying_destination_makes_an_artifact_that_imports_refuse() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let a = store(t.path(), "a");
    let data = a.cache_mount("go", Sharing::Locked).unwrap().data;
    populate(&data);
    let layout = t.path().join("layout");
    let (first, _) = export_over(&a, &layout, "none", "v1");
    assert_eq!(first.new_chunks, 1);
    let pack = a.export_cache_mounts(&[], &Base::empty()).unwrap().parts[0].chunks[0].clone();
    fs::write(data.join("pkg/f07"), b"changed").unwrap();
    // The destination claims f07's new bytes are the first 7 bytes of the old pack.
    let mut base = Base::from_layout(&layout, "v1").unwrap();
    let place = Place {
        pack,
        offset: 0,
        len: 7,
    };
    base.insert(Digest::of(b"changed"), place);
    let export = a.export_cache_mounts(&[], &base).unwrap();
    assert_eq!(export.mounts[0].stats.new_chunks, 0);
    a.write_cache_layout(&export, &layout, "v2").unwrap();
    let b = store(t.path(), "b");
    let err = b.import_cache_layout(&layout, "v2", &[]).unwrap_err();
    assert!(
        matches!(err, CacheMountError::PieceMismatch { .. }),
        "{err}"
    );
    assert!(b.cache_mount_list().unwrap().is_empty(), "nothing imported");
}

#[test]
fn a_mount_in_use_or_a_tampered_chunk_replaces_nothing() {
    require_root();
    let t = tempfile::tempdir().unwrap();
    let a = store(t.path(), "a");
    populate(&a.cache_mount("apt", Sharing::Locked).unwrap().data);
    let layout = t.path().join("layout");
    let export = a.export_cache_mounts(&[], &Base::empty()).unwrap();
    a.write_cache_layout(&export, &layout, "latest").unwrap();
    let b = store(t.path(), "b");
    let held = b.cache_mount("apt", Sharing::Shared).unwrap();
    fs::write(held.data.join("mine"), b"keep").unwrap();
    let busy = b.import_cache_layout(&layout, "latest", &[]).unwrap_err();
    assert!(matches!(busy, CacheMountError::Busy(_)), "{busy}");
    drop(held);
    let chunk = &export.parts[0].chunks[0];
    let blob = layout.join("blobs/sha256").join(chunk.digest.hex());
    let mut bytes = fs::read(&blob).unwrap();
    bytes[0] ^= 1;
    fs::write(&blob, bytes).unwrap();
    let bad = b.import_cache_layout(&layout, "latest", &[]).unwrap_err();
    assert!(matches!(bad, CacheMountError::Mismatch { .. }), "{bad}");
    let kept = b.cache_mount("apt", Sharing::Shared).unwrap().data;
    assert_eq!(fs::read(kept.join("mine")).unwrap(), b"keep");
    assert_eq!(
        fs::read_dir(b.root().join("tmp")).unwrap().count(),
        0,
        "no scratch left"
    );
}
