//! Layer compression (gzip, zstd, none) and decompression sniffed by magic bytes (`sniff`).

use std::io::{self, Cursor, Read, Write};

use flate2::read::MultiGzDecoder;
use rbuild_oci::media_type;

use crate::error::LayerError;
use crate::pgzip::ParGzWriter;
use crate::sniff::{detect, Detected, SNIFF_LEN};

/// How a layer blob is compressed.
///
/// The default is gzip level 6: the level Docker and BuildKit use (Go's `DefaultCompression`),
/// readable by every registry and runtime. gzip is written in parallel chunks, and chunks that
/// do not compress are stored (see `pgzip`). zstd is ~4× faster with a smaller output but needs
/// a consumer that accepts `tar+zstd` (containerd ≥ 1.5, Docker ≥ 23, podman).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar (`application/vnd.oci.image.layer.v1.tar`).
    None,
    /// gzip, `level` 0–9 (values above 9 are treated as 9).
    Gzip {
        /// Deflate level 0–9.
        level: u32,
    },
    /// zstd, `level` 1–22 (multi-threaded; output independent of the machine's core count).
    Zstd {
        /// zstd level (3 is zstd's default).
        level: i32,
    },
}

impl Default for Compression {
    fn default() -> Self {
        Compression::Gzip { level: 6 }
    }
}

impl Compression {
    /// The OCI layer media type of a blob compressed this way.
    pub fn media_type(&self) -> &'static str {
        match self {
            Compression::None => media_type::OCI_LAYER_TAR,
            Compression::Gzip { .. } => media_type::OCI_LAYER_GZIP,
            Compression::Zstd { .. } => media_type::OCI_LAYER_ZSTD,
        }
    }
}

/// Most zstd worker threads used: each in-flight job holds ~8 MiB of input and output at the
/// default levels (peak RSS measured ≈ 65 MiB with 2 workers), so this bounds memory under
/// 100 MiB on any machine; more parallelism comes from compressing layers concurrently.
/// zstd's multi-threaded output is identical for any worker count ≥ 1 (tested below), so
/// digests do not depend on the machine.
const ZSTD_MAX_WORKERS: u32 = 2;

/// Bytes of input per zstd worker job.
const ZSTD_JOB_SIZE: u32 = 4 << 20;

fn zstd_workers() -> u32 {
    u32::try_from(cores())
        .unwrap_or(1)
        .clamp(1, ZSTD_MAX_WORKERS)
}

/// The cores this process may use, read once: std reads the cgroup's CPU quota files each
/// time it is asked, and every committed layer starts a compressor.
pub(crate) fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |n| n.get()))
}

/// A streaming compressor over `W`; `finish` flushes the trailer and returns `W`.
pub(crate) enum Compressor<W: Write> {
    /// Pass-through.
    None(W),
    /// gzip with a fixed header (mtime 0, no name, OS "unknown") so digests are reproducible.
    Gzip(ParGzWriter<W>),
    /// zstd, multi-threaded.
    Zstd(zstd::stream::write::Encoder<'static, W>),
}

impl<W: Write> Compressor<W> {
    /// Starts compressing into `inner`.
    pub(crate) fn new(inner: W, compression: Compression) -> io::Result<Self> {
        Self::with_workers(inner, compression, zstd_workers())
    }

    /// Like [`Compressor::new`] with `workers` zstd threads: the seam that lets a test run
    /// the production configuration at worker counts this machine would not pick.
    fn with_workers(inner: W, compression: Compression, workers: u32) -> io::Result<Self> {
        Ok(match compression {
            Compression::None => Compressor::None(inner),
            Compression::Gzip { level } => Compressor::Gzip(ParGzWriter::new(inner, level)?),
            Compression::Zstd { level } => {
                let mut enc = zstd::stream::write::Encoder::new(inner, level)?;
                enc.multithread(workers)?;
                // Jobs default to several windows each, and every worker holds input and
                // output buffers for one: on incompressible data that passed 100 MiB. A fixed
                // job size bounds memory and, being constant, keeps digests reproducible.
                enc.set_parameter(zstd::stream::raw::CParameter::JobSize(ZSTD_JOB_SIZE))?;
                Compressor::Zstd(enc)
            }
        })
    }

