//! A layer blob in another compression: the same tar, so the same diff_id, another digest.
//! The tar bytes go through the very compressor `write_layer` uses, so a layer converted to
//! zstd is byte for byte the blob a zstd build of the same step writes.

use std::io::{self, Read, Write};

use rbuild_oci::{Digest, Sha256Writer};

use crate::compression::{decompress, Compression, Compressor};
use crate::error::LayerError;

/// The converted blob.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recompressed {
    /// sha256 of the new blob.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// Its OCI media type.
    pub media_type: &'static str,
}

/// Bytes read from the decompressed stream at a time.
const CHUNK: usize = 256 * 1024;

/// Streams the layer blob `blob` (any compression), compressed as `to`, into `out`; fails
/// with [`LayerError::DiffIdMismatch`] unless the tar hashes to `diff_id`.
pub fn recompress(
    blob: Box<dyn Read + Send>,
    to: Compression,
    diff_id: &Digest,
    out: &mut dyn Write,
) -> Result<Recompressed, LayerError> {
    let mut tar = decompress(blob)?;
    let digest_w = Sha256Writer::new(out);
    let comp = Compressor::new(digest_w, to).map_err(LayerError::Write)?;
    let mut diff_w = Sha256Writer::new(comp);
    let mut buf = vec![0u8; CHUNK];
    loop {
        let n = match tar.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(LayerError::Read(e)),
        };
        diff_w.write_all(&buf[..n]).map_err(LayerError::Write)?;
    }
    let (actual, _, comp) = diff_w.finish();
    if actual != *diff_id {
        return Err(LayerError::DiffIdMismatch {
            expected: diff_id.clone(),
            actual,
        });
    }
    let digest_w = comp.finish().map_err(LayerError::Write)?;
    let (digest, size, out) = digest_w.finish();
    out.flush().map_err(LayerError::Write)?;
    Ok(Recompressed {
        digest,
        size,
        media_type: to.media_type(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::writer::{write_layer, WriteOptions};

    fn layer(dir: &std::path::Path, compression: Compression) -> (Vec<u8>, Digest, Digest) {
        let mut out = Vec::new();
        let opts = WriteOptions {
            compression,
            source_date_epoch: Some(0),
        };
        let d = write_layer(dir, &opts, &mut out).unwrap();
        (out, d.digest, d.diff_id)
    }

    #[test]
    fn a_converted_layer_is_the_blob_a_build_in_that_compression_writes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), vec![7u8; 3 << 20]).unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/b"), b"small").unwrap();
        let (gz, _, diff_id) = layer(dir.path(), Compression::default());
        let (_, zstd_digest, _) = layer(dir.path(), Compression::Zstd { level: 3 });
        let mut out = Vec::new();
        let to = Compression::Zstd { level: 3 };
        let r = recompress(
            Box::new(io::Cursor::new(gz.clone())),
            to,
            &diff_id,
            &mut out,
        )
        .unwrap();
        assert_eq!(r.digest, zstd_digest);
        assert_eq!((r.size, r.media_type), (out.len() as u64, to.media_type()));
        // And back: zstd to gzip gives the gzip build's blob.
        let mut back = Vec::new();
        let g = recompress(
            Box::new(io::Cursor::new(out)),
            Compression::default(),
            &diff_id,
            &mut back,
        )
        .unwrap();
        assert_eq!(back, gz);
        assert_eq!(g.digest, Digest::of(&gz));
    }

    #[test]
    fn a_blob_that_is_not_the_claimed_layer_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a"), b"x").unwrap();
        let (gz, _, _) = layer(dir.path(), Compression::default());
        let wrong = Digest::of(b"another tar");
        let err = recompress(
            Box::new(io::Cursor::new(gz)),
            Compression::None,
            &wrong,
            &mut Vec::new(),
        )
        .unwrap_err();
        assert!(matches!(err, LayerError::DiffIdMismatch { .. }), "{err}");
    }
}
