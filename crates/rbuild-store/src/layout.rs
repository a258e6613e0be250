//! Paths of the store's directories and files, and creating the layout.

use std::fs::{self, DirBuilder};
use std::io::{self, Write};
use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rbuild_oci::{Digest, Index};

use crate::error::{IoContext, Result};
use crate::lock;

/// Mode of the store root and its directories: cache records, build metadata and image
/// content are private to the store's owner.
pub(crate) const DIR_MODE: u32 = 0o700;

/// Mode of the store's own files (database, index, locks, leases, partial writes).
pub(crate) const FILE_MODE: u32 = 0o600;

/// Content of the OCI `oci-layout` file.
pub(crate) const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// Paths inside one store root.
#[derive(Clone, Debug)]
pub(crate) struct Layout {
    pub root: PathBuf,
}

impl Layout {
    /// `blobs/sha256`.
    pub fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs").join("sha256")
    }
    /// `blobs/sha256/<hex>`.
    pub fn blob(&self, digest: &Digest) -> PathBuf {
        self.blobs_dir().join(digest.hex())
    }
    /// `ingest/`.
    pub fn ingest_dir(&self) -> PathBuf {
        self.root.join("ingest")
    }
    /// `snapshots/`.
    pub fn snapshots_dir(&self) -> PathBuf {
        self.root.join("snapshots")
    }
    /// `snapshots/<hex>`.
    pub fn snapshot(&self, chain_id: &Digest) -> PathBuf {
        self.snapshots_dir().join(chain_id.hex())
    }
    /// `tmp/`.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }
    /// `locks/`: lock files that are not part of the OCI layout.
    pub fn locks_dir(&self) -> PathBuf {
        self.root.join("locks")
    }
    /// `leases/`: one locked file per live build naming the content it uses.
    pub fn leases_dir(&self) -> PathBuf {
        self.root.join("leases")
    }
    /// `index.json`.
    pub fn index(&self) -> PathBuf {
        self.root.join("index.json")
    }
    /// `cache.db`.
    pub fn db(&self) -> PathBuf {
        self.root.join("cache.db")
    }
    /// A named lock file in `locks/`.
    pub fn lock(&self, name: &str) -> PathBuf {
        self.locks_dir().join(name)
    }

    /// Creates every directory and the OCI files that are missing; makes the root private.
    pub fn create(&self) -> Result<()> {
        if let Some(parent) = self.root.parent() {
            fs::create_dir_all(parent).at(parent)?;
        }
        for dir in [
            self.root.clone(),
            self.root.join("blobs"),
            self.blobs_dir(),
            self.ingest_dir(),
            self.snapshots_dir(),
            self.tmp_dir(),
            self.locks_dir(),
            self.leases_dir(),
        ] {
            match DirBuilder::new().mode(DIR_MODE).create(&dir) {
                Err(e) if e.kind() != io::ErrorKind::AlreadyExists => return Err(e).at(&dir),
                _ => {}
            }
        }
        self.make_private()?;
        let layout = self.root.join("oci-layout");
        if !layout.exists() {
            self.write_atomic(&layout, OCI_LAYOUT)?;
        }
        if !self.index().exists() {
            let json = rbuild_oci::to_canonical_json(&Index::default());
            self.write_atomic(&self.index(), &json)?;
        }
        Ok(())
    }

    /// Takes group and other access away from the root (stores made by older versions were
    /// 0755) and from the database files, which hold cache records. Someone else's store
    /// (chmod refused) is left as it is.
    fn make_private(&self) -> Result<()> {
        let tighten = |path: &Path, mode: u32| -> Result<()> {
            match fs::metadata(path) {
                Ok(m) if m.permissions().mode() & 0o077 != 0 => {
                    match fs::set_permissions(path, fs::Permissions::from_mode(mode)) {
                        Err(e) if e.kind() != io::ErrorKind::PermissionDenied => Err(e).at(path),
                        _ => Ok(()),
                    }
                }
                _ => Ok(()),
            }
        };
        tighten(&self.root, DIR_MODE)?;
        for name in crate::db::DB_FILES.iter().chain(&["index.json"]) {
            tighten(&self.root.join(name), FILE_MODE)?;
        }
        Ok(())
    }

    /// Writes `data` to `path` via a synced temp file and a rename (callers hold the lock).
    pub fn write_atomic(&self, path: &Path, data: &[u8]) -> Result<()> {
        let (tmp, mut file) = lock::create_locked_file(&self.tmp_dir(), "w-")?;
        let res = file
            .write_all(data)
            .and_then(|()| file.sync_all())
            .and_then(|()| fs::rename(&tmp, path));
        if let Err(e) = res {
            let _ = fs::remove_file(&tmp);
            return Err(e).at(path);
        }
        lock::fsync_dir(path.parent().unwrap_or(&self.root))
    }
}
