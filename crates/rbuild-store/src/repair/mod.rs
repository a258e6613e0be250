//! `repair`: drop what cannot be verified, so the next build or pull fetches it again.
//!
//! Everything the store holds is either content named by its digest (refetched or rebuilt
//! when missing) or a cache, so repair never guesses: a damaged blob, snapshot or database is
//! removed, a manifest that lost a blob goes too (a stored manifest must imply its blobs, the
//! resolver relies on it), a tag whose image is incomplete is removed, and the cache entries
//! pointing at removed blobs are dropped. Only `index.json` is salvaged entry by entry, as
//! its tags cannot be recomputed.

mod content;
mod salvage;

use std::fmt;

use rbuild_oci::{Digest, Index};

use crate::error::{Result, StoreError};
use crate::{lock, Store};

/// One thing [`Store::repair`] did, or left alone; its `Display` is one line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repaired {
    /// `cache.db` was damaged and was replaced by an empty database.
    DatabaseRebuilt {
        /// What was wrong with it.
        why: String,
    },
    /// `index.json` was damaged; the entries that could be read were kept.
    IndexSalvaged {
        /// What was wrong with it.
        why: String,
        /// Entries kept.
        kept: usize,
        /// What was lost.
        lost: String,
    },
    /// A blob that did not match its digest (or could not be read) was removed.
    BlobDropped {
        /// The blob.
        digest: Digest,
        /// What was wrong with it.
        why: String,
    },
    /// A manifest that lists a blob the store lacks was removed.
    ManifestDropped {
        /// The manifest.
        digest: Digest,
        /// The blob it lacks.
        missing: Digest,
    },
    /// A tag whose image is incomplete was removed.
    TagRemoved {
        /// The tag.
        tag: String,
        /// What its image lacks.
        why: String,
    },
    /// A cache entry referring to a removed blob was dropped.
    CacheEntryDropped {
        /// Its namespace.
        namespace: String,
        /// Its key.
        key: String,
        /// The blob it referred to.
        blob: Digest,
    },
    /// A snapshot that could not be vouched for was removed.
    SnapshotDropped {
        /// Its chain id.
        chain_id: Digest,
        /// What was wrong with it.
        why: String,
    },
    /// A snapshot that could not be vouched for was kept: a running rbuild may use it.
    SnapshotKept {
        /// Its chain id.
        chain_id: Digest,
        /// What is wrong with it.
        why: String,
    },
}

impl fmt::Display for Repaired {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Repaired::DatabaseRebuilt { why } => write!(
                f,
                "rebuilt cache.db empty (it was damaged: {why}); cached steps will run again"
            ),
            Repaired::IndexSalvaged { why, kept, lost } => write!(
                f,
                "rewrote index.json (it was damaged: {why}): kept {kept} entries, lost {lost}"
            ),
            Repaired::BlobDropped { digest, why } => write!(f, "dropped blob {digest}: {why}"),
            Repaired::ManifestDropped { digest, missing } => write!(
                f,
                "dropped manifest {digest}: it lists {missing}, which is gone"
            ),
            Repaired::TagRemoved { tag, why } => {
                write!(f, "removed tag {tag}: {why}; pull or rebuild it")
            }
            Repaired::CacheEntryDropped {
                namespace,
                key,
                blob,
            } => write!(
                f,
                "dropped cache entry {namespace}/{key}: it refers to {blob}, which is gone"
            ),
            Repaired::SnapshotDropped { chain_id, why } => write!(
                f,
                "dropped snapshot {chain_id}: {why}; the next build unpacks its layer again"
            ),
            Repaired::SnapshotKept { chain_id, why } => write!(
                f,
                "kept snapshot {chain_id} ({why}): a running rbuild may be using it; repair again later"
            ),
        }
    }
}

impl Store {
    /// Drops everything that cannot be verified (see the module docs) and returns what it
    /// did, in order. Afterwards `check` is clean unless a running build holds a snapshot.
    pub fn repair(&self) -> Result<Vec<Repaired>> {
        // No prune meanwhile, and leases are stable while we read them.
        let _gc = lock::lock_exclusive(&self.layout.lock("gc.lock"))?;
        let mut done = Vec::new();
        if let Some(why) = self.db.problem() {
            self.db.rebuild(&self.layout.tmp_dir())?;
            done.push(Repaired::DatabaseRebuilt { why });
        }
        self.repair_index(&mut done)?;
        self.repair_blobs(&mut done)?;
        self.repair_manifests(&mut done)?;
        self.repair_tags(&mut done)?;
        self.repair_cache(&mut done)?;
        self.repair_snapshots(&mut done)?;
        Ok(done)
    }

    fn repair_index(&self, done: &mut Vec<Repaired>) -> Result<()> {
        let _guard = lock::lock_exclusive(&self.layout.lock("index.lock"))?;
        let why = match self.read_index() {
            Ok(_) => return Ok(()),
            Err(StoreError::IndexCorrupt { why, .. }) => why,
            Err(e) => return Err(e),
        };
        let path = self.layout.index();
        let bytes = std::fs::read(&path).unwrap_or_default();
        let found = salvage::salvage(&bytes);
        let index = Index {
            manifests: found.kept,
            ..Index::default()
        };
        let json = rbuild_oci::to_canonical_json(&index);
        self.layout.write_atomic(&path, &json)?;
        done.push(Repaired::IndexSalvaged {
            why,
            kept: index.manifests.len(),
            lost: found.lost,
        });
        Ok(())
    }
}
