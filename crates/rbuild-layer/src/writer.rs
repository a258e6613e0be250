//! `write_layer`: walk → tar → sha256 (diffID) → compressor → sha256 (digest) → out, one pass.

use std::collections::HashMap;
use std::fs::File;
use std::io::{BufWriter, Write};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::Path;

use rbuild_oci::{Digest, Sha256Writer};
use tar::EntryType;

use crate::compression::{Compression, Compressor};
use crate::error::LayerError;
use crate::tarwriter::{EntryMeta, TarWriter};
use crate::walk::{Node, NodeKind, Walk};

/// Name of the opaque-directory marker inside a directory.
pub const OPAQUE_MARKER: &str = ".wh..wh..opq";
/// Batches the many small header writes before they reach the hasher and compressor.
const STREAM_BUF: usize = 128 * 1024;

/// How `write_layer` encodes a layer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WriteOptions {
    /// Blob compression (default gzip level 6).
    pub compression: Compression,
    /// When set, mtimes later than this (seconds since the epoch) are clamped to it.
    pub source_date_epoch: Option<i64>,
}

/// The identities of a written layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayerDigests {
    /// sha256 of the uncompressed tar (goes into the image config's `rootfs.diff_ids`).
    pub diff_id: Digest,
    /// sha256 of the compressed blob (the manifest's layer descriptor digest).
    pub digest: Digest,
    /// Compressed bytes written to `out`.
    pub size: u64,
    /// OCI media type of the blob.
    pub media_type: &'static str,
    /// Tar entries written (PAX headers not counted, opaque markers counted).
    pub entries: u64,
}

/// Streams the overlay-format directory `dir` as an OCI layer tar (whiteouts → `.wh.<name>`,
/// opaque → `.wh..wh..opq`), compressed, into `out`, computing diffID and digest in the same
/// pass. Memory bounded whatever the size.
pub fn write_layer(
    dir: &Path,
    opts: &WriteOptions,
    out: &mut dyn Write,
) -> Result<LayerDigests, LayerError> {
    let digest_w = Sha256Writer::new(out);
    let comp = Compressor::new(digest_w, opts.compression).map_err(LayerError::Write)?;
    let diff_w = Sha256Writer::new(comp);
    let mut tar = TarWriter::new(BufWriter::with_capacity(STREAM_BUF, diff_w));
    let mut links = HardlinkMap::default();
    for node in Walk::new(dir) {
        write_node(&mut tar, &node?, opts, &mut links)?;
    }
    let (buffered, entries) = tar.finish().map_err(LayerError::Write)?;
    let diff_w = buffered
        .into_inner()
        .map_err(|e| LayerError::Write(e.into_error()))?;
    let (diff_id, _, comp) = diff_w.finish();
    let digest_w = comp.finish().map_err(LayerError::Write)?;
    let (digest, size, out) = digest_w.finish();
    out.flush().map_err(LayerError::Write)?;
    Ok(LayerDigests {
        diff_id,
        digest,
        size,
        media_type: opts.compression.media_type(),
        entries,
    })
}

/// First layer path seen for each multiply-linked inode.
#[derive(Default)]
struct HardlinkMap(HashMap<(u64, u64), Vec<u8>>);

impl HardlinkMap {
    /// The earlier path of the same inode, or `None` after remembering this one as the first.
    fn first_of(&mut self, node: &Node) -> Option<Vec<u8>> {
        let m = &node.meta;
        if m.nlink() < 2 || m.is_dir() {
            return None;
        }
        let key = (m.dev(), m.ino());
        if let Some(first) = self.0.get(&key) {
            return Some(first.clone());
        }
        self.0.insert(key, node.rel.clone());
        None
    }
}

/// The stored mtime: whole seconds, clamped to SOURCE_DATE_EPOCH, never negative.
pub(crate) fn clamp_mtime(mtime: i64, epoch: Option<i64>) -> u64 {
    let t = epoch.map_or(mtime, |e| mtime.min(e));
    u64::try_from(t).unwrap_or(0)
}

/// A zero-length marker entry (whiteout or opaque): fixed metadata so it never varies.
fn marker(path: Vec<u8>) -> EntryMeta {
    EntryMeta {
        path,
        kind: EntryType::Regular,
        mode: 0o644,
        uid: 0,
        gid: 0,
        size: 0,
        mtime: 0,
        link: None,
        dev: None,
        xattrs: Vec::new(),
    }
}

fn write_node<W: Write>(
    tar: &mut TarWriter<W>,
    node: &Node,
    opts: &WriteOptions,
    links: &mut HardlinkMap,
) -> Result<(), LayerError> {
    if node.kind == NodeKind::Whiteout {
        return tar
            .entry(&marker(node.rel.clone()))
            .map_err(LayerError::Write);
    }
    let mut e = base_meta(node, opts);
    if let Some(first) = links.first_of(node) {
        e.kind = EntryType::Link;
        e.size = 0;
        e.link = Some(first);
        e.xattrs.clear();
        return tar.entry(&e).map_err(LayerError::Write);
    }
    match &node.kind {
        NodeKind::File => write_file(tar, node, &e),
        NodeKind::Dir { opaque } => {
            tar.entry(&e).map_err(LayerError::Write)?;
            if *opaque {
                let mut path = e.path.clone();
                path.extend_from_slice(OPAQUE_MARKER.as_bytes());
                tar.entry(&marker(path)).map_err(LayerError::Write)?;
            }
            Ok(())
        }
        _ => tar.entry(&e).map_err(LayerError::Write),
    }
}

/// Header fields common to every kind, from the node's `lstat`.
fn base_meta(node: &Node, opts: &WriteOptions) -> EntryMeta {
    let m = &node.meta;
    let mut e = EntryMeta {
        path: node.rel.clone(),
        kind: EntryType::Regular,
        mode: m.mode() & 0o7777,
        uid: u64::from(m.uid()),
        gid: u64::from(m.gid()),
        size: 0,
        mtime: clamp_mtime(m.mtime(), opts.source_date_epoch),
        link: None,
        dev: None,
        xattrs: node.xattrs.clone(),
    };
    match &node.kind {
        NodeKind::Dir { .. } => {
            e.kind = EntryType::Directory;
            e.path.push(b'/');
        }
        NodeKind::File => e.size = m.len(),
        NodeKind::Symlink(target) => {
            e.kind = EntryType::Symlink;
            e.link = Some(target.clone());
        }
        NodeKind::Char(rdev) | NodeKind::Block(rdev) => {
            let is_char = matches!(node.kind, NodeKind::Char(_));
            e.kind = if is_char {
                EntryType::Char
            } else {
                EntryType::Block
            };
            e.dev = Some((rustix::fs::major(*rdev), rustix::fs::minor(*rdev)));
        }
        NodeKind::Fifo => e.kind = EntryType::Fifo,
        NodeKind::Whiteout => {}
    }
    e
}

fn write_file<W: Write>(
    tar: &mut TarWriter<W>,
    node: &Node,
    e: &EntryMeta,
) -> Result<(), LayerError> {
    let mut f = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&node.abs)
        .map_err(|err| LayerError::io("opening", &node.abs, err))?;
    let complete = tar
        .file(e, &mut f)
        .map_err(|err| LayerError::io("archiving", &node.abs, err))?;
    if !complete {
        return Err(LayerError::FileChanged {
            path: node.abs.clone(),
            expected: e.size,
        });
    }
    Ok(())
}
