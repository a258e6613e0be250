//! Parallel, adaptive gzip: one gzip member whose deflate stream is cut into fixed-size chunks
//! compressed on worker threads (the pigz layout), each chunk primed with the previous 32 KiB
//! and stored uncompressed when a probe says deflate would not pay.
//!
//! Why: gzip level 6 runs at ~40 MB/s on one core, and on incompressible data (media, models,
//! already-compressed archives) it spends that time to save nothing. The output is a function
//! of the input and the level only — chunk size and probe are constants and every chunk is
//! compressed the same way whichever thread runs it — so layer digests stay reproducible on any
//! machine.

use std::collections::VecDeque;
use std::io::{self, Write};
use std::sync::mpsc::{self, Receiver};

use flate2::{Compress, FlushCompress, Status};

use crate::pool::Pool;

/// Uncompressed bytes per chunk. Large enough that the per-chunk sync marker and lost
/// cross-chunk matches cost well under 0.1 %, small enough to keep memory low.
const CHUNK: usize = 1 << 20;
/// Deflate's window: each chunk is primed with this much of the data before it.
const WINDOW: usize = 32 * 1024;
/// Most compression threads per stream.
const MAX_WORKERS: usize = 4;
/// Probe: this many samples of `SAMPLE` bytes spread over a chunk, deflated at level 1.
const SAMPLES: usize = 4;
const SAMPLE: usize = 8 * 1024;
/// A chunk is stored when level-1 deflate of the samples saves less than 1/32 (≈ 3 %).
const MIN_SAVING_SHIFT: u32 = 5;

/// gzip header: deflate, no flags, mtime 0, OS "unknown" (255) so digests are reproducible.
fn header(level: u32) -> [u8; 10] {
    // XFL as Go's compress/gzip (and so Docker) writes it: 2 = best, 4 = fastest.
    let xfl = match level {
        9 => 2,
        1 => 4,
        _ => 0,
    };
    [0x1f, 0x8b, 8, 0, 0, 0, 0, 0, xfl, 255]
}

/// A compressed chunk, or the error that stopped it.
type ChunkResult = io::Result<Vec<u8>>;

/// A streaming gzip writer over `W`; `finish` writes the last chunk and trailer and returns `W`.
pub(crate) struct ParGzWriter<W: Write> {
    inner: W,
    level: u32,
    workers: usize,
    pool: Option<Pool>,
    buf: Vec<u8>,
    /// The last `WINDOW` bytes before `buf`: the dictionary of the next chunk.
    tail: Vec<u8>,
    crc: flate2::Crc,
    size: u64,
    pending: VecDeque<Receiver<ChunkResult>>,
}

impl<W: Write> ParGzWriter<W> {
    /// Starts a gzip stream at `level` (0–9), using up to the machine's cores (max 4).
    pub(crate) fn new(inner: W, level: u32) -> io::Result<Self> {
        Self::with_workers(
            inner,
            level,
            crate::compression::cores().clamp(1, MAX_WORKERS),
        )
    }

    /// Starts a gzip stream with `workers` compression threads (output does not depend on it).
    pub(crate) fn with_workers(mut inner: W, level: u32, workers: usize) -> io::Result<Self> {
        let level = level.min(9);
        inner.write_all(&header(level))?;
        Ok(ParGzWriter {
            inner,
            level,
            workers: workers.max(1),
            pool: None,
            buf: Vec::with_capacity(CHUNK),
            tail: Vec::new(),
            crc: flate2::Crc::new(),
            size: 0,
            pending: VecDeque::new(),
        })
    }

    /// Compresses the buffered remainder as the final chunk, writes the trailer, returns `W`.
    pub(crate) fn finish(mut self) -> io::Result<W> {
        let last = std::mem::take(&mut self.buf);
        if self.pending.is_empty() {
            // A small stream: not worth a thread.
            let out = deflate_chunk(&last, &self.tail, self.level, true)?;
            self.inner.write_all(&out)?;
        } else {
            self.submit(last, true)?;
            self.drain(0)?;
        }
        let mut trailer = [0u8; 8];
        trailer[..4].copy_from_slice(&self.crc.sum().to_le_bytes());
        // ISIZE is the input size modulo 2^32 (RFC 1952).
        trailer[4..].copy_from_slice(&(self.size as u32).to_le_bytes());
        self.inner.write_all(&trailer)?;
        Ok(self.inner)
    }

