//! Uploading blobs while a build runs (export during the build, not after): each blob
//! submitted starts at once on a small pool of tasks; `finish` waits for them all and says
//! how each got there and how many bytes were sent.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use rbuild_oci::{Descriptor, Digest, Reference};
use rbuild_store::Store;
use tokio::runtime::Handle;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;

use crate::blocking::block_on;
use crate::client::{Client, Endpoint};
use crate::error::RegistryError;
use crate::push::{BlobPushed, PushEvent};

/// Receives the uploads' [`PushEvent`]s, from the upload tasks.
type Observer = Arc<dyn Fn(PushEvent) + Send + Sync>;

/// One blob's upload, as [`Uploader::finish`] reports it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BlobUpload {
    /// The blob.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// Already there, mounted, or uploaded (with the bytes sent).
    pub pushed: BlobPushed,
}

/// Where one submitted blob's upload stands, from [`Uploader::progress`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadProgress {
    /// The blob.
    pub digest: Digest,
    /// Its size.
    pub size: u64,
    /// Bytes sent so far.
    pub sent: u64,
    /// Whether its task has ended (successfully or not).
    pub done: bool,
}

struct Pending {
    desc: Descriptor,
    sent: Arc<AtomicU64>,
    task: JoinHandle<Result<BlobPushed, RegistryError>>,
}

/// Pushes store blobs to one repository in the background.
pub struct Uploader {
    client: Client,
    store: Arc<Store>,
    ep: Endpoint,
    runtime: Handle,
    permits: Arc<Semaphore>,
    observer: Observer,
    pending: Mutex<Vec<Pending>>,
}

impl Uploader {
    /// An uploader to `target`'s repository (its tag is ignored), running its tasks on
    /// `runtime`, as many at once as the client transfers blobs (4).
    pub fn new(
        client: &Client,
        store: Arc<Store>,
        target: &Reference,
        runtime: Handle,
    ) -> Result<Uploader, RegistryError> {
        let ep = client.endpoint(&target.registry, target.endpoint_host(), &target.repository)?;
        Ok(Uploader {
            permits: Arc::new(Semaphore::new(client.inner.parallel)),
            client: client.clone(),
            store,
            ep,
            runtime,
            observer: Arc::new(|_| {}),
            pending: Mutex::default(),
        })
    }

    /// This uploader, telling `observer` what each upload does.
    pub fn with_progress(self, observer: impl Fn(PushEvent) + Send + Sync + 'static) -> Self {
        Uploader {
            observer: Arc::new(observer),
            ..self
        }
    }

    /// Starts pushing the store blob `digest` now (once: submitting it again does nothing).
    pub fn submit(&self, digest: &Digest) -> Result<(), RegistryError> {
        let mut pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        if pending.iter().any(|p| p.desc.digest == *digest) {
            return Ok(());
        }
        let size = self.store.blob_size(digest)?;
        let desc = Descriptor::new("application/octet-stream", digest.clone(), size);
        let sent = Arc::new(AtomicU64::new(0));
        let task = self.runtime.spawn(self.task(desc.clone(), sent.clone()));
        pending.push(Pending { desc, sent, task });
        Ok(())
    }

    /// The upload of one blob, once a pool slot is free.
    fn task(
        &self,
        desc: Descriptor,
        sent: Arc<AtomicU64>,
    ) -> impl std::future::Future<Output = Result<BlobPushed, RegistryError>> + Send + 'static {
        let (client, store, ep) = (self.client.clone(), self.store.clone(), self.ep.clone());
        let (permits, observer) = (self.permits.clone(), self.observer.clone());
        async move {
            // The semaphore is never closed: a failed acquire cannot happen.
            let _slot = permits.acquire_owned().await.ok();
            client.push_blob(&store, &ep, &desc, &*observer, sent).await
        }
    }

    /// Where each submitted upload stands.
    pub fn progress(&self) -> Vec<UploadProgress> {
        let pending = self.pending.lock().unwrap_or_else(|p| p.into_inner());
        pending
            .iter()
            .map(|p| UploadProgress {
                digest: p.desc.digest.clone(),
                size: p.desc.size,
                sent: p.sent.load(Ordering::Relaxed),
                done: p.task.is_finished(),
            })
            .collect()
    }

    /// Waits for every submitted upload; the first failure (once all have ended) is the error.
    pub async fn finish(self) -> Result<Vec<BlobUpload>, RegistryError> {
        let pending = self.pending.into_inner().unwrap_or_else(|p| p.into_inner());
        let mut done = Vec::with_capacity(pending.len());
        let mut failed = None;
        for p in pending {
            match p.task.await.map_err(task_failed).and_then(|r| r) {
                Ok(pushed) => done.push(BlobUpload {
                    digest: p.desc.digest,
                    size: p.desc.size,
                    pushed,
                }),
                Err(e) => failed = failed.or(Some(e)),
            }
        }
        failed.map_or(Ok(done), Err)
    }

    /// [`Uploader::finish`] for synchronous callers: blocks this thread until all are done.
    pub fn wait(self) -> Result<Vec<BlobUpload>, RegistryError> {
        let handle = self.runtime.clone();
        block_on(&handle, move || self.finish())
            .unwrap_or_else(|| Err(task_failed_text("the thread waiting for uploads panicked")))
    }
}

fn task_failed(e: tokio::task::JoinError) -> RegistryError {
    task_failed_text(&format!("upload task failed: {e}"))
}

fn task_failed_text(reason: &str) -> RegistryError {
    RegistryError::Io {
        path: "<upload task>".into(),
        source: std::io::Error::other(reason.to_string()),
    }
}
