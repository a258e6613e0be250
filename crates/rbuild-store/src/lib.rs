//! The local store: OCI layout, content ingest, tags, snapshots, cache index, locks.
//!
//! The store root is an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/`) that
//! skopeo and umoci read as-is, plus `ingest/`, `snapshots/`, `tmp/`, `locks/`, `leases/` and
//! `cache.db` (SQLite, WAL, with the store format version).
//!
//! Concurrency and crashes: blobs and snapshots appear only by atomic rename
//! (`RENAME_NOREPLACE`, so the first writer wins and content is never rewritten, except that a
//! damaged blob is replaced by a freshly verified copy); `index.json`
//! is replaced by rename under the exclusive `locks/index.lock`; SQLite waits on busy locks.
//! Partial work (ingest files, scratch dirs) is held under an exclusive `flock` by its owner,
//! and `Store::open` sweeps exactly the entries whose lock it can take, i.e. whose owner died.
//! So parallel processes share one store, and `kill -9` at any instant leaves a store the next
//! open uses as-is.
//!
//! Trust: every blob is verified on the way in and again when read for use (`read_blob`,
//! `blob_reader`); a snapshot is used by builds only if it was committed verified against
//! its layer's diff_id (`commit_verified_snapshot`, `verified_snapshot`). The store is
//! private to its owner (0700 root, 0600 files, 0400 blobs).
//!
//! Damage: a damaged `cache.db` or `index.json` does not stop `Store::open`; operations that
//! need them fail naming `rbuild store check --repair`, `check` reports them, and `repair`
//! drops whatever cannot be verified so the next build or pull fetches it again.
//!
//! Garbage collection: `prune` keeps what tags reach, everything created since the oldest
//! live `Store` of another process was opened, and ids recorded with `Store::protect` (done
//! automatically by `snapshot()` lookups and lost snapshot races). Builders should `protect`
//! older blobs they reuse and record cache entries with `kv_put_refs` so that pruning a
//! blob also drops the cache entries that point to it.

mod archive;
mod blob_reader;
mod blobs;
mod cachemounts;
mod check;
mod db;
mod error;
mod ingest;
mod known;
mod kv;
mod layout;
mod lease;
mod lock;
mod ocilayout;
mod output;
mod prune;
mod reach;
mod repair;
mod snapshots;
mod tags;
mod usage;
mod verified;

use std::path::Path;

pub use blob_reader::BlobReader;
pub use blobs::MAX_JSON_BLOB;
pub use cachemounts::{
    ArtifactSource, Base, CacheExport, CacheMount, CacheMountError, CacheMountInfo, CopyReport,
    ExportedMount, ExportedPart, ImportedMount, Init as CacheMountInit, PackStats, Sharing,
    SourceError, ANNOTATION_ID, ANNOTATION_PART, CACHE_MOUNTS_ARTIFACT, CACHE_MOUNT_ARTIFACT,
    CACHE_MOUNT_CHUNK, CACHE_MOUNT_CONFIG,
};
pub use check::CheckReport;
pub use db::FORMAT_VERSION;
pub use error::{Result, StoreError};
pub use ingest::{Ingest, Verified};
pub use ocilayout::{LayoutError, LayoutReader, Selector};
pub use output::OutputFile;
pub use prune::{PruneOptions, PruneReport};
pub use reach::{Reach, MAX_INDEX_DEPTH};
pub use repair::Repaired;
pub use snapshots::ScratchDir;
pub use tags::{ref_name, REF_NAME};
pub use usage::{DiskUsage, ImageSummary};
pub use verified::NS_SNAPSHOT;

use db::Db;
use layout::Layout;
use lease::Lease;
use snapshots::KeptLocks;

/// Build-cache namespace (cache key → result).
pub const NS_CACHE: &str = "cache";
/// Cache-miss explanations namespace.
pub const NS_EXPLAIN: &str = "explain";
/// Settled cache keys (a step key → the key first recorded for the same content it reads).
pub const NS_CANONICAL: &str = "keycanon";
/// Build-context file hash cache namespace.
pub const NS_CTXHASH: &str = "ctxhash";
/// Where blobs came from or were pushed to (`registry/repository` lines), for cross-repository
/// mounts on push.
pub const NS_BLOB_SOURCES: &str = "blobsrc";
/// Layer blobs converted to another compression (`<digest>|<compression>` → descriptor), so a
/// cache export with `compression=` converts each layer once.
pub const NS_CONVERTED: &str = "layerconv";

/// A handle on one store root; `Send + Sync`, share it via `Arc`.
pub struct Store {
    layout: Layout,
    db: Db,
    kept: KeptLocks,
    lease: Lease,
    known_records: verified::KnownRecords,
    fresh_blobs: std::sync::Arc<blob_reader::FreshBlobs>,
}

impl Store {
    /// Opens the store at `root`, creating the layout if missing, sweeping partial writes of
    /// dead processes and checking the format version.
    pub fn open(root: &Path) -> Result<Store> {
        let layout = Layout {
            root: root.to_path_buf(),
        };
        layout.create()?;
        // Serialize creation and migration: switching a fresh database to WAL from two
        // processes at once fails with "database is locked".
        let init = lock::lock_exclusive(&layout.lock("init.lock"))?;
        let db = Db::open(root, layout.db())?;
        drop(init);
        lock::sweep_unlocked(&layout.ingest_dir())?;
        lock::sweep_unlocked(&layout.tmp_dir())?;
        lock::sweep_unlocked(&layout.leases_dir())?;
        let lease = Lease::create(&layout)?;
        Ok(Store {
            layout,
            db,
            kept: KeptLocks::default(),
            lease,
            known_records: verified::KnownRecords::default(),
            fresh_blobs: Default::default(),
        })
    }

    /// The store root.
    pub fn root(&self) -> &Path {
        &self.layout.root
    }
}

#[cfg(test)]
mod send_sync {
    fn assert_send_sync<T: Send + Sync>() {}
    #[test]
    fn store_is_send_and_sync() {
        assert_send_sync::<super::Store>();
        assert_send_sync::<super::Ingest>();
        assert_send_sync::<super::ScratchDir>();
    }
}
