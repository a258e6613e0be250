//! F2: a layer is only accepted when its whole uncompressed stream hashes to its diff_id.

use std::io::Write;

use rbuild_layer::{apply_layer_verified, decompress, ApplyOptions, LayerError};
use rbuild_oci::Digest;

/// A one-file tar, as `tar` writes it (two zero blocks at the end).
fn tar_with(name: &str, data: &[u8]) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_ustar();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    b.append_data(&mut h, name, data).unwrap();
    b.into_inner().unwrap()
}

fn apply(tar: &[u8], diff_id: &Digest) -> (tempfile::TempDir, Result<u64, LayerError>) {
    let dir = tempfile::tempdir().unwrap();
    let res = apply_layer_verified(&mut &tar[..], dir.path(), &ApplyOptions::default(), diff_id);
    (dir, res.map(|s| s.entries))
}

#[test]
fn f2_unpack_accepts_a_layer_whose_diff_id_matches() {
    let tar = tar_with("etc/motd", b"hello");
    let (dir, res) = apply(&tar, &Digest::of(&tar));
    assert_eq!(res.unwrap(), 1);
    assert_eq!(
        std::fs::read(dir.path().join("etc/motd")).unwrap(),
        b"hello"
    );
}

#[test]
fn f2_unpack_refuses_a_layer_whose_diff_id_differs() {
    let genuine = tar_with("bin/sh", b"the real shell");
    let poisoned = tar_with("bin/sh", b"a backdoor");
    let claimed = Digest::of(&genuine);
    let (_dir, res) = apply(&poisoned, &claimed);
    match res {
        Err(LayerError::DiffIdMismatch { expected, actual }) => {
            assert_eq!(expected, claimed);
            assert_eq!(actual, Digest::of(&poisoned));
        }
        other => panic!("poisoned layer accepted: {other:?}"),
    }
    let shown = LayerError::DiffIdMismatch {
        expected: claimed.clone(),
        actual: Digest::of(&poisoned),
    }
    .to_string();
    assert!(
        shown.contains(&claimed.to_string()) && shown.contains(&Digest::of(&poisoned).to_string())
    );
}

#[test]
fn f2_bytes_after_the_end_of_archive_count_in_the_diff_id() {
    let tar = tar_with("a", b"a");
    let mut padded = tar.clone();
    padded.extend_from_slice(b"trailing bytes after the end-of-archive blocks");
    // The applier stops at the end marker; the rest must still be hashed.
    let (_d, res) = apply(&padded, &Digest::of(&tar));
    assert!(
        matches!(res, Err(LayerError::DiffIdMismatch { .. })),
        "{res:?}"
    );
    let (_d, res) = apply(&padded, &Digest::of(&padded));
    assert_eq!(res.unwrap(), 1);
}

#[test]
fn f2_the_diff_id_is_of_the_decompressed_stream() {
    let tar = tar_with("x", b"compressed");
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(&tar).unwrap();
    let gz = gz.finish().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut reader = decompress(Box::new(std::io::Cursor::new(gz.clone()))).unwrap();
    let opts = ApplyOptions::default();
    apply_layer_verified(&mut reader, dir.path(), &opts, &Digest::of(&tar)).unwrap();
    let mut reader = decompress(Box::new(std::io::Cursor::new(gz.clone()))).unwrap();
    let err = apply_layer_verified(&mut reader, dir.path(), &opts, &Digest::of(&gz));
    assert!(matches!(err, Err(LayerError::DiffIdMismatch { .. })));
}

/// An error and its sources, one line.
fn chain(e: &dyn std::error::Error) -> String {
    let errors = std::iter::successors(Some(e), |e| e.source());
    errors.map(|e| e.to_string()).collect::<Vec<_>>().join(": ")
}

/// Yields `data`, then fails: a blob cut short by a disk error or a dropped connection.
struct FailsAfter<'a> {
    data: &'a [u8],
}

impl std::io::Read for FailsAfter<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.data.is_empty() {
            return Err(std::io::Error::other("disk gone"));
        }
        let n = buf.len().min(self.data.len()).min(1000);
        buf[..n].copy_from_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Ok(n)
    }
}

#[test]
fn a_read_error_fails_the_unpack_even_after_the_archive_looks_complete() {
    // The reading thread hits the error after the whole tar was handed over; the applier must
    // not report the layer unpacked (nor the error go unseen) while the rest is unhashed.
    let tar = tar_with("etc/motd", b"hello");
    let dir = tempfile::tempdir().unwrap();
    let mut src = FailsAfter { data: &tar };
    let res = apply_layer_verified(
        &mut src,
        dir.path(),
        &ApplyOptions::default(),
        &Digest::of(&tar),
    );
    let err = res.expect_err("an unreadable stream is not a verified layer");
    match err {
        LayerError::Read(e) => assert!(e.to_string().contains("disk gone"), "{e}"),
        other => panic!("expected the read error, got {other:?}"),
    }

    // Cut inside an entry, and at an entry boundary (which a tar reader takes for the end
    // of the archive): either way the caller gets the read's error, not a tar or diff_id one.
    let big = tar_with("etc/big", &[7u8; 3000]);
    for (tar, cut) in [(&big, 1500), (&tar, 1024)] {
        let mut src = FailsAfter { data: &tar[..cut] };
        let dir = tempfile::tempdir().unwrap();
        let res = apply_layer_verified(
            &mut src,
            dir.path(),
            &ApplyOptions::default(),
            &Digest::of(tar),
        );
        let err = res.expect_err("a stream that fails is not a layer");
        assert!(
            chain(&err).contains("disk gone"),
            "cut at {cut}: {}",
            chain(&err)
        );
    }
}

#[test]
fn a_large_layer_streams_through_many_chunks_and_verifies() {
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let tar = tar_with("big.bin", &data);
    let (dir, res) = apply(&tar, &Digest::of(&tar));
    assert_eq!(res.unwrap(), 1);
    assert_eq!(std::fs::read(dir.path().join("big.bin")).unwrap(), data);
    let mut wrong = tar.clone();
    wrong.extend_from_slice(&[0u8; 512]);
    let (_dir, res) = apply(&tar, &Digest::of(&wrong));
    assert!(matches!(res, Err(LayerError::DiffIdMismatch { .. })));
}
