//! OCI image layouts in and out: the one reader and writer of layouts, for `rbuild save` and
//! `load`, the `type=oci` exporters (tar and directory) and `oci-layout://` build contexts.
//!
//! Reading: a layout comes in as a directory ([`Store::open_layout_dir`]) or a tar stream
//! ([`Store::read_layout_tar`]) and is untrusted either way: only regular files count (no
//! symlinks, devices or FIFOs where a file belongs), blobs are found only as
//! `blobs/sha256/<hex>` of a parsed digest, JSON documents are size-capped, and every blob is
//! hashed and checked against its digest and declared size in a stage before anything is
//! committed to the store; manifests go in after their blobs, indexes after their manifests.
//! Then [`LayoutReader::import_image`] takes one image (by tag or digest, for a platform)
//! and [`LayoutReader::import_all`] takes every image of `index.json`.
//!
//! Writing: [`Store::export_oci_archive`] (tar stream) and [`Store::export_oci_dir`]
//! (directory) write the refs and everything they reference, each blob verified as it is
//! copied out of the store.

mod dir;
mod error;
mod import;
mod pick;
mod resolve;
mod source;
mod stage;
mod tar_in;
mod tar_out;
mod write;

use std::io::Read;
use std::path::Path;

use rbuild_oci::{Digest, Index};

pub use error::LayoutError;
pub(crate) use source::{parse_member, Source};
pub(crate) use stage::Stage;
pub(crate) use tar_in::TarSource;
pub(crate) use tar_out::{blob_entry, TarOut};

use crate::Store;

/// Which image of a layout: `@digest` (any manifest or index blob of the layout) wins over
/// `:tag`; neither means `latest`, or the layout's only image.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Selector {
    /// The tag, looked up in `io.containerd.image.name` then `org.opencontainers.image.ref.name`.
    pub tag: Option<String>,
    /// A manifest or index digest.
    pub digest: Option<Digest>,
}

/// An OCI image layout opened for import; nothing of it is in the store yet.
pub struct LayoutReader<'s> {
    store: &'s Store,
    src: Box<dyn Source>,
}

impl<'s> LayoutReader<'s> {
    /// Wraps a source after checking its `oci-layout` file.
    pub(crate) fn new(store: &'s Store, src: Box<dyn Source>) -> Result<Self, LayoutError> {
        source::check_layout_file(&*src)?;
        Ok(LayoutReader { store, src })
    }

    /// The layout's `index.json`.
    pub fn index(&self) -> Result<Index, LayoutError> {
        source::read_index(&*self.src)
    }
}

impl Store {
    /// Opens an OCI image layout directory for import (the path itself may be a symlink;
    /// nothing below it may).
    pub fn open_layout_dir(&self, path: &Path) -> Result<LayoutReader<'_>, LayoutError> {
        let src = dir::DirSource::open(path, Stage::new(self)?)?;
        LayoutReader::new(self, Box::new(src))
    }

    /// Reads an OCI image layout tar stream (an `oci-archive`) for import: every member is
    /// hashed into a stage as it passes, and a blob member must hash to its name.
    pub fn read_layout_tar(&self, reader: &mut dyn Read) -> Result<LayoutReader<'_>, LayoutError> {
        let src = TarSource::load(self, reader)?;
        LayoutReader::new(self, Box::new(src))
    }
}
