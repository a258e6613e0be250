//! Cache-mount artifacts in an OCI image layout directory. Writing copies only the blobs the
//! directory lacks (verified out of the store, renamed in under their digest, one `syncfs`
//! before `index.json` names them). Reading treats the directory as untrusted: nothing below
//! it is reached through a symlink, only regular files are read (never blocking on a FIFO),
//! blobs only by the hex of a parsed digest, and each at most its size limit.

use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use rbuild_oci::{media_type, Descriptor, Index};
use rustix::fs::{openat, Mode, OFlags, CWD};

use super::base::Base;
use super::error::{At, CacheMountError};
use super::export::CacheExport;
use super::import::{ArtifactSource, SourceError};
use crate::tags::REF_NAME;
use crate::{OutputFile, Store};

/// `oci-layout`'s content.
const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// What writing to a layout directory copied.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CopyReport {
    /// Blobs written.
    pub copied: u64,
    /// Their bytes.
    pub copied_bytes: u64,
    /// Blobs the directory already had.
    pub present: u64,
}

impl Store {
    /// Writes `export` into the OCI layout directory `dir` (created if missing) as `tag`,
    /// copying only the blobs it lacks; other tags of `index.json` are kept.
    pub fn write_cache_layout(
        &self,
        export: &CacheExport,
        dir: &Path,
        tag: &str,
    ) -> Result<CopyReport, CacheMountError> {
        let blobs = dir.join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs).at(&blobs)?;
        let mut report = CopyReport::default();
        let mut all: Vec<&Descriptor> = Vec::new();
        for p in &export.parts {
            all.extend(&p.chunks);
            all.push(&p.config);
            all.push(&p.manifest);
        }
        all.push(&export.index);
        let mut seen = std::collections::HashSet::new();
        for d in all.into_iter().filter(|d| seen.insert(&d.digest)) {
            self.copy_blob(d, &blobs, &mut report)?;
        }
        let dirfd = File::open(dir).at(dir)?;
        rustix::fs::syncfs(&dirfd).at(dir)?;
        let index = merged_index(dir, &export.index, tag);
        OutputFile::write_all_to(&dir.join("oci-layout"), OCI_LAYOUT)?;
        OutputFile::write_all_to(
            &dir.join("index.json"),
            &rbuild_oci::to_canonical_json(&index),
        )?;
        Ok(report)
    }

    /// Copies one blob unless `blobs` has a regular file of its size under its name.
    fn copy_blob(
        &self,
        d: &Descriptor,
        blobs: &Path,
        r: &mut CopyReport,
    ) -> Result<(), CacheMountError> {
        let target = blobs.join(d.digest.hex());
        if std::fs::symlink_metadata(&target).is_ok_and(|m| m.is_file() && m.len() == d.size) {
            r.present += 1;
            return Ok(());
        }
        let tmp = blobs.join(crate::lock::unique_name(".tmp-"));
        let copied = (|| {
            let mut out = File::create_new(&tmp)?;
            let mut blob = self
                .blob_reader(&d.digest, Some(d.size))
                .map_err(io::Error::other)?;
            io::copy(&mut blob, &mut out)?;
            // Renaming replaces whatever had the name (even a symlink), never writes through it.
            std::fs::rename(&tmp, &target)
        })();
        if copied.is_err() {
            let _ = std::fs::remove_file(&tmp);
        }
        copied.at(&target)?;
        r.copied += 1;
        r.copied_bytes += d.size;
        Ok(())
    }

    /// Imports the mounts `ids` names (all when empty) of the artifact tagged `tag` in the
    /// OCI layout directory `dir`.
    pub fn import_cache_layout(
        &self,
        dir: &Path,
        tag: &str,
        ids: &[String],
    ) -> Result<Vec<super::ImportedMount>, CacheMountError> {
        let src = LayoutSource::open(dir)?;
        let index = src.tagged(tag)?;
        self.import_cache_mounts(&index, &src, ids)
    }
}

impl Base {
    /// The pieces of the cache-mount artifact tagged `tag` in the OCI layout directory `dir`;
    /// none if there is no such directory, layout or tag.
    pub fn from_layout(dir: &Path, tag: &str) -> Result<Base, CacheMountError> {
        if !dir.join("index.json").is_file() {
            return Ok(Base::empty());
        }
        let src = LayoutSource::open(dir)?;
        match src.find(tag)? {
            Some(index) => Base::load(&index, &src),
            None => Ok(Base::empty()),
        }
    }
}

