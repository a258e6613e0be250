//! Keeping reused destination packs worth fetching. Each export references the pieces the
//! destination has wherever they are, so as files change, old packs hold more and more bytes
//! no entry uses, and an import would fetch them for nothing. After the walk, a destination
//! pack of which less than half is still used is dropped: its live pieces are read again from
//! the mount (opened beneath its root without following any link, and checked against their
//! digests) and packed anew. An import thus never fetches more than about twice the bytes
//! it writes.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::os::unix::fs::FileExt;

use rustix::fs::{openat, openat2, Mode, OFlags, ResolveFlags, CWD};

use super::error::{At, CacheMountError};
use super::pack::{Packer, OPEN};

impl Packer<'_> {
    /// Packs again the live pieces of destination packs that are mostly unused.
    pub fn compact(&mut self) -> Result<(), CacheMountError> {
        let sparse = self.sparse_packs();
        if sparse.is_empty() {
            return Ok(());
        }
        self.stats.compacted = sparse.len() as u64;
        self.dropped = sparse
            .iter()
            .map(|i| self.chunks[*i as usize].digest.clone())
            .collect();
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let root = openat(CWD, self.root, flags, Mode::empty()).at(self.root)?;
        for e in 0..self.entries.len() {
            let mut at = 0;
            for p in 0..self.entries[e].chunks.len() {
                let piece = self.entries[e].chunks[p].clone();
                if sparse.contains(&piece.0) {
                    let bytes = self.read_again(&root, e, at, piece.2, &piece.3)?;
                    self.entries[e].chunks[p] = self.piece(&bytes, (e, p))?;
                }
                at += piece.2;
            }
        }
        Ok(())
    }

    /// Destination packs (not made by this export) of which less than half is used.
    fn sparse_packs(&self) -> BTreeSet<u64> {
        let mut ranges: HashMap<u64, BTreeSet<(u64, u64)>> = HashMap::new();
        for p in self.entries.iter().flat_map(|e| &e.chunks) {
            if p.0 != OPEN && !self.made_packs.contains(&p.0) {
                ranges.entry(p.0).or_default().insert((p.1, p.2));
            }
        }
        ranges
            .into_iter()
            .filter(|(i, r)| {
                r.iter().map(|(_, len)| len).sum::<u64>() * 2 < self.chunks[*i as usize].size
            })
            .map(|(i, _)| i)
            .collect()
    }

    /// The bytes of entry `e` at `offset`, which must still hash to `digest`.
    fn read_again(
        &self,
        root: &std::os::fd::OwnedFd,
        e: usize,
        offset: u64,
        len: u64,
        digest: &rbuild_oci::Digest,
    ) -> Result<Vec<u8>, CacheMountError> {
        let rel = &self.entries[e].path;
        let path = self.root.join(rel);
        let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC;
        let resolve = ResolveFlags::BENEATH | ResolveFlags::NO_SYMLINKS;
        let file =
            File::from(openat2(root, rel.as_str(), flags, Mode::empty(), resolve).at(&path)?);
        let mut bytes = vec![0; len as usize];
        file.read_exact_at(&mut bytes, offset).at(&path)?;
        if rbuild_oci::Digest::of(&bytes) != *digest || !file.metadata().at(&path)?.is_file() {
            let changed = std::io::Error::other("it changed while the export was reading it");
            return Err(changed).at(&path);
        }
        Ok(bytes)
    }
}
