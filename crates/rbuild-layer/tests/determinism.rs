//! Same tree → same bytes; SOURCE_DATE_EPOCH clamps; decompress sniffs all three formats.

mod common;

use std::io::{Read, Write};
use std::path::Path;

use common::*;
use rbuild_layer::{decompress, write_layer, Compression, LayerDigests, WriteOptions};

fn tree(d: &Path, variant: u8) {
    // Create in a different order per variant: readdir order must not leak into the tar.
    let names = ["m", "a", "z/y", "z/b", "Q", "é", "a-b/c"];
    let order: Vec<&str> = if variant == 0 {
        names.to_vec()
    } else {
        names.iter().rev().copied().collect()
    };
    for n in order {
        write(&d.join(n), n.as_bytes());
    }
    for n in names.iter().chain(["z", "a-b"].iter()) {
        let t = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: 7 + i64::from(variant),
                tv_nsec: 5,
            },
            last_modification: rustix::fs::Timespec {
                tv_sec: 2_000_000_000,
                tv_nsec: 123,
            },
        };
        rustix::fs::utimensat(rustix::fs::CWD, d.join(n), &t, rustix::fs::AtFlags::empty())
            .unwrap();
    }
}

fn digests(d: &Path, compression: Compression, epoch: Option<i64>) -> (LayerDigests, Vec<u8>) {
    let mut out = Vec::new();
    let opts = WriteOptions {
        compression,
        source_date_epoch: epoch,
    };
    (write_layer(d, &opts, &mut out).unwrap(), out)
}

const ALL: [Compression; 3] = [
    Compression::None,
    Compression::Gzip { level: 6 },
    Compression::Zstd { level: 3 },
];

#[test]
fn same_tree_same_digests() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    tree(a.path(), 0);
    tree(b.path(), 1); // other creation order, other atimes
    for c in ALL {
        let (da, ba) = digests(a.path(), c, None);
        let (db, bb) = digests(b.path(), c, None);
        assert_eq!(da, db, "{c:?}");
        assert_eq!(ba, bb);
        assert_eq!(da.media_type, c.media_type());
    }
}

#[test]
fn source_date_epoch_clamps_only_later_mtimes() {
    let t = tempfile::tempdir().unwrap();
    tree(t.path(), 0);
    write(&t.path().join("old"), b"o");
    let past = rustix::fs::Timestamps {
        last_access: rustix::fs::Timespec {
            tv_sec: 10,
            tv_nsec: 0,
        },
        last_modification: rustix::fs::Timespec {
            tv_sec: 10,
            tv_nsec: 0,
        },
    };
    rustix::fs::utimensat(
        rustix::fs::CWD,
        t.path().join("old"),
        &past,
        rustix::fs::AtFlags::empty(),
    )
    .unwrap();
    let (_, raw) = digests(t.path(), Compression::None, Some(1_000));
    for l in list_tar(&raw) {
        let want = if l.path == "old" { 10 } else { 1_000 };
        // The root dir's own mtime is not in the layer; every other entry is clamped.
        assert_eq!(l.mtime, want, "{}", l.path);
    }
    let (plain, _) = digests(t.path(), Compression::None, None);
    let (clamped, _) = digests(t.path(), Compression::None, Some(1_000));
    assert_ne!(plain.diff_id, clamped.diff_id);
}

#[test]
fn gzip_header_has_no_timestamp_or_name() {
    let t = tempfile::tempdir().unwrap();
    tree(t.path(), 0);
    let (_, blob) = digests(t.path(), Compression::default(), None);
    assert_eq!(&blob[..4], &[0x1f, 0x8b, 8, 0], "no FNAME/FEXTRA flags");
    assert_eq!(&blob[4..8], &[0, 0, 0, 0], "mtime 0");
}

#[test]
fn decompress_sniffs_every_format() {
    let t = tempfile::tempdir().unwrap();
    tree(t.path(), 0);
    let (_, plain) = digests(t.path(), Compression::None, None);
    for c in ALL {
        let (d, blob) = digests(t.path(), c, None);
        let mut r = decompress(Box::new(std::io::Cursor::new(blob))).unwrap();
        let mut raw = Vec::new();
        r.read_to_end(&mut raw).unwrap();
        assert_eq!(raw, plain, "{c:?}");
        assert_eq!(d.diff_id, rbuild_oci::Digest::of(&raw));
    }
}

#[test]
fn decompress_reads_multi_member_gzip_and_tiny_inputs() {
    let mut blob = Vec::new();
    for part in [&b"hello "[..], b"world"] {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(part).unwrap();
        blob.extend(enc.finish().unwrap());
    }
    let mut out = String::new();
    decompress(Box::new(std::io::Cursor::new(blob)))
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    assert_eq!(out, "hello world");
    for tiny in [&b""[..], b"a", b"\x1f"] {
        let mut out = Vec::new();
        decompress(Box::new(std::io::Cursor::new(tiny.to_vec())))
            .unwrap()
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, tiny);
    }
}
