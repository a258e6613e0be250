//! Repairing content: blobs, the manifests and tags that lost them, cache entries, snapshots.

use std::io::Read;

use rbuild_oci::{media_type, Digest, Manifest};

use super::Repaired;
use crate::blobs::MAX_JSON_BLOB;
use crate::check::SnapshotProblem;
use crate::error::{error_chain, Result, StoreError};
use crate::prune::{ctime_nanos, in_use};
use crate::reach::Reach;
use crate::verified::{record_key, NS_SNAPSHOT};
use crate::Store;

impl Store {
    /// Removes blobs whose content is not their digest, or that cannot be read.
    pub(super) fn repair_blobs(&self, done: &mut Vec<Repaired>) -> Result<()> {
        for digest in self.blobs()? {
            let why = match self.blob_damage(&digest) {
                Ok(None) | Err(StoreError::BlobNotFound(_)) => continue,
                Ok(Some(actual)) => format!("its content hashes to {actual}"),
                Err(e) => format!("it cannot be read: {}", error_chain(&e)),
            };
            self.remove_blob(&digest)?;
            done.push(Repaired::BlobDropped { digest, why });
        }
        Ok(())
    }

    fn remove_blob(&self, digest: &Digest) -> Result<()> {
        let path = self.blob_path(digest);
        match std::fs::remove_file(&path) {
            Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                Err(StoreError::Io { path, source: e })
            }
            _ => Ok(()),
        }
    }

    /// Removes image manifests that list a blob the store lacks.
    pub(super) fn repair_manifests(&self, done: &mut Vec<Repaired>) -> Result<()> {
        for digest in self.blobs()? {
            let Some(manifest) = self.as_manifest(&digest) else {
                continue;
            };
            let blobs = std::iter::once(&manifest.config).chain(&manifest.layers);
            if let Some(gone) = blobs.map(|d| &d.digest).find(|d| !self.has_blob(d)) {
                self.remove_blob(&digest)?;
                let missing = gone.clone();
                done.push(Repaired::ManifestDropped { digest, missing });
            }
        }
        Ok(())
    }

    /// The blob parsed as an image manifest, if it is one (cheap for layers: they are big or
    /// do not start with `{`).
    fn as_manifest(&self, digest: &Digest) -> Option<Manifest> {
        if self.blob_size(digest).ok()? > MAX_JSON_BLOB {
            return None;
        }
        let mut head = [0u8; 1];
        self.open_blob(digest).ok()?.read_exact(&mut head).ok()?;
        if head[0] != b'{' {
            return None;
        }
        let bytes = self.read_blob(digest).ok()?;
        let detected = media_type::detect(None, &bytes).ok()?;
        if detected.kind != media_type::Kind::Manifest {
            return None;
        }
        serde_json::from_slice(&bytes).ok()
    }

    /// Removes tags whose image is incomplete or unreadable.
    pub(super) fn repair_tags(&self, done: &mut Vec<Repaired>) -> Result<()> {
        for (tag, desc) in self.tags()? {
            let mut reach = Reach::default();
            self.walk(&desc, &mut reach);
            let why = match (reach.missing.first(), reach.unreadable.first()) {
                (Some(d), _) => format!("its image lacks {d}"),
                (None, Some((d, why))) => format!("{d} is unreadable ({why})"),
                (None, None) => continue,
            };
            self.remove_tag(&tag)?;
            done.push(Repaired::TagRemoved { tag, why });
        }
        Ok(())
    }

    /// Drops cache entries that refer to blobs the store lacks.
    pub(super) fn repair_cache(&self, done: &mut Vec<Repaired>) -> Result<()> {
        let gone: Vec<Digest> = self
            .kv_referenced_blobs()?
            .into_iter()
            .filter(|d| !self.has_blob(d))
            .collect();
        for (namespace, key, blob) in self.kv_drop_referring(&gone)? {
            done.push(Repaired::CacheEntryDropped {
                namespace,
                key,
                blob,
            });
        }
        Ok(())
    }

    /// Removes unverified or damaged snapshots no running rbuild may use, then records that
    /// vouch for no existing snapshot directory.
    pub(super) fn repair_snapshots(&self, done: &mut Vec<Repaired>) -> Result<()> {
        let protected = self.live_leases()?;
        for chain_id in self.snapshots()? {
            let why = match self.snapshot_problem(&chain_id)? {
                None => continue,
                Some(SnapshotProblem::Unverified) => "no proof of its content".to_string(),
                Some(SnapshotProblem::Damaged(why)) => why,
            };
            let path = self.layout.snapshot(&chain_id);
            let ctime = ctime_nanos(&path).unwrap_or(0);
            if in_use(&protected, &chain_id, ctime) {
                done.push(Repaired::SnapshotKept { chain_id, why });
                continue;
            }
            self.remove_snapshot(&chain_id)?;
            done.push(Repaired::SnapshotDropped { chain_id, why });
        }
        // A running build writes a record just before renaming its snapshot into place.
        if protected.since.is_none() {
            self.drop_stale_records()?;
        }
        Ok(())
    }

    fn drop_stale_records(&self) -> Result<()> {
        for key in self.kv_keys(NS_SNAPSHOT)? {
            let chain = key.split('/').next().and_then(|h| Digest::from_hex(h).ok());
            let current = chain.and_then(|c| record_key(&c, &self.layout.snapshot(&c)).ok());
            if current.as_deref() != Some(key.as_str()) {
                self.kv_delete(NS_SNAPSHOT, &key)?;
            }
        }
        Ok(())
    }
}
