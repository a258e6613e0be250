//! Turning a walked mount into entries and chunk blobs in the store: small files into packs,
//! larger ones into content-defined chunks (see `chunker`). A chunk already in the store is
//! not written again, so a second export writes (and later uploads) only what changed.

use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::path::Path;

use rbuild_oci::{Descriptor, Digest};

use super::chunker::{cut, starts_pack, CHUNK_MAX, PACK_MAX, SMALL_FILE};
use super::error::{At, CacheMountError};
use super::format::{Entry, Kind, CACHE_MOUNT_CHUNK};
use super::walk::Node;
use crate::Store;

/// Counts of one mount's export.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct PackStats {
    /// Regular files (hardlinks not counted again).
    pub files: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Distinct chunks.
    pub chunks: u64,
    /// Chunks the store did not have yet (written now).
    pub new_chunks: u64,
    /// Their bytes.
    pub new_bytes: u64,
}

/// Entries and chunks of one mount as its walk goes.
pub(crate) struct Packer<'s> {
    store: &'s Store,
    root: &'s Path,
    pub entries: Vec<Entry>,
    pub chunks: Vec<Descriptor>,
    seen: HashMap<Digest, u64>,
    inodes: HashMap<(u64, u64), String>,
    pack: Vec<u8>,
    /// Entries whose bytes are in the open pack (their chunk index is set when it closes).
    waiting: Vec<usize>,
    pub stats: PackStats,
}

impl<'s> Packer<'s> {
    /// A packer writing chunks into `store`; `root` is the mount's directory, for messages.
    pub fn new(store: &'s Store, root: &'s Path) -> Self {
        Packer {
            store,
            root,
            entries: Vec::new(),
            chunks: Vec::new(),
            seen: HashMap::new(),
            inodes: HashMap::new(),
            pack: Vec::new(),
            waiting: Vec::new(),
            stats: PackStats::default(),
        }
    }

    /// Records one entry of the walk (reading a file's bytes into chunks).
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
            self.entries.push(entry);
            return Ok(());
        }
        let Some(file) = node.file else {
            self.entries.push(entry);
            return Ok(());
        };
        self.stats.files += 1;
        if node.size < SMALL_FILE {
            return self.small(entry, file);
        }
        let path = self.root.join(&entry.path);
        (entry.chunks, entry.size) = self.large(file, &path)?;
        self.stats.bytes += entry.size;
        self.entries.push(entry);
        Ok(())
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

    /// Reads a small file into the open pack, closing the pack first where its path says so.
    fn small(&mut self, mut entry: Entry, file: File) -> Result<(), CacheMountError> {
        if !self.waiting.is_empty() && starts_pack(&entry.path) {
            self.close_pack()?;
        }
        let mut data = Vec::new();
        let path = self.root.join(&entry.path);
        // A file growing while it is read is cut where it was measured to be small.
        file.take(SMALL_FILE).read_to_end(&mut data).at(&path)?;
        if !self.waiting.is_empty() && self.pack.len() + data.len() > PACK_MAX {
            self.close_pack()?;
        }
        entry.size = data.len() as u64;
        self.stats.bytes += entry.size;
        if entry.size > 0 {
            entry.chunks = vec![[u64::MAX, self.pack.len() as u64, entry.size]];
            self.pack.extend_from_slice(&data);
            self.waiting.push(self.entries.len());
        }
        self.entries.push(entry);
        Ok(())
    }

    /// Stores the open pack and points its files at it.
    fn close_pack(&mut self) -> Result<(), CacheMountError> {
        let pack = std::mem::take(&mut self.pack);
        let index = self.chunk(&pack)?;
        for i in std::mem::take(&mut self.waiting) {
            if let Some(piece) = self.entries[i].chunks.first_mut() {
                piece[0] = index;
            }
        }
        Ok(())
    }

    /// Cuts a file into content-defined chunks; returns its pieces and size.
    fn large(
        &mut self,
        mut file: File,
        path: &Path,
    ) -> Result<(Vec<[u64; 3]>, u64), CacheMountError> {
        let mut buf = Vec::with_capacity(CHUNK_MAX);
        let mut pieces = Vec::new();
        let mut size = 0;
        let mut eof = false;
        loop {
            if !eof && buf.len() < CHUNK_MAX {
                let want = (CHUNK_MAX - buf.len()) as u64;
                let n = (&mut file).take(want).read_to_end(&mut buf).at(path)?;
                eof = (n as u64) < want;
                continue;
            }
            if buf.is_empty() {
                return Ok((pieces, size));
            }
            let n = cut(&buf);
            let index = self.chunk(&buf[..n])?;
            pieces.push([index, 0, n as u64]);
            size += n as u64;
            buf.drain(..n);
        }
    }

    /// The index of the chunk holding `data`, storing it if the store lacks it.
    fn chunk(&mut self, data: &[u8]) -> Result<u64, CacheMountError> {
        let digest = Digest::of(data);
        if let Some(i) = self.seen.get(&digest) {
            return Ok(*i);
        }
        // Before looking: a concurrent prune then either keeps it or is done removing it.
        self.store.protect(&digest)?;
        if !self.store.has_blob(&digest) {
            self.store.put_blob(data)?;
            self.stats.new_chunks += 1;
            self.stats.new_bytes += data.len() as u64;
        }
        let index = self.chunks.len() as u64;
        let size = data.len() as u64;
        self.chunks
            .push(Descriptor::new(CACHE_MOUNT_CHUNK, digest.clone(), size));
        self.seen.insert(digest, index);
        self.stats.chunks += 1;
        Ok(index)
    }

    /// Closes the last pack; the entries and chunks are complete.
    pub fn finish(&mut self) -> Result<(), CacheMountError> {
        if !self.waiting.is_empty() {
            self.close_pack()?;
        }
        Ok(())
    }
}
