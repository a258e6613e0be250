//! Layer blobs of remote cache hits that are not in the store yet. A hit needs only its
//! record; a blob is fetched when something needs its bytes (a step that missed unpacks the
//! filesystem, an exporter writes the image), so a fully cached build moves almost nothing.
//! A blob that then fails its digest is remembered as bad: the build runs again without the
//! records that name it, and their steps simply run.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use rbuild_oci::{Descriptor, Digest};

/// Where a pending blob comes from.
#[derive(Clone)]
pub(super) struct Pending {
    /// The index of the imported cache that named it.
    pub source: usize,
    /// Its descriptor, as the cache's document gives it.
    pub desc: Descriptor,
}

/// The pending blobs and the ones found bad.
#[derive(Default)]
pub(super) struct LazyBlobs {
    pending: Mutex<HashMap<Digest, Pending>>,
    bad: Mutex<HashSet<Digest>>,
    failures: AtomicUsize,
    /// One lock per blob being fetched, so two steps needing it fetch it once.
    fetching: Mutex<HashMap<Digest, Arc<Mutex<()>>>>,
}

impl LazyBlobs {
    /// Notes that `desc` can be fetched from source `source` (the first source named wins).
    pub fn add(&self, source: usize, desc: &Descriptor) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending
            .entry(desc.digest.clone())
            .or_insert_with(|| Pending {
                source,
                desc: desc.clone(),
            });
    }

    /// The lock held while `digest` is fetched.
    pub fn lock_for(&self, digest: &Digest) -> Arc<Mutex<()>> {
        let mut fetching = self.fetching.lock().unwrap_or_else(PoisonError::into_inner);
        fetching.entry(digest.clone()).or_default().clone()
    }

    /// The pending entry of `digest`.
    pub fn get(&self, digest: &Digest) -> Option<Pending> {
        let pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.get(digest).cloned()
    }

    /// `digest` was fetched (or proved bad): nothing to fetch any more.
    pub fn settle(&self, digest: &Digest) {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        pending.remove(digest);
    }

    /// `digest` could not be fetched or failed its digest: records naming it are not used.
    pub fn mark_bad(&self, digest: &Digest) {
        self.settle(digest);
        let mut bad = self.bad.lock().unwrap_or_else(PoisonError::into_inner);
        bad.insert(digest.clone());
        self.failures.fetch_add(1, Ordering::Relaxed);
    }

    /// Whether `digest` was found bad in this build.
    pub fn is_bad(&self, digest: &Digest) -> bool {
        let bad = self.bad.lock().unwrap_or_else(PoisonError::into_inner);
        bad.contains(digest)
    }

    /// How many blobs were found bad so far.
    pub fn failures(&self) -> usize {
        self.failures.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(n: &str) -> Descriptor {
        Descriptor::new("t", Digest::of(n.as_bytes()), 1)
    }

    #[test]
    fn the_first_source_wins_and_a_bad_blob_is_no_longer_pending() {
        let lazy = LazyBlobs::default();
        lazy.add(0, &desc("a"));
        lazy.add(1, &desc("a"));
        lazy.add(1, &desc("b"));
        assert_eq!(lazy.get(&desc("a").digest).unwrap().source, 0);
        lazy.mark_bad(&desc("a").digest);
        assert!(lazy.get(&desc("a").digest).is_none());
        assert!(lazy.is_bad(&desc("a").digest) && !lazy.is_bad(&desc("b").digest));
        assert_eq!(lazy.failures(), 1);
        lazy.settle(&desc("b").digest);
        assert!(lazy.get(&desc("b").digest).is_none());
        assert!(Arc::ptr_eq(
            &lazy.lock_for(&desc("b").digest),
            &lazy.lock_for(&desc("b").digest)
        ));
    }
}
