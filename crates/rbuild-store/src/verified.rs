//! Verified snapshots: which snapshot dirs the store can vouch for.
//!
//! A snapshot is used directly as an overlay lowerdir, so nothing may be added inside it. The
//! proof lives in `cache.db` instead (namespace [`NS_SNAPSHOT`]): one record per snapshot
//! directory *inode*, written before the directory is renamed into `snapshots/`, naming the
//! diff_id its content was verified against and a summary of its tree. Keying by inode means
//! a record never vouches for a directory it was not written for (a lost commit race, an
//! unverified commit, a replaced directory), and writing it first means a crash leaves at
//! worst a record without a directory, never a verified-looking directory without proof.

use std::fs;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use rbuild_oci::Digest;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

/// Namespace of snapshot records: key `<chain hex>/<dev>:<inode>`, value a JSON record.
pub const NS_SNAPSHOT: &str = "snapshot";

/// What a verified snapshot was checked against, and what its tree looked like then.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct SnapshotRecord {
    /// The diff_id the unpacked (or written) layer stream hashed to.
    pub diff_id: Digest,
    /// The tree right after it was made.
    pub tree: TreeSummary,
}

/// Entries, file bytes and a hash of every entry's path, type, mode, owner, size, link target
/// and device number (not times: the kernel may touch those). A truncated, deleted, added,
/// chmod-ed or re-linked file changes it; file contents are not hashed (too costly to do on
/// every commit), so a byte flipped inside a file keeps its size and goes unnoticed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct TreeSummary {
    /// Entries below the root.
    pub entries: u64,
    /// Bytes of regular files (hard links counted each time).
    pub bytes: u64,
    /// sha256 of the per-entry metadata, in sorted path order.
    pub digest: Digest,
}

/// The record key of the snapshot directory `dir` of chain `chain`.
pub(crate) fn record_key(chain: &Digest, dir: &Path) -> io::Result<String> {
    Ok(key_of(chain, &fs::symlink_metadata(dir)?))
}

/// The record key of a snapshot directory of chain `chain` whose metadata is `m`.
pub(crate) fn key_of(chain: &Digest, m: &fs::Metadata) -> String {
    format!("{}/{}:{}", chain.hex(), m.dev(), m.ino())
}

/// Record keys this process has read or written, so a step on a stack of N layers does not
/// query the database N times: a key names one directory inode, so a replaced directory
/// misses. Forgotten wholesale when this process removes a snapshot.
pub(crate) type KnownRecords = crate::known::Known<String>;

/// The key prefix of every record of `chain`.
pub(crate) fn record_prefix(chain: &Digest) -> String {
    format!("{}/", chain.hex())
}

/// Summarizes the tree under `root` (sorted, depth first, never following symlinks).
pub(crate) fn summarize(root: &Path) -> io::Result<TreeSummary> {
    let mut hasher = Sha256::new();
    let (mut entries, mut bytes) = (0u64, 0u64);
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut names: Vec<_> = fs::read_dir(&dir)?
            .map(|e| e.map(|e| e.file_name()))
            .collect::<io::Result<_>>()?;
        names.sort();
        // Pushed in reverse so the stack pops them in order.
        for name in names.iter().rev() {
            let path = dir.join(name);
            let m = fs::symlink_metadata(&path)?;
            let rel = path.strip_prefix(root).unwrap_or(&path);
            entries += 1;
            bytes += if m.is_file() { m.len() } else { 0 };
            hash_entry(&mut hasher, rel, &m, &path)?;
            if m.is_dir() {
                stack.push(path);
            }
        }
    }
    let digest = Digest::from_hex(&hex::encode(hasher.finalize())).map_err(io::Error::other)?;
    Ok(TreeSummary {
        entries,
        bytes,
        digest,
    })
}

fn hash_entry(h: &mut Sha256, rel: &Path, m: &fs::Metadata, path: &Path) -> io::Result<()> {
    let name = rel.as_os_str().as_bytes();
    h.update((name.len() as u64).to_le_bytes());
    h.update(name);
    for n in [m.mode() as u64, m.uid() as u64, m.gid() as u64] {
        h.update(n.to_le_bytes());
    }
    let ft = m.file_type();
    let extra: Vec<u8> = if ft.is_file() {
        m.len().to_le_bytes().to_vec()
    } else if ft.is_symlink() {
        fs::read_link(path)?.as_os_str().as_bytes().to_vec()
    } else if ft.is_char_device() || ft.is_block_device() {
        m.rdev().to_le_bytes().to_vec()
    } else {
        Vec::new()
    };
    h.update((extra.len() as u64).to_le_bytes());
    h.update(&extra);
    Ok(())
}

/// What differs between the recorded tree and the one found, for a report.
pub(crate) fn describe_change(recorded: &TreeSummary, found: &TreeSummary) -> String {
    if recorded.entries != found.entries || recorded.bytes != found.bytes {
        format!(
            "had {} entries and {} file bytes when verified, now {} and {}",
            recorded.entries, recorded.bytes, found.entries, found.bytes
        )
    } else {
        "file names, types, modes, owners or link targets changed since it was verified".into()
    }
}
