//! Streaming downloaded bytes to disk on a blocking thread, so the async side never blocks on
//! disk and memory stays bounded by a small channel of chunks: into a store ingest (blobs) or
//! into any other writer (URL downloads, which hash as they write).

use std::io::Write;
use std::path::PathBuf;

use bytes::Bytes;
use rbuild_oci::Digest;
use rbuild_store::{Ingest, Store, StoreError};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use crate::error::RegistryError;

/// Chunks in flight between the network and the disk writer.
const QUEUE: usize = 16;

/// A writer fed from the async side; `W` is written on a blocking thread.
pub(crate) struct Sink<W> {
    tx: Option<mpsc::Sender<Bytes>>,
    task: JoinHandle<std::io::Result<W>>,
    written: u64,
}

/// The failure of the writer thread itself (it panicked or was cancelled).
fn join_error(e: tokio::task::JoinError) -> std::io::Error {
    std::io::Error::other(format!("writer task failed: {e}"))
}

impl<W: Write + Send + 'static> Sink<W> {
    /// Starts writing into `w`.
    pub fn new(mut w: W) -> Sink<W> {
        let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
        let task = tokio::task::spawn_blocking(move || {
            while let Some(chunk) = rx.blocking_recv() {
                w.write_all(&chunk)?;
            }
            w.flush()?;
            Ok(w)
        });
        Sink {
            tx: Some(tx),
            task,
            written: 0,
        }
    }

    /// Bytes accepted so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Queues a chunk for writing.
    pub async fn write(&mut self, chunk: Bytes) -> std::io::Result<()> {
        let n = chunk.len() as u64;
        let sent = match &self.tx {
            Some(tx) => tx.send(chunk).await.is_ok(),
            None => false,
        };
        if !sent {
            // The writer stopped: its result carries the I/O error.
            self.tx = None;
            return match (&mut self.task).await.map_err(join_error)? {
                Err(source) => Err(source),
                Ok(_) => Err(std::io::Error::other("writer stopped early")),
            };
        }
        self.written += n;
        Ok(())
    }

    /// Waits for every queued chunk to be written; gives the writer back.
    pub async fn close(mut self) -> std::io::Result<W> {
        self.tx = None;
        self.task.await.map_err(join_error)?
    }
}

/// A blob being written into the store.
pub(crate) struct BlobSink(Sink<Ingest>);

impl BlobSink {
    /// Opens a new ingest in `store`.
    pub fn new(store: &Store) -> Result<BlobSink, RegistryError> {
        Ok(BlobSink(Sink::new(store.ingest()?)))
    }

    /// Bytes accepted so far.
    pub fn written(&self) -> u64 {
        self.0.written()
    }

    /// Queues a chunk for writing.
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), RegistryError> {
        self.0.write(chunk).await.map_err(io_error)
    }

    /// Finishes the ingest, verifying digest and size; nothing enters the store on mismatch.
    pub async fn commit(self, digest: &Digest, size: u64, what: &str) -> Result<(), RegistryError> {
        let ingest = self.0.close().await.map_err(io_error)?;
        let (expected, what) = (digest.clone(), what.to_string());
        let committed =
            tokio::task::spawn_blocking(move || ingest.commit(Some(&expected), Some(size)))
                .await
                .map_err(|e| io_error(join_error(e)))?;
        match committed {
            Ok(_) => Ok(()),
            Err(StoreError::DigestMismatch { expected, actual }) => {
                Err(RegistryError::DigestMismatch {
                    what,
                    expected,
                    actual,
                })
            }
            Err(StoreError::SizeMismatch {
                expected, actual, ..
            }) => Err(RegistryError::SizeMismatch {
                what,
                expected,
                actual,
            }),
            Err(e) => Err(e.into()),
        }
    }
}

fn io_error(source: std::io::Error) -> RegistryError {
    RegistryError::Io {
        path: PathBuf::from("<store ingest>"),
        source,
    }
}
