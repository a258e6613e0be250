//! `check`: verify every blob's digest, every snapshot's proof, and that tagged images are
//! complete.

use std::fs::File;
use std::io;

use rbuild_oci::{Digest, Sha256Writer};

use crate::error::{IoContext, Result, StoreError};
use crate::verified::{describe_change, summarize};
use crate::Store;

/// What `Store::check` found.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// Blobs hashed.
    pub blobs_checked: usize,
    /// Blobs whose content does not match their name: (name, actual digest).
    pub corrupt: Vec<(Digest, Digest)>,
    /// Blobs referenced by a tag but absent: (tag, digest).
    pub missing: Vec<(String, Digest)>,
    /// Manifests, indexes or configs that could not be read or parsed: (tag, digest, why).
    pub unreadable: Vec<(String, Digest, String)>,
    /// Snapshots examined.
    pub snapshots_checked: usize,
    /// Snapshots with no proof that their content is the layer their chain id names (made
    /// by an older rbuild or committed unverified): builds do not use them.
    pub unverified_snapshots: Vec<Digest>,
    /// Verified snapshots whose tree changed since (truncated, deleted or altered files).
    pub damaged_snapshots: Vec<(Digest, String)>,
    /// Why `index.json` (the tags) cannot be read, if it cannot; tags were not checked.
    pub index_error: Option<String>,
    /// Why `cache.db` cannot be trusted, if it cannot (then no snapshot can be vouched for).
    pub db_error: Option<String>,
}

impl CheckReport {
    /// Whether the store is sound.
    pub fn is_ok(&self) -> bool {
        self.corrupt.is_empty()
            && self.missing.is_empty()
            && self.unreadable.is_empty()
            && self.unverified_snapshots.is_empty()
            && self.damaged_snapshots.is_empty()
            && self.index_error.is_none()
            && self.db_error.is_none()
    }
}

/// Streams a file through sha256.
pub(crate) fn hash_file(file: File) -> io::Result<(Digest, u64)> {
    hash_reader(io::BufReader::with_capacity(1 << 20, file))
}

/// Streams any reader through sha256.
pub(crate) fn hash_reader(mut reader: impl io::Read) -> io::Result<(Digest, u64)> {
    let mut writer = Sha256Writer::new(io::sink());
    io::copy(&mut reader, &mut writer)?;
    let (digest, size, _) = writer.finish();
    Ok((digest, size))
}

impl Store {
    /// Verifies every blob's digest, every snapshot's record and that every tagged image's
    /// blobs exist. A damaged `index.json` or `cache.db` is reported, not an error.
    pub fn check(&self) -> Result<CheckReport> {
        let mut report = CheckReport {
            db_error: self.db.problem(),
            ..CheckReport::default()
        };
        for digest in self.blobs()? {
            report.blobs_checked += 1;
            if let Some(actual) = self.blob_damage(&digest)? {
                report.corrupt.push((digest, actual));
            }
        }
        self.check_snapshots(&mut report)?;
        let tags = match self.tags() {
            Ok(tags) => tags,
            Err(StoreError::IndexCorrupt { why, .. }) => {
                report.index_error = Some(why);
                Vec::new()
            }
            Err(e) => return Err(e),
        };
        for (tag, desc) in tags {
            let mut reach = crate::reach::Reach::default();
            self.walk(&desc, &mut reach);
            for d in reach.missing {
                report.missing.push((tag.clone(), d));
            }
            for (d, why) in reach.unreadable {
                report.unreadable.push((tag.clone(), d, why));
            }
        }
        Ok(report)
    }

    /// The digest a stored blob actually hashes to, if it is not its name.
    pub(crate) fn blob_damage(&self, digest: &Digest) -> Result<Option<Digest>> {
        let path = self.blob_path(digest);
        let (actual, _) = hash_file(self.open_blob(digest)?).at(&path)?;
        Ok((&actual != digest).then_some(actual))
    }

    fn check_snapshots(&self, report: &mut CheckReport) -> Result<()> {
        for id in self.snapshots()? {
            report.snapshots_checked += 1;
            // Without the database there is no proof of any snapshot.
            if report.db_error.is_some() {
                report.unverified_snapshots.push(id);
                continue;
            }
            match self.snapshot_problem(&id)? {
                Some(SnapshotProblem::Unverified) => report.unverified_snapshots.push(id),
                Some(SnapshotProblem::Damaged(why)) => report.damaged_snapshots.push((id, why)),
                None => {}
            }
        }
        Ok(())
    }

    /// What is wrong with a committed snapshot, if anything.
    pub(crate) fn snapshot_problem(&self, id: &Digest) -> Result<Option<SnapshotProblem>> {
        let Some(record) = self.snapshot_record(id)? else {
            return Ok(Some(SnapshotProblem::Unverified));
        };
        let path = self.layout.snapshot(id);
        match summarize(&path) {
            Ok(found) if found == record.tree => Ok(None),
            Ok(found) => Ok(Some(SnapshotProblem::Damaged(describe_change(
                &record.tree,
                &found,
            )))),
            Err(e) if e.kind() == io::ErrorKind::NotFound && !path.exists() => Ok(None),
            Err(e) => Ok(Some(SnapshotProblem::Damaged(format!("unreadable: {e}")))),
        }
    }
}

/// Why a snapshot cannot be vouched for.
pub(crate) enum SnapshotProblem {
    /// No record: never verified.
    Unverified,
    /// The tree changed since it was verified.
    Damaged(String),
}