/// The directory's `index.json` without entries named `tag`, plus `index` named `tag`.
fn merged_index(dir: &Path, index: &Descriptor, tag: &str) -> Index {
    let old = std::fs::read(dir.join("index.json")).ok();
    let mut merged: Index = old
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or(Index {
            schema_version: 2,
            media_type: None,
            manifests: Vec::new(),
            annotations: None,
        });
    merged.media_type = Some(media_type::OCI_INDEX.to_string());
    let named = |d: &Descriptor| {
        d.annotations
            .as_ref()
            .and_then(|a| a.get(REF_NAME))
            .map(String::as_str)
            == Some(tag)
    };
    merged.manifests.retain(|d| !named(d));
    let mut entry = index.clone();
    entry.annotations = Some([(REF_NAME.to_string(), tag.to_string())].into());
    merged.manifests.push(entry);
    merged
}

/// An OCI layout directory being imported from.
pub(crate) struct LayoutSource {
    path: PathBuf,
    dir: OwnedFd,
}

impl LayoutSource {
    /// Opens `path` (following symlinks to it: the user chose it).
    pub fn open(path: &Path) -> Result<Self, CacheMountError> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC;
        let dir = openat(CWD, path, flags, Mode::empty()).at(path)?;
        Ok(LayoutSource {
            path: path.to_path_buf(),
            dir,
        })
    }

    /// The bytes of the index `index.json` names `tag` (verified).
    pub fn tagged(&self, tag: &str) -> Result<Vec<u8>, CacheMountError> {
        self.find(tag)?.ok_or_else(|| CacheMountError::Invalid {
            what: format!("{}/index.json", self.path.display()),
            why: format!("no entry is named {tag:?}"),
        })
    }

    /// The bytes of the index `index.json` names `tag` (verified), if it names one.
    fn find(&self, tag: &str) -> Result<Option<Vec<u8>>, CacheMountError> {
        let what = format!("{}/index.json", self.path.display());
        let bytes =
            read_regular(&self.dir, "index.json", crate::MAX_JSON_BLOB).map_err(|source| {
                CacheMountError::Io {
                    path: PathBuf::from(&what),
                    source,
                }
            })?;
        let index: Index =
            serde_json::from_slice(&bytes).map_err(|e| CacheMountError::Invalid {
                what: what.clone(),
                why: e.to_string(),
            })?;
        let named = |d: &Descriptor| {
            d.annotations
                .as_ref()
                .and_then(|a| a.get(REF_NAME))
                .map(String::as_str)
                == Some(tag)
        };
        let Some(desc) = index.manifests.into_iter().find(named) else {
            return Ok(None);
        };
        let got = self.manifest(&desc, 4 << 20);
        super::import::check(self, &desc, 4 << 20, got).map(Some)
    }

    fn read_blob(&self, desc: &Descriptor, limit: u64) -> io::Result<Vec<u8>> {
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let blobs = openat(&self.dir, "blobs", flags, Mode::empty())
            .and_then(|b| openat(&b, "sha256", flags, Mode::empty()))?;
        read_regular(&blobs, desc.digest.hex(), limit)
    }
}

impl ArtifactSource for LayoutSource {
    fn name(&self) -> String {
        self.path.display().to_string()
    }
    fn manifest(&self, desc: &Descriptor, limit: u64) -> Result<Vec<u8>, SourceError> {
        Ok(self.read_blob(desc, limit)?)
    }
    fn blob(&self, desc: &Descriptor, limit: u64) -> Result<Vec<u8>, SourceError> {
        Ok(self.read_blob(desc, limit)?)
    }
}

/// A regular file of `dir` (not a symlink, never blocking on a FIFO), at most `limit` bytes
/// (one more is read, so a longer file is told apart and refused by the digest check).
fn read_regular(dir: &OwnedFd, name: &str, limit: u64) -> io::Result<Vec<u8>> {
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let file = File::from(openat(dir, name, flags, Mode::empty())?);
    if !file.metadata()?.is_file() {
        return Err(io::Error::other(
            "not a regular file (symlinks and special files are refused)",
        ));
    }
    let mut bytes = Vec::new();
    file.take(limit + 1).read_to_end(&mut bytes)?;
    Ok(bytes)
}
