//! `type=local`: the cache as an OCI image layout directory (`index.json` names the cache
//! manifest by its `org.opencontainers.image.ref.name`, the tag), as BuildKit's local cache.

use std::fs::File;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use rbuild_oci::{media_type, to_canonical_json, Descriptor, Digest, Index, Manifest};
use rbuild_store::{Base, ImportedMount, OutputFile, Store};

use super::{mounts_tag, BackendError, CacheBackend, MountsWritten, MAX_MANIFEST_BYTES};

const REF_NAME: &str = "org.opencontainers.image.ref.name";
const OCI_LAYOUT: &[u8] = br#"{"imageLayoutVersion":"1.0.0"}"#;

/// An OCI layout directory and the tag of the cache in it.
pub struct LocalDir {
    dir: PathBuf,
    tag: String,
}

impl LocalDir {
    /// The cache tagged `tag` in `dir`.
    pub fn new(dir: &Path, tag: &str) -> LocalDir {
        LocalDir {
            dir: dir.to_path_buf(),
            tag: tag.to_string(),
        }
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir
            .join("blobs")
            .join(digest.algorithm())
            .join(digest.hex())
    }

    /// The directory's `index.json`, if there is one.
    fn index(&self) -> Result<Option<Index>, BackendError> {
        let path = self.dir.join("index.json");
        let file = match File::open(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(format!("{}: {e}", path.display()).into()),
        };
        let bytes = read_capped(file, MAX_MANIFEST_BYTES, &path)?;
        let index = serde_json::from_slice(&bytes)
            .map_err(|e| format!("{}: not an OCI index: {e}", path.display()))?;
        Ok(Some(index))
    }

    fn is_ours(&self, d: &Descriptor) -> bool {
        let name = d.annotations.as_ref().and_then(|a| a.get(REF_NAME));
        name == Some(&self.tag)
    }
}

impl CacheBackend for LocalDir {
    fn name(&self) -> String {
        format!("{} (tag {})", self.dir.display(), self.tag)
    }

    fn manifest(&self) -> Result<Option<Vec<u8>>, BackendError> {
        let Some(index) = self.index()? else {
            return Ok(None);
        };
        match index.manifests.iter().find(|d| self.is_ours(d)) {
            Some(d) => Ok(Some(self.blob_bytes(d, MAX_MANIFEST_BYTES)?)),
            None => Ok(None),
        }
    }

    fn blob_bytes(&self, desc: &Descriptor, limit: u64) -> Result<Vec<u8>, BackendError> {
        let path = self.blob_path(&desc.digest);
        if desc.size > limit {
            return Err(
                format!("{}: {} bytes, more than {limit}", path.display(), desc.size).into(),
            );
        }
        let file = File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let bytes = read_capped(file, desc.size, &path)?;
        if bytes.len() as u64 != desc.size || Digest::of(&bytes) != desc.digest {
            return Err(format!("{}: content is not {}", path.display(), desc.digest).into());
        }
        Ok(bytes)
    }

    fn fetch_blob(&self, store: &Store, desc: &Descriptor) -> Result<(), BackendError> {
        if store.has_blob(&desc.digest) {
            return Ok(());
        }
        let path = self.blob_path(&desc.digest);
        let file = File::open(&path).map_err(|e| format!("{}: {e}", path.display()))?;
        let mut ingest = store.ingest()?;
        // One byte more than declared, so a longer file fails the size check.
        io::copy(&mut file.take(desc.size + 1), &mut ingest)
            .map_err(|e| format!("{}: {e}", path.display()))?;
        ingest.commit(Some(&desc.digest), Some(desc.size))?;
        Ok(())
    }

    fn write(
        &self,
        store: &Store,
        config: &Descriptor,
        layers: &[Descriptor],
    ) -> Result<(), BackendError> {
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(media_type::OCI_MANIFEST.to_string()),
            config: config.clone(),
            layers: layers.to_vec(),
            annotations: None,
        };
        let bytes = to_canonical_json(&manifest);
        let desc = Descriptor::new(
            media_type::OCI_MANIFEST,
            store.put_blob(&bytes)?,
            bytes.len() as u64,
        );
        // Blobs first and index.json last, so the index never names a missing blob.
        for d in layers.iter().chain([config, &desc]) {
            self.copy_blob(store, d)?;
        }
        // Other tags of the directory are kept; a broken index.json is replaced.
        let mut index = match self.index() {
            Ok(Some(index)) => index,
            _ => Index::default(),
        };
        index.manifests.retain(|d| !self.is_ours(d));
        let mut entry = desc;
        let tag = [(REF_NAME.to_string(), self.tag.clone())];
        entry.annotations = Some(tag.into_iter().collect());
        index.manifests.push(entry);
        OutputFile::write_all_to(&self.dir.join("oci-layout"), OCI_LAYOUT)?;
        OutputFile::write_all_to(&self.dir.join("index.json"), &to_canonical_json(&index))?;
        Ok(())
    }

    fn write_mounts(&self, store: &Store, ids: &[String]) -> Result<MountsWritten, BackendError> {
        let tag = mounts_tag(&self.tag);
        // A previous export there that cannot be read is replaced whole, not built upon.
        let (base, warning) = match Base::from_layout(&self.dir, &tag) {
            Ok(base) => (base, None),
            Err(e) => {
                let why = format!(
                    "cannot reuse what {} holds ({}): sending everything",
                    self.dir.display(),
                    crate::error::chain(&e)
                );
                (Base::empty(), Some(why))
            }
        };
        let export = store.export_cache_mounts(ids, &base)?;
        let report = store.write_cache_layout(&export, &self.dir, &tag)?;
        Ok(MountsWritten {
            mounts: export.mounts.len(),
            sent: report.copied,
            bytes: report.copied_bytes,
            present: report.present,
            warning,
        })
    }

    fn read_mounts(&self, store: &Store) -> Result<Option<Vec<ImportedMount>>, BackendError> {
        let tag = mounts_tag(&self.tag);
        let named = |d: &Descriptor| {
            let name = d.annotations.as_ref().and_then(|a| a.get(REF_NAME));
            name == Some(&tag)
        };
        match self.index()? {
            Some(index) if index.manifests.iter().any(named) => {
                Ok(Some(store.import_cache_layout(&self.dir, &tag, &[])?))
            }
            _ => Ok(None),
        }
    }
}

impl LocalDir {
    /// Copies a store blob into the directory unless it is there (a copy, not a link: the
    /// directory is shared with other machines and must never write into the store).
    fn copy_blob(&self, store: &Store, desc: &Descriptor) -> Result<(), BackendError> {
        let target = self.blob_path(&desc.digest);
        if target.exists() {
            return Ok(());
        }
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|e| format!("{}: {e}", parent.display()))?;
        }
        let mut out = OutputFile::create(&target)?;
        let mut blob = store.blob_reader(&desc.digest, Some(desc.size))?;
        io::copy(&mut blob, &mut out).map_err(|e| format!("{}: {e}", target.display()))?;
        out.finish()?;
        Ok(())
    }
}

/// Reads at most `limit` bytes of `file`; more is an error.
fn read_capped(file: File, limit: u64, path: &Path) -> Result<Vec<u8>, BackendError> {
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() as u64 > limit {
        return Err(format!("{}: larger than {limit} bytes", path.display()).into());
    }
    Ok(bytes)
}
