//! `prune`: remove what no tag reaches and no live process uses.

use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rbuild_oci::Digest;

use crate::error::{Result, StoreError};
use crate::lease::Protected;
use crate::usage::tree_size;
use crate::{lock, Store, NS_CACHE, NS_CANONICAL, NS_EXPLAIN};

/// What to prune.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PruneOptions {
    /// Also drop the whole build cache (and its miss explanations).
    pub all: bool,
    /// Stop once blobs + snapshots take at most this many bytes (oldest removed first).
    pub keep_storage: Option<u64>,
    /// Only blobs and snapshots written longer ago than this (`--filter until=`).
    pub older_than: Option<Duration>,
}

/// What `prune` removed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PruneReport {
    /// Blobs removed.
    pub blobs_removed: usize,
    /// Snapshots removed.
    pub snapshots_removed: usize,
    /// Bytes freed (apparent sizes).
    pub bytes_freed: u64,
    /// Key-value entries removed (cache entries whose blobs are gone, or all with `all`).
    pub cache_entries_removed: usize,
}

impl PruneReport {
    fn add(&mut self, other: &PruneReport) {
        self.blobs_removed += other.blobs_removed;
        self.snapshots_removed += other.snapshots_removed;
        self.bytes_freed += other.bytes_freed;
        self.cache_entries_removed += other.cache_entries_removed;
    }
}

/// Now, in nanoseconds since the epoch (the scale of [`ctime_nanos`]).
fn now_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

/// A removal candidate.
struct Candidate {
    id: Digest,
    snapshot: bool,
    ctime: i128,
    size: u64,
}

/// Change time in nanoseconds: set by our renames and chmods, never by layer unpacking.
pub(crate) fn ctime_nanos(path: &Path) -> Option<i128> {
    let m = fs::symlink_metadata(path).ok()?;
    Some(m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128)
}

/// Slack for filesystem timestamp granularity when comparing with lease start times.
const CLOCK_SLACK_NANOS: i128 = 1_000_000_000;

/// Whether a live process may be using `id` (changed at `ctime`): it is listed in a lease,
/// or new since the oldest live lease started.
pub(crate) fn in_use(protected: &Protected, id: &Digest, ctime: i128) -> bool {
    protected.ids.contains(id)
        || protected
            .since
            .is_some_and(|since| ctime >= since - CLOCK_SLACK_NANOS)
}

impl Store {
    /// Removes unreachable blobs and snapshots, then cache entries that point to missing blobs.
    pub fn prune(&self, opts: &PruneOptions) -> Result<PruneReport> {
        let _gc = lock::lock_exclusive(&self.layout.lock("gc.lock"))?;
        let reach = self.reachable()?;
        if let Some((d, why)) = reach.unreadable.first() {
            // Without the blob we cannot know what it keeps alive: removing nothing is safe.
            return Err(StoreError::PruneRefused {
                digest: d.clone(),
                why: why.clone(),
            });
        }
        let protected = self.live_leases()?;
        let mut candidates = self.candidates(&reach, &protected)?;
        if let Some(age) = opts.older_than {
            let cutoff = now_nanos() - age.as_nanos() as i128;
            candidates.retain(|c| c.ctime < cutoff);
        }
        candidates.sort_by_key(|c| c.ctime);
        let mut report = PruneReport::default();
        let mut used = match opts.keep_storage {
            Some(_) => self.used_bytes()?,
            None => 0,
        };
        for c in candidates {
            if opts.keep_storage.is_some_and(|keep| used <= keep) {
                break;
            }
            self.remove_candidate(&c, &mut report)?;
            used = used.saturating_sub(c.size);
        }
        report.cache_entries_removed = self.prune_kv(opts.all)?;
        Ok(report)
    }

    /// The garbage collection builds run: everything unreferenced older than `keep_duration`,
    /// then the oldest until blobs and snapshots take at most `keep_storage` (each phase only
    /// when given; the reports are added up).
    pub fn collect_garbage(
        &self,
        keep_duration: Option<Duration>,
        keep_storage: Option<u64>,
    ) -> Result<PruneReport> {
        let mut total = PruneReport::default();
        if keep_duration.is_some() {
            let r = self.prune(&PruneOptions {
                older_than: keep_duration,
                ..Default::default()
            })?;
            total.add(&r);
        }
        if keep_storage.is_some() {
            let r = self.prune(&PruneOptions {
                keep_storage,
                ..Default::default()
            })?;
            total.add(&r);
        }
        Ok(total)
    }

    fn candidates(
        &self,
        reach: &crate::reach::Reach,
        protected: &Protected,
    ) -> Result<Vec<Candidate>> {
        let keep = |id: &Digest, ctime: i128| in_use(protected, id, ctime);
        let mut out = Vec::new();
        for id in self.blobs()? {
            let path = self.blob_path(&id);
            let Some(ctime) = ctime_nanos(&path) else {
                continue;
            };
            if !reach.blobs.contains(&id) && !keep(&id, ctime) {
                let size = self.blob_size(&id).unwrap_or(0);
                out.push(Candidate {
                    id,
                    snapshot: false,
                    ctime,
                    size,
                });
            }
        }
        for id in self.snapshots()? {
            let path = self.layout.snapshot(&id);
            let Some(ctime) = ctime_nanos(&path) else {
                continue;
            };
            if !reach.snapshots.contains(&id) && !keep(&id, ctime) {
                let size = tree_size(&path);
                out.push(Candidate {
                    id,
                    snapshot: true,
                    ctime,
                    size,
                });
            }
        }
        Ok(out)
    }

    fn remove_candidate(&self, c: &Candidate, report: &mut PruneReport) -> Result<()> {
        if c.snapshot {
            self.remove_snapshot(&c.id)?;
            report.snapshots_removed += 1;
        } else {
            let path = self.blob_path(&c.id);
            match fs::remove_file(&path) {
                Ok(()) => {}
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
                Err(e) => return Err(StoreError::Io { path, source: e }),
            }
            report.blobs_removed += 1;
        }
        report.bytes_freed += c.size;
        Ok(())
    }

    /// Bytes of blobs and snapshots.
    fn used_bytes(&self) -> Result<u64> {
        let blobs: u64 = self
            .blobs()?
            .iter()
            .filter_map(|d| self.blob_size(d).ok())
            .sum();
        let snaps: u64 = self
            .snapshots()?
            .iter()
            .map(|id| tree_size(&self.layout.snapshot(id)))
            .sum();
        Ok(blobs + snaps)
    }

    /// Drops entries whose referenced blobs are gone; with `all`, the whole build cache.
    fn prune_kv(&self, all: bool) -> Result<usize> {
        let mut removed = 0;
        if all {
            removed += self.kv_clear(NS_CACHE)?;
            removed += self.kv_clear(NS_EXPLAIN)?;
            removed += self.kv_clear(NS_CANONICAL)?;
        }
        let gone: Vec<Digest> = self
            .kv_referenced_blobs()?
            .into_iter()
            .filter(|d| !self.has_blob(d))
            .collect();
        removed += self.kv_drop_referring(&gone)?.len();
        Ok(removed)
    }
}
