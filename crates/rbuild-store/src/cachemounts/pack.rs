//! Turning a walked mount into entries and packs. Every file is cut into pieces (see
//! `chunker`); a piece the destination already holds (see `base`) is referenced where it is,
//! any other is appended to the open pack, which is stored as one blob when the next piece
//! would take it past [`PACK_MAX`]. A second export therefore packs and sends only the
//! pieces that changed, whatever the pack boundaries were; `compact` keeps destination packs
//! that are mostly unused from being fetched for the little they still hold.

use std::collections::{HashMap, HashSet};
use std::fs::File;
use std::io::Read;
use std::path::Path;

use rbuild_oci::{Descriptor, Digest};

use super::base::Base;
use super::chunker::{cut, CHUNK_MAX, PACK_MAX};
use super::error::{At, CacheMountError};
use super::format::{Entry, Kind, Piece, CACHE_MOUNT_CHUNK};
use super::walk::Node;
use crate::Store;

/// Layer index of a piece whose pack is still open.
pub(super) const OPEN: u64 = u64::MAX;

/// Counts of one mount's export.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackStats {
    /// Regular files (hardlinks not counted again).
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Packs the mount's entries use.
    pub chunks: u64,
    /// Packs this export made (the others are at the destination already).
    pub new_chunks: u64,
    /// Their bytes.
    pub new_bytes: u64,
    /// Bytes of pieces used where the destination has them.
    pub reused_bytes: u64,
    /// Destination packs no longer used because less than half of each was (their live
    /// pieces were packed again).
    pub compacted: u64,
}

/// Entries and packs of one mount as its walk goes.
pub(crate) struct Packer<'s> {
    store: &'s Store,
    pub(super) root: &'s Path,
    base: &'s Base,
    /// Destination packs being compacted: their pieces are not reused.
    pub(super) dropped: HashSet<Digest>,
    pub entries: Vec<Entry>,
    pub chunks: Vec<Descriptor>,
    chunk_index: HashMap<Digest, u64>,
    /// Packs this export made (indexes into `chunks`).
    pub(super) made_packs: HashSet<u64>,
    /// Pieces this export packed: their pack (`OPEN` while open) and offset.
    made: HashMap<Digest, (u64, u64)>,
    inodes: HashMap<(u64, u64), String>,
    open: Vec<u8>,
    open_pieces: Vec<Digest>,
    /// (entry, piece) pairs pointing into the open pack.
    waiting: Vec<(usize, usize)>,
    pub stats: PackStats,
}

impl<'s> Packer<'s> {
    /// A packer writing packs into `store`, reusing what `base` has; `root` is the mount.
    pub fn new(store: &'s Store, root: &'s Path, base: &'s Base) -> Self {
        Packer {
            store,
            root,
            base,
            dropped: HashSet::new(),
            entries: Vec::new(),
            chunks: Vec::new(),
            chunk_index: HashMap::new(),
            made_packs: HashSet::new(),
            made: HashMap::new(),
            inodes: HashMap::new(),
            open: Vec::new(),
            open_pieces: Vec::new(),
            waiting: Vec::new(),
            stats: PackStats::default(),
        }
    }

    /// Records one entry of the walk (reading a file's bytes into pieces).
    pub fn visit(&mut self, node: Node) -> Result<(), CacheMountError> {
        let mut entry = Entry {
            path: node.path,
            kind: node.kind,
            mode: node.meta.mode,
            uid: node.meta.uid,
            gid: node.meta.gid,
            mtime: node.meta.mtime,
            size: 0,
            target: node.target,
            chunks: Vec::new(),
        };
        if let Some(first) = node.inode.and_then(|i| self.first_name(i, &entry.path)) {
            entry.kind = Kind::Hardlink;
            entry.target = Some(first);
        }
        let is_file = entry.kind == Kind::File;
        self.entries.push(entry);
        match node.file {
            Some(file) if is_file => {
                self.stats.files += 1;
                self.file(file)
            }
            _ => Ok(()),
        }
    }

    /// The first path seen of a file with several names, if this is not it.
    fn first_name(&mut self, inode: (u64, u64), path: &str) -> Option<String> {
        match self.inodes.get(&inode) {
            Some(first) => Some(first.clone()),
            None => {
                self.inodes.insert(inode, path.to_string());
                None
            }
        }
    }

