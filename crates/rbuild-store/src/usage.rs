//! Disk usage of the store and sizes of images (for `rbuild images` and `rbuild system df`).

use std::collections::HashSet;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use rbuild_oci::{Descriptor, Digest, ImageConfig};

use crate::error::Result;
use crate::reach::Reach;
use crate::{Store, NS_CACHE};

/// Space used by each part of the store, in bytes (apparent file sizes).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct DiskUsage {
    /// Number of blobs.
    pub blobs: usize,
    /// Bytes of blobs.
    pub blob_bytes: u64,
    /// Number of snapshots.
    pub snapshots: usize,
    /// Bytes of snapshot files.
    pub snapshot_bytes: u64,
    /// Bytes of `cache.db` and its WAL.
    pub db_bytes: u64,
    /// Entries in the build cache namespace.
    pub cache_entries: usize,
    /// Cache mounts (`RUN --mount=type=cache`).
    pub cache_mounts: usize,
    /// Bytes of cache mounts.
    pub cache_mount_bytes: u64,
    /// Bytes of blobs and snapshots no tag reaches (what a full prune would free).
    pub reclaimable_bytes: u64,
}

impl DiskUsage {
    /// Everything together.
    pub fn total(&self) -> u64 {
        self.blob_bytes + self.snapshot_bytes + self.db_bytes + self.cache_mount_bytes
    }
}

/// One tagged image, for listings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImageSummary {
    /// The tag as stored.
    pub tag: String,
    /// The tagged manifest (or index).
    pub descriptor: Descriptor,
    /// The config digest (the Docker "image ID"), of the first image manifest.
    pub config: Option<Digest>,
    /// `created` from the config.
    pub created: Option<String>,
    /// Bytes of every distinct blob the image references (compressed layers + JSON).
    pub size: u64,
}

/// Apparent size of a directory tree, counting hard-linked files once.
pub(crate) fn tree_size(root: &Path) -> u64 {
    let mut seen = HashSet::new();
    let mut stack = vec![root.to_path_buf()];
    let mut total = 0;
    while let Some(dir) = stack.pop() {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else { continue };
            if meta.is_dir() {
                stack.push(entry.path());
            } else if meta.is_file() && (meta.nlink() == 1 || seen.insert((meta.dev(), meta.ino())))
            {
                total += meta.len();
            }
        }
    }
    total
}

impl Store {
    /// Space used by blobs, snapshots and the database.
    pub fn disk_usage(&self) -> Result<DiskUsage> {
        let reach = self.reachable()?;
        let mut du = DiskUsage::default();
        for d in self.blobs()? {
            let size = self.blob_size(&d).unwrap_or(0);
            du.blobs += 1;
            du.blob_bytes += size;
            if !reach.blobs.contains(&d) {
                du.reclaimable_bytes += size;
            }
        }
        for id in self.snapshots()? {
            let size = tree_size(&self.layout.snapshot(&id));
            du.snapshots += 1;
            du.snapshot_bytes += size;
            if !reach.snapshots.contains(&id) {
                du.reclaimable_bytes += size;
            }
        }
        for name in ["cache.db", "cache.db-wal", "cache.db-shm"] {
            du.db_bytes += fs::metadata(self.root().join(name)).map_or(0, |m| m.len());
        }
        du.cache_entries = self.kv_keys(NS_CACHE)?.len();
        for m in self.cache_mount_list()? {
            du.cache_mounts += 1;
            du.cache_mount_bytes += m.size;
        }
        Ok(du)
    }

    /// Bytes of every distinct blob `desc` references (present ones).
    pub fn image_size(&self, desc: &Descriptor) -> u64 {
        let mut reach = Reach::default();
        self.walk(desc, &mut reach);
        reach
            .blobs
            .iter()
            .filter_map(|d| self.blob_size(d).ok())
            .sum()
    }

    /// The config of the first image manifest under `desc` (its own, or an index's first).
    pub fn image_config(&self, desc: &Descriptor) -> Option<(Digest, ImageConfig)> {
        let mut reach = Reach::default();
        self.walk(desc, &mut reach);
        let (_, manifest) = reach.manifests.first()?;
        let digest = manifest.config.digest.clone();
        let config = serde_json::from_slice(&self.read_blob(&digest).ok()?).ok()?;
        Some((digest, config))
    }

    /// Every tag with its config digest, creation time and size.
    pub fn images(&self) -> Result<Vec<ImageSummary>> {
        let mut out = Vec::new();
        for (tag, descriptor) in self.tags()? {
            let config = self.image_config(&descriptor);
            out.push(ImageSummary {
                size: self.image_size(&descriptor),
                config: config.as_ref().map(|(d, _)| d.clone()),
                created: config.and_then(|(_, c)| c.created),
                tag,
                descriptor,
            });
        }
        Ok(out)
    }
}
