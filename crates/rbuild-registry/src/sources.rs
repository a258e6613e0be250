//! Where blobs came from or were pushed to (`registry/repository`), kept in the store's kv
//! namespace `blobsrc`, so a push can mount a blob from another repository instead of uploading.

use rbuild_oci::Digest;
use rbuild_store::Store;

/// The kv namespace.
pub const NAMESPACE: &str = rbuild_store::NS_BLOB_SOURCES;
/// Repositories remembered per blob.
const KEEP: usize = 8;

/// The repositories `digest` is known to be in, most recent first.
pub fn known(store: &Store, digest: &Digest) -> Vec<String> {
    match store.kv_get(NAMESPACE, &digest.to_string()) {
        Ok(Some(v)) => String::from_utf8_lossy(&v)
            .lines()
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .collect(),
        _ => Vec::new(),
    }
}

/// Records that `digest` is in `name` (`registry/repository`). Best effort: a failure here only
/// costs a later mount.
pub fn record(store: &Store, digest: &Digest, name: &str) {
    let mut list = known(store, digest);
    list.retain(|n| n != name);
    list.insert(0, name.to_string());
    list.truncate(KEEP);
    let _ = store.kv_put(NAMESPACE, &digest.to_string(), list.join("\n").as_bytes());
}

/// A repository on `registry` other than `repository` that holds the blob, to mount from.
pub fn mount_source(
    store: &Store,
    digest: &Digest,
    registry: &str,
    repository: &str,
) -> Option<String> {
    known(store, digest).into_iter().find_map(|n| {
        let (reg, repo) = n.split_once('/')?;
        (reg == registry && repo != repository).then(|| repo.to_string())
    })
}
