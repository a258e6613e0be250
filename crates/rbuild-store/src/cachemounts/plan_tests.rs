//! The import checks against hostile artifacts: nothing that could write outside the mount
//! or through a link gets past `plan`.

use rbuild_oci::{Descriptor, Digest};

use super::error::CacheMountError;
use super::format::{Entry, Kind, PartConfig, Piece, RootMeta, CACHE_MOUNT_CHUNK};
use super::plan::{plan, Use};

fn entry(path: &str, kind: Kind) -> Entry {
    Entry {
        path: path.into(),
        kind,
        mode: 0o755,
        uid: 0,
        gid: 0,
        mtime: [1, 2],
        size: 0,
        target: None,
        chunks: Vec::new(),
    }
}

fn file(path: &str, pieces: &[[u64; 3]]) -> Entry {
    let mut e = entry(path, Kind::File);
    e.size = pieces.iter().map(|p| p[2]).sum();
    e.chunks = pieces
        .iter()
        .map(|p| Piece(p[0], p[1], p[2], Digest::of(b"x")))
        .collect();
    e
}

fn link(path: &str, kind: Kind, target: &str) -> Entry {
    let mut e = entry(path, kind);
    e.target = Some(target.into());
    e
}

fn chunk(n: u8, size: u64) -> Descriptor {
    Descriptor::new(CACHE_MOUNT_CHUNK, Digest::of(&[n]), size)
}

fn one_part(entries: Vec<Entry>) -> Vec<(PartConfig, Vec<Descriptor>)> {
    let config = PartConfig {
        id: "m".into(),
        part: 0,
        parts: 1,
        root: RootMeta::default(),
        entries,
    };
    vec![(config, vec![chunk(0, 100), chunk(1, 10)])]
}

fn refused(entries: Vec<Entry>) -> String {
    match plan("m", one_part(entries)) {
        Err(e @ CacheMountError::Unsafe { .. }) => e.to_string(),
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn escaping_paths_are_refused() {
    for path in [
        "../x",
        "/etc/passwd",
        "a/../../b",
        "./x",
        "a//b",
        "",
        "a/",
        "x\0y",
    ] {
        let why = refused(vec![entry("a", Kind::Dir), file(path, &[[0, 0, 1]])]);
        assert!(why.contains("refusing entry"), "{path:?}: {why}");
    }
}

#[test]
fn nothing_is_written_through_a_symlink_or_outside_a_declared_directory() {
    // A symlink to a host directory, then a file "inside" it.
    let why = refused(vec![
        link("l", Kind::Symlink, "/etc"),
        file("l/passwd", &[[0, 0, 4]]),
    ]);
    assert!(why.contains("parent is not an earlier directory"), "{why}");
    // A file whose directory the mount never declared, or declared later.
    refused(vec![file("d/f", &[[0, 0, 4]])]);
    refused(vec![file("d/f", &[[0, 0, 4]]), entry("d", Kind::Dir)]);
    // The same path twice (a directory replaced by a symlink later on).
    refused(vec![entry("d", Kind::Dir), link("d", Kind::Symlink, "/")]);
    // Hardlinks only to earlier regular files of the mount.
    for target in ["/etc/shadow", "../x", "d", "later"] {
        let mut entries = vec![entry("d", Kind::Dir), link("h", Kind::Hardlink, target)];
        entries.push(file("later", &[[0, 0, 1]]));
        refused(entries);
    }
}

#[test]
fn pieces_must_lie_inside_their_chunks_and_add_up() {
    refused(vec![file("f", &[[0, 90, 20]])]);
    refused(vec![file("f", &[[2, 0, 1]])]);
    refused(vec![file("f", &[[0, u64::MAX, 2]])]);
    let mut short = file("f", &[[0, 0, 10]]);
    short.size = 11;
    refused(vec![short]);
    let mut dir_with_bytes = entry("d", Kind::Dir);
    dir_with_bytes.chunks = vec![Piece(0, 0, 1, Digest::of(b"x"))];
    refused(vec![dir_with_bytes]);
    let mut bad_mode = file("f", &[]);
    bad_mode.mode = 0o170000;
    refused(vec![bad_mode]);
}

#[test]
fn chunks_must_be_chunks_and_parts_must_fit() {
    let mut parts = one_part(vec![file("f", &[[0, 0, 1]])]);
    parts[0].1[0].media_type = "application/vnd.oci.image.layer.v1.tar".into();
    assert!(matches!(
        plan("m", parts),
        Err(CacheMountError::Invalid { .. })
    ));
    let mut parts = one_part(vec![]);
    parts[0].1[0].size = 1 << 40;
    assert!(matches!(
        plan("m", parts),
        Err(CacheMountError::Invalid { .. })
    ));
    let mut parts = one_part(vec![]);
    parts[0].0.parts = 2;
    assert!(matches!(
        plan("m", parts),
        Err(CacheMountError::Invalid { .. })
    ));
    assert!(matches!(
        plan("other", one_part(vec![])),
        Err(CacheMountError::Invalid { .. })
    ));
}

#[test]
fn a_sound_mount_plans_every_piece() {
    let entries = vec![
        entry("d", Kind::Dir),
        file("d/a", &[[0, 0, 60], [1, 0, 10]]),
        file("d/b", &[[0, 60, 40]]),
        link("d/h", Kind::Hardlink, "d/a"),
        link("d/l", Kind::Symlink, "../../anywhere"),
        entry("p", Kind::Fifo),
    ];
    let p = plan("m", one_part(entries)).unwrap();
    assert_eq!(p.entries.len(), 6);
    let use_of = |entry, at, from, len| Use {
        entry,
        at,
        from,
        len,
        digest: Digest::of(b"x"),
    };
    assert_eq!(p.uses[0], vec![use_of(1, 0, 0, 60), use_of(2, 0, 60, 40)]);
    assert_eq!(p.uses[1], vec![use_of(1, 60, 0, 10)]);
}
