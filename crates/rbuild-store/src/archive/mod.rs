//! `rbuild save` and `load`: docker-archives (`docker load`'s format) out and in, and the load
//! entry points for OCI layouts, which the `ocilayout` module reads and writes.

mod docker_in;
mod docker_out;

use std::io::Read;
use std::path::Path;

use rbuild_oci::Descriptor;

use crate::ocilayout::{LayoutError, LayoutReader, TarSource};
use crate::Store;

impl Store {
    /// Loads a docker-archive or OCI layout tar stream, tags what it names and returns every
    /// image as (tag, descriptor); the tag is empty for unnamed images (which are not tagged).
    /// Nothing enters the store unless every blob the images need was verified.
    pub fn import_archive(
        &self,
        reader: &mut dyn Read,
    ) -> Result<Vec<(String, Descriptor)>, LayoutError> {
        let tar = TarSource::load(self, reader)?;
        let images = if tar.has("manifest.json") {
            docker_in::import(self, tar)?
        } else if tar.has("index.json") {
            LayoutReader::new(self, Box::new(tar))?.import_all()?
        } else {
            return Err(LayoutError::NotALayout {
                path: "the archive".into(),
                reason: "it has neither manifest.json (docker-archive) nor index.json (OCI layout)",
            });
        };
        self.tag_named(&images)?;
        Ok(images)
    }

    /// Loads every image of an OCI layout directory like [`Store::import_archive`].
    pub fn import_layout_dir(&self, dir: &Path) -> Result<Vec<(String, Descriptor)>, LayoutError> {
        let images = self.open_layout_dir(dir)?.import_all()?;
        self.tag_named(&images)?;
        Ok(images)
    }

    fn tag_named(&self, images: &[(String, Descriptor)]) -> Result<(), LayoutError> {
        for (tag, desc) in images.iter().filter(|(tag, _)| !tag.is_empty()) {
            self.set_tag(tag, desc)?;
        }
        Ok(())
    }
}
