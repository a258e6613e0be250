//! What the destination already holds: the pieces of the cache-mount artifact now under the
//! tag an export writes to. A piece found there (same digest) is referenced where it is
//! instead of being packed and sent again, so a second export sends only new pieces (and the
//! small configs, manifests and index).
//!
//! The destination is not trusted for this: if its config lies about what a range of a pack
//! holds, the new artifact inherits the lie, and an import refuses it when the piece does not
//! hash to its digest. Nothing wrong is ever written.

use std::collections::HashMap;

use rbuild_oci::{Descriptor, Digest};

use super::chunker::CHUNK_LIMIT;
use super::error::CacheMountError;
use super::format::CACHE_MOUNT_CHUNK;
use super::import::{fetch_parts, select, ArtifactSource};

/// Where a piece lies in the destination: its pack, offset and length.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Place {
    /// The pack (a chunk blob).
    pub pack: Descriptor,
    /// Offset of the piece in the pack.
    pub offset: u64,
    /// Its length.
    pub len: u64,
}

/// The pieces an export may reuse from its destination (none for a first export).
#[derive(Clone, Debug, Default)]
pub struct Base {
    pieces: HashMap<Digest, Place>,
}

impl Base {
    /// No pieces: everything is packed and sent.
    pub fn empty() -> Base {
        Base::default()
    }

    /// The pieces of every mount of the artifact whose index is `index`, read from `src`
    /// (manifests and configs only, each checked against its digest).
    pub fn load(index: &[u8], src: &dyn ArtifactSource) -> Result<Base, CacheMountError> {
        let mut base = Base::default();
        for (id, manifests) in select(index, src, &[])? {
            for (config, layers) in fetch_parts(&id, &manifests, src)? {
                for piece in config.entries.iter().flat_map(|e| &e.chunks) {
                    let Some(pack) = layers.get(piece.0 as usize) else {
                        continue;
                    };
                    let inside = piece.1.checked_add(piece.2).is_some_and(|e| e <= pack.size);
                    if pack.media_type != CACHE_MOUNT_CHUNK || pack.size > CHUNK_LIMIT || !inside {
                        continue;
                    }
                    let place = Place {
                        pack: Descriptor::new(CACHE_MOUNT_CHUNK, pack.digest.clone(), pack.size),
                        offset: piece.1,
                        len: piece.2,
                    };
                    base.pieces.entry(piece.3.clone()).or_insert(place);
                }
            }
        }
        Ok(base)
    }

    /// How many distinct pieces it offers.
    pub fn len(&self) -> usize {
        self.pieces.len()
    }

    /// Whether it offers none.
    pub fn is_empty(&self) -> bool {
        self.pieces.is_empty()
    }

    /// Claims that the destination has the piece `digest` at `place` (tests: a lying base).
    #[cfg(test)]
    pub(crate) fn insert(&mut self, digest: Digest, place: Place) {
        self.pieces.insert(digest, place);
    }

    /// Where the piece with this digest is, if the destination has it.
    pub(crate) fn find(&self, digest: &Digest) -> Option<&Place> {
        self.pieces.get(digest)
    }
}
