//! The local store: OCI layout, content ingest, tags, snapshots, cache index, locks.
//!
//! The store root is an OCI image layout (`oci-layout`, `index.json`, `blobs/sha256/`) that
//! skopeo and umoci read as-is, plus `ingest/`, `snapshots/`, `tmp/`, `locks/`, `leases/` and
//! `cache.db`. Every mutation is an atomic rename or a SQLite transaction, and partial work is
//! held under file locks, so parallel processes share one store and `kill -9` at any instant
//! leaves it usable.

mod archive;
mod blobs;
mod check;
mod error;
mod ingest;
mod kv;
mod layout;
mod lease;
mod lock;
mod prune;
mod reach;
mod snapshots;
mod tags;
mod usage;

use std::path::Path;

pub use blobs::MAX_JSON_BLOB;
pub use check::CheckReport;
pub use error::{Result, StoreError};
pub use ingest::Ingest;
pub use kv::FORMAT_VERSION;
pub use prune::{PruneOptions, PruneReport};
pub use reach::Reach;
pub use snapshots::ScratchDir;
pub use tags::{ref_name, REF_NAME};
pub use usage::{DiskUsage, ImageSummary};

use kv::Db;
use layout::Layout;
use lease::Lease;
use snapshots::KeptLocks;

/// Build-cache namespace (cache key → result).
pub const NS_CACHE: &str = "cache";
/// Cache-miss explanations namespace.
pub const NS_EXPLAIN: &str = "explain";
/// Build-context file hash cache namespace.
pub const NS_CTXHASH: &str = "ctxhash";

/// A handle on one store root; `Send + Sync`, share it via `Arc`.
pub struct Store {
    layout: Layout,
    db: Db,
    kept: KeptLocks,
    lease: Lease,
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