    /// Writes the compressed trailer and returns the inner writer.
    pub(crate) fn finish(self) -> io::Result<W> {
        match self {
            Compressor::None(w) => Ok(w),
            Compressor::Gzip(enc) => enc.finish(),
            Compressor::Zstd(enc) => enc.finish(),
        }
    }
}

impl<W: Write> Write for Compressor<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Compressor::None(w) => w.write(buf),
            Compressor::Gzip(enc) => enc.write(buf),
            Compressor::Zstd(enc) => enc.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Compressor::None(w) => w.flush(),
            Compressor::Gzip(enc) => enc.flush(),
            Compressor::Zstd(enc) => enc.flush(),
        }
    }
}

/// Wraps a layer blob reader, sniffing gzip / zstd / plain tar by magic bytes; bzip2 and xz,
/// which no image layer may use, are refused.
pub fn decompress(mut reader: Box<dyn Read + Send>) -> Result<Box<dyn Read + Send>, LayerError> {
    let mut head = vec![0u8; SNIFF_LEN];
    let got = crate::verify::fill(&mut *reader, &mut head).map_err(LayerError::Read)?;
    head.truncate(got);
    let kind = detect(&head);
    let whole: Box<dyn Read + Send> = Box::new(Cursor::new(head).chain(reader));
    Ok(match kind {
        // Multi-member: pigz and parallel gzip writers emit concatenated members.
        Detected::Gzip => Box::new(MultiGzDecoder::new(whole)),
        Detected::Zstd => {
            Box::new(zstd::stream::read::Decoder::new(whole).map_err(LayerError::Read)?)
        }
        Detected::Tar | Detected::Unknown => whole,
        Detected::Bzip2 | Detected::Xz => {
            return Err(LayerError::UnsupportedCompression(kind.name()))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Vec<u8> {
        // 24 MiB of compressible but non-trivial data: spans several zstd MT jobs.
        let mut x: u32 = 1;
        (0..24 << 20)
            .map(|i| {
                x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
                if i % 7 == 0 {
                    (x >> 24) as u8
                } else {
                    b"layer"[i % 5]
                }
            })
            .collect()
    }

    /// The production compressor (job size and all) with `workers` threads.
    fn zstd_with(workers: u32, data: &[u8]) -> Vec<u8> {
        let zstd = Compression::Zstd { level: 3 };
        let mut enc = Compressor::with_workers(Vec::new(), zstd, workers).unwrap();
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    #[test]
    fn zstd_output_does_not_depend_on_worker_count() {
        // 1, 2 and 4 workers through the same constructor `Compressor::new` uses.
        let data = sample();
        let one = zstd_with(1, &data);
        assert_eq!(one, zstd_with(2, &data));
        assert_eq!(one, zstd_with(4, &data));
    }

    #[test]
    fn decompress_opens_tar_gzip_zstd_and_refuses_bzip2_and_xz() {
        let open = |blob: Vec<u8>| {
            let mut out = Vec::new();
            decompress(Box::new(Cursor::new(blob)))?
                .read_to_end(&mut out)
                .map_err(LayerError::Read)?;
            Ok::<_, LayerError>(out)
        };
        let data = b"not really a tar, but passed through as one".to_vec();
        assert_eq!(open(data.clone()).unwrap(), data);
        let gz = {
            let mut w = Compressor::new(Vec::new(), Compression::Gzip { level: 1 }).unwrap();
            w.write_all(&data).unwrap();
            w.finish().unwrap()
        };
        assert_eq!(open(gz).unwrap(), data);
        assert_eq!(open(zstd::encode_all(&data[..], 1).unwrap()).unwrap(), data);
        let err = open(b"BZh91AY&SY".to_vec()).unwrap_err();
        assert!(
            matches!(err, LayerError::UnsupportedCompression("bzip2")),
            "{err}"
        );
    }
}
