//! `apply_layer_verified`: unpack a layer and prove it is the layer the image claims.
//!
//! The diff_id is the sha256 of the whole uncompressed stream, so the stream is hashed as the
//! applier reads it and whatever follows the tar's end-of-archive blocks is drained into the
//! hash too: otherwise bytes an attacker appends would change nothing we check.

use std::io::{self, Read};
use std::path::Path;

use rbuild_oci::Digest;
use sha2::{Digest as _, Sha256};

use crate::apply::{apply_layer, ApplyOptions, ApplyStats};
use crate::error::LayerError;

/// A reader that hashes and counts every byte passing through it.
pub struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    read: u64,
}

impl<R: Read> HashingReader<R> {
    /// Wraps `inner`.
    pub fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            read: 0,
        }
    }

    /// Reads `inner` to its end (into the hash) and returns the digest and byte count.
    pub fn finish(mut self) -> io::Result<(Digest, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        let hex = hex::encode(self.hasher.finalize());
        let digest = Digest::from_hex(&hex).map_err(io::Error::other)?;
        Ok((digest, self.read))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

/// [`apply_layer`], then checks that the whole uncompressed stream hashes to
/// `expected_diff_id`; `LayerError::DiffIdMismatch` otherwise.
///
/// The check can only end once everything is unpacked: on any error `target` holds partial
/// or unverified content, so unpack into a scratch directory and discard it on error.
pub fn apply_layer_verified(
    tar: &mut dyn Read,
    target: &Path,
    opts: &ApplyOptions,
    expected_diff_id: &Digest,
) -> Result<ApplyStats, LayerError> {
    let mut hashing = HashingReader::new(tar);
    let stats = apply_layer(&mut hashing, target, opts)?;
    let (actual, _) = hashing.finish().map_err(LayerError::Read)?;
    if &actual != expected_diff_id {
        return Err(LayerError::DiffIdMismatch {
            expected: expected_diff_id.clone(),
            actual,
        });
    }
    Ok(stats)
}