    /// Cuts the last entry's file into pieces.
    fn file(&mut self, mut file: File) -> Result<(), CacheMountError> {
        let e = self.entries.len() - 1;
        let path = self.root.join(&self.entries[e].path);
        let mut buf = Vec::with_capacity(CHUNK_MAX);
        let mut eof = false;
        loop {
            if !eof && buf.len() < CHUNK_MAX {
                let want = (CHUNK_MAX - buf.len()) as u64;
                let n = (&mut file).take(want).read_to_end(&mut buf).at(&path)?;
                eof = (n as u64) < want;
                continue;
            }
            if buf.is_empty() {
                return Ok(());
            }
            let n = cut(&buf);
            let piece = self.piece(&buf[..n], (e, self.entries[e].chunks.len()))?;
            self.entries[e].chunks.push(piece);
            self.entries[e].size += n as u64;
            self.stats.bytes += n as u64;
            buf.drain(..n);
        }
    }

    /// Where the piece `data` goes: where this export or the destination already has it,
    /// else at the end of the open pack. `at` is the (entry, piece) it will be.
    pub(super) fn piece(
        &mut self,
        data: &[u8],
        at: (usize, usize),
    ) -> Result<Piece, CacheMountError> {
        let digest = Digest::of(data);
        let len = data.len() as u64;
        if let Some((pack, offset)) = self.made.get(&digest).copied() {
            if pack == OPEN {
                self.waiting.push(at);
            }
            return Ok(Piece(pack, offset, len, digest));
        }
        let found = self
            .base
            .find(&digest)
            .filter(|p| !self.dropped.contains(&p.pack.digest));
        if let Some(place) = found.cloned() {
            let pack = self.pack_ref(&place.pack);
            return Ok(Piece(pack, place.offset, place.len, digest));
        }
        if !self.open.is_empty() && self.open.len() + data.len() > PACK_MAX {
            self.close_pack()?;
        }
        let offset = self.open.len() as u64;
        self.open.extend_from_slice(data);
        self.open_pieces.push(digest.clone());
        self.made.insert(digest.clone(), (OPEN, offset));
        self.waiting.push(at);
        Ok(Piece(OPEN, offset, len, digest))
    }

    /// The index of a pack in `chunks`, adding it if needed.
    fn pack_ref(&mut self, pack: &Descriptor) -> u64 {
        let next = self.chunks.len() as u64;
        let i = *self.chunk_index.entry(pack.digest.clone()).or_insert(next);
        if i == next {
            self.chunks.push(pack.clone());
        }
        i
    }

    /// Stores the open pack (unless the store has it) and points its pieces at it.
    fn close_pack(&mut self) -> Result<(), CacheMountError> {
        let pack = std::mem::take(&mut self.open);
        let digest = Digest::of(&pack);
        // Before looking: a concurrent prune then either keeps it or is done removing it.
        self.store.protect(&digest)?;
        if !self.store.has_blob(&digest) {
            self.store.put_blob(&pack)?;
        }
        self.stats.new_chunks += 1;
        self.stats.new_bytes += pack.len() as u64;
        let i = self.pack_ref(&Descriptor::new(
            CACHE_MOUNT_CHUNK,
            digest,
            pack.len() as u64,
        ));
        self.made_packs.insert(i);
        for d in std::mem::take(&mut self.open_pieces) {
            if let Some(m) = self.made.get_mut(&d) {
                m.0 = i;
            }
        }
        for (e, p) in std::mem::take(&mut self.waiting) {
            self.entries[e].chunks[p].0 = i;
        }
        Ok(())
    }

    /// Closes the last pack and counts what the entries use.
    pub fn finish(&mut self) -> Result<(), CacheMountError> {
        if !self.open.is_empty() {
            self.close_pack()?;
        }
        let mut used = HashSet::new();
        let mut reused = 0;
        for p in self.entries.iter().flat_map(|e| &e.chunks) {
            used.insert(p.0);
            if !self.made_packs.contains(&p.0) {
                reused += p.2;
            }
        }
        self.stats.chunks = used.len() as u64;
        self.stats.reused_bytes = reused;
        Ok(())
    }
}