    /// Hands a full (or the last) chunk to the pool; at most `workers` more wait behind it.
    fn submit(&mut self, chunk: Vec<u8>, last: bool) -> io::Result<()> {
        let dict = std::mem::take(&mut self.tail);
        self.tail = chunk[chunk.len().saturating_sub(WINDOW)..].to_vec();
        let level = self.level;
        let (tx, rx) = mpsc::channel();
        let workers = self.workers;
        let pool = self.pool.get_or_insert_with(|| Pool::new(workers));
        pool.run(Box::new(move || {
            // The receiver only disappears when the writer was dropped mid-stream.
            let _ = tx.send(deflate_chunk(&chunk, &dict, level, last));
        }))?;
        self.pending.push_back(rx);
        self.drain(self.workers)
    }

    /// Writes finished chunks in order until at most `keep` remain in flight.
    fn drain(&mut self, keep: usize) -> io::Result<()> {
        while self.pending.len() > keep {
            let Some(rx) = self.pending.pop_front() else {
                break;
            };
            let out = rx
                .recv()
                .map_err(|_| io::Error::other("gzip worker thread died"))??;
            self.inner.write_all(&out)?;
        }
        Ok(())
    }
}

impl<W: Write> Write for ParGzWriter<W> {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        let n = data.len().min(CHUNK - self.buf.len());
        self.buf.extend_from_slice(&data[..n]);
        self.crc.update(&data[..n]);
        self.size += n as u64;
        if self.buf.len() == CHUNK {
            let chunk = std::mem::replace(&mut self.buf, Vec::with_capacity(CHUNK));
            self.submit(chunk, false)?;
        }
        Ok(n)
    }

    /// Writes out every finished chunk; the partial chunk stays, since cutting the deflate
    /// stream at a flush would make the output depend on when callers flush.
    fn flush(&mut self) -> io::Result<()> {
        self.drain(0)?;
        self.inner.flush()
    }
}

/// Raw deflate of one chunk: primed with `dict`, ending on a byte boundary with a sync marker
/// (or with the final block when `last`). Stored blocks when the probe finds it incompressible.
pub(crate) fn deflate_chunk(data: &[u8], dict: &[u8], level: u32, last: bool) -> ChunkResult {
    let level = if level > 0 && incompressible(data) {
        0
    } else {
        level
    };
    let mut c = Compress::new(flate2::Compression::new(level), false);
    if level > 0 && !dict.is_empty() {
        c.set_dictionary(dict).map_err(io::Error::other)?;
    }
    let flush = if last {
        FlushCompress::Finish
    } else {
        FlushCompress::Sync
    };
    // Stored blocks add 5 bytes per 64 KiB; compressed output is rarely larger.
    let mut out = Vec::with_capacity(data.len() + data.len() / 8192 + 64);
    loop {
        let consumed = usize::try_from(c.total_in()).unwrap_or(data.len());
        let status = c
            .compress_vec(&data[consumed..], &mut out, flush)
            .map_err(io::Error::other)?;
        let all_in = usize::try_from(c.total_in()).unwrap_or(0) == data.len();
        let done = match status {
            Status::StreamEnd => true,
            // A sync flush is complete once the input is consumed and output space remains.
            _ => !last && all_in && out.len() < out.capacity(),
        };
        if done {
            return Ok(out);
        }
        out.reserve(64 * 1024);
    }
}

/// Whether level-1 deflate of a few spread samples saves less than ~3 %.
fn incompressible(data: &[u8]) -> bool {
    if data.len() < SAMPLES * SAMPLE {
        return false;
    }
    let stride = (data.len() - SAMPLE) / (SAMPLES - 1);
    let mut input = 0usize;
    let mut output = 0usize;
    let mut out = Vec::with_capacity(SAMPLE + 64);
    for i in 0..SAMPLES {
        let sample = &data[i * stride..i * stride + SAMPLE];
        let mut c = Compress::new(flate2::Compression::fast(), false);
        out.clear();
        match c.compress_vec(sample, &mut out, FlushCompress::Finish) {
            Ok(Status::StreamEnd) => output += out.len(),
            // Output did not fit in SAMPLE + 64 bytes: the sample did not shrink.
            _ => output += SAMPLE + 64,
        }
        input += SAMPLE;
    }
    output > input - (input >> MIN_SAVING_SHIFT)
}

#[cfg(test)]
#[path = "pgzip_tests.rs"]
mod tests;
