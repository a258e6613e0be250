//! Tags: `index.json` entries annotated with `org.opencontainers.image.ref.name`.
//!
//! Readers never lock (the file is replaced by rename); writers do read-modify-write-rename
//! under the exclusive `locks/index.lock`, so concurrent processes never lose an update.

use std::fs;
use std::io;

use rbuild_oci::{Descriptor, Index};

use crate::error::{IoContext, Result, StoreError};
use crate::{lock, Store};

/// The OCI annotation holding a tag.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// The tag of an `index.json` entry, if it has one.
pub fn ref_name(desc: &Descriptor) -> Option<&str> {
    desc.annotations.as_ref()?.get(REF_NAME).map(String::as_str)
}

/// Whether a tag can be stored as-is.
fn valid_tag(name: &str) -> bool {
    !name.is_empty() && !name.chars().any(char::is_control)
}

impl Store {
    /// Reads `index.json` (an absent file is an empty index).
    pub fn read_index(&self) -> Result<Index> {
        let path = self.layout.index();
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::IndexCorrupt {
                path: path.clone(),
                why: e.to_string(),
            }),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Index::default()),
            Err(e) => Err(e).at(&path),
        }
    }

    /// Applies `change` to `index.json` under the exclusive index lock.
    fn update_index<T>(&self, change: impl FnOnce(&mut Index) -> T) -> Result<T> {
        let _guard = lock::lock_exclusive(&self.layout.lock("index.lock"))?;
        let mut index = self.read_index()?;
        let before = rbuild_oci::to_canonical_json(&index);
        let out = change(&mut index);
        let json = rbuild_oci::to_canonical_json(&index);
        // Re-tagging the image a tag already names (every no-op rebuild) changes nothing:
        // skip the write and its two fsyncs.
        if json != before {
            self.layout.write_atomic(&self.layout.index(), &json)?;
        }
        Ok(out)
    }

    /// Points `name` at `manifest`, replacing an existing entry with the same name.
    pub fn set_tag(&self, name: &str, manifest: &Descriptor) -> Result<()> {
        if !valid_tag(name) {
            return Err(StoreError::InvalidTag(name.to_string()));
        }
        let mut entry = manifest.clone();
        entry
            .annotations
            .get_or_insert_with(Default::default)
            .insert(REF_NAME.to_string(), name.to_string());
        self.update_index(|index| {
            match index
                .manifests
                .iter_mut()
                .find(|d| ref_name(d) == Some(name))
            {
                Some(slot) => *slot = entry,
                None => index.manifests.push(entry),
            }
        })
    }

    /// The manifest a tag points to.
    pub fn resolve_tag(&self, name: &str) -> Result<Option<Descriptor>> {
        let index = self.read_index()?;
        let found = index
            .manifests
            .into_iter()
            .find(|d| ref_name(d) == Some(name));
        Ok(found)
    }

    /// Every tag with its manifest descriptor, in `index.json` order.
    pub fn tags(&self) -> Result<Vec<(String, Descriptor)>> {
        let index = self.read_index()?;
        let tags = index
            .manifests
            .into_iter()
            .filter_map(|d| Some((ref_name(&d)?.to_string(), d)))
            .collect();
        Ok(tags)
    }

    /// Removes a tag; `false` if it did not exist.
    pub fn remove_tag(&self, name: &str) -> Result<bool> {
        self.update_index(|index| {
            let before = index.manifests.len();
            index.manifests.retain(|d| ref_name(d) != Some(name));
            index.manifests.len() != before
        })
    }
}
