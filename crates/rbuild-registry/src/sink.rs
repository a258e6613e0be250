//! Streaming downloaded bytes into a store ingest on a blocking thread, so the async side never
//! blocks on disk and memory stays bounded by a small channel of chunks.

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

/// A blob being written into the store.
pub(crate) struct BlobSink {
    tx: Option<mpsc::Sender<Bytes>>,
    task: JoinHandle<Result<Ingest, std::io::Error>>,
    written: u64,
}

fn join_error(e: tokio::task::JoinError) -> RegistryError {
    RegistryError::Io {
        path: PathBuf::from("<store ingest>"),
        source: std::io::Error::other(format!("writer task failed: {e}")),
    }
}

impl BlobSink {
    /// Opens a new ingest in `store`.
    pub fn new(store: &Store) -> Result<BlobSink, RegistryError> {
        let mut ingest = store.ingest()?;
        let (tx, mut rx) = mpsc::channel::<Bytes>(QUEUE);
        let task = tokio::task::spawn_blocking(move || {
            while let Some(chunk) = rx.blocking_recv() {
                ingest.write_all(&chunk)?;
            }
            Ok(ingest)
        });
        Ok(BlobSink {
            tx: Some(tx),
            task,
            written: 0,
        })
    }

    /// Bytes accepted so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Queues a chunk for writing.
    pub async fn write(&mut self, chunk: Bytes) -> Result<(), RegistryError> {
        let n = chunk.len() as u64;
        let sent = match &self.tx {
            Some(tx) => tx.send(chunk).await.is_ok(),
            None => false,
        };
        if !sent {
            // The writer stopped: its result carries the I/O error.
            self.tx = None;
            return match (&mut self.task).await.map_err(join_error)? {
                Err(source) => Err(io_error(source)),
                Ok(_) => Err(io_error(std::io::Error::other("writer stopped early"))),
            };
        }
        self.written += n;
        Ok(())
    }

    /// Finishes the ingest, verifying digest and size; nothing enters the store on mismatch.
    pub async fn commit(
        mut self,
        digest: &Digest,
        size: u64,
        what: &str,
    ) -> Result<(), RegistryError> {
        self.tx = None;
        let ingest = self.task.await.map_err(join_error)?.map_err(io_error)?;
        let (expected, what) = (digest.clone(), what.to_string());
        let committed =
            tokio::task::spawn_blocking(move || ingest.commit(Some(&expected), Some(size)))
                .await
                .map_err(join_error)?;
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
