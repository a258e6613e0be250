//! Writing refs as an OCI image layout: a tar stream (`oci-archive`) or a directory. Both
//! write the same `oci-layout`, `index.json` and blobs, every blob verified as it is copied.

use std::io::Write;
use std::path::Path;

use rbuild_oci::{Descriptor, Index};

use super::tar_out::{blob_entry, TarOut};
use crate::error::{IoContext, Result, StoreError};
use crate::layout::OCI_LAYOUT;
use crate::output::OutputFile;
use crate::reach::Reach;
use crate::tags::REF_NAME;
use crate::Store;

/// The `index.json` of an export: one entry per ref, named by `ref.name` when non-empty.
pub(crate) fn export_index(refs: &[(String, Descriptor)]) -> Index {
    let mut index = Index::default();
    for (name, desc) in refs {
        let mut entry = desc.clone();
        let annotations = entry.annotations.get_or_insert_with(Default::default);
        annotations.remove(REF_NAME);
        if !name.is_empty() {
            annotations.insert(REF_NAME.to_string(), name.clone());
        }
        if annotations.is_empty() {
            entry.annotations = None;
        }
        index.manifests.push(entry);
    }
    index
}

impl Store {
    /// Everything the refs reference; an error if any of it is missing or unreadable.
    pub(crate) fn complete_closure(&self, refs: &[(String, Descriptor)]) -> Result<Reach> {
        let mut reach = Reach::default();
        for (_, desc) in refs {
            self.walk(desc, &mut reach);
        }
        if let Some(d) = reach.missing.first() {
            return Err(StoreError::BlobNotFound(d.clone()));
        }
        if let Some((digest, why)) = reach.unreadable.first() {
            return Err(StoreError::Unreadable {
                digest: digest.clone(),
                why: why.clone(),
            });
        }
        Ok(reach)
    }

    /// Writes the refs (name, manifest or index descriptor) and everything they reference as
    /// an OCI image layout tar stream.
    pub fn export_oci_archive(
        &self,
        refs: &[(String, Descriptor)],
        out: &mut dyn Write,
    ) -> Result<()> {
        let reach = self.complete_closure(refs)?;
        let index = rbuild_oci::to_canonical_json(&export_index(refs));
        let mut tar = TarOut::new(out);
        tar.bytes("oci-layout", OCI_LAYOUT)?;
        tar.bytes("index.json", &index)?;
        tar.dir("blobs/")?;
        tar.dir("blobs/sha256/")?;
        for digest in &reach.blobs {
            tar.blob(self, digest, &blob_entry(digest))?;
        }
        tar.finish()
    }

    /// Writes the refs as an OCI image layout directory (created if missing; blobs already
    /// there are kept). Blobs are copied verified, and every file is written through
    /// [`OutputFile`]: a crash leaves no truncated blob under a digest's name, and
    /// `index.json` is written last, so it never names a blob that is not there.
    pub fn export_oci_dir(&self, refs: &[(String, Descriptor)], dir: &Path) -> Result<()> {
        let reach = self.complete_closure(refs)?;
        let blobs = dir.join("blobs").join("sha256");
        std::fs::create_dir_all(&blobs).at(&blobs)?;
        for digest in &reach.blobs {
            let target = blobs.join(digest.hex());
            if target.exists() {
                continue;
            }
            // A copy, not a hard link: writes to the export must never reach the store.
            let mut out = OutputFile::create(&target)?;
            let mut blob = self.blob_reader(digest, None)?;
            std::io::copy(&mut blob, &mut out).map_err(|source| StoreError::CopyBlob {
                digest: digest.clone(),
                path: target.clone(),
                source,
            })?;
            out.finish()?;
        }
        let index = rbuild_oci::to_canonical_json(&export_index(refs));
        OutputFile::write_all_to(&dir.join("oci-layout"), OCI_LAYOUT)?;
        OutputFile::write_all_to(&dir.join("index.json"), &index)
    }
}
