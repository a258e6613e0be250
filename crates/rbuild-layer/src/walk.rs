//! Deterministic walk of an overlay-format directory, classifying whiteouts and opaque dirs.
//!
//! Order: depth first, each directory's children sorted by their *layer* name bytes
//! (`x` whited out sorts as `.wh.x`). This is path-byte order with `/` sorting before every
//! other byte, so parents always precede children. Memory: one sorted child list per level.

use std::fs::{self, Metadata};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use crate::error::LayerError;
use crate::xattrs;

/// Prefix of whiteout names in OCI layers.
pub(crate) const WH_PREFIX: &[u8] = b".wh.";

/// What an entry of the upper dir stands for in the layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum NodeKind {
    /// A directory; `opaque` hides everything below it in lower layers.
    Dir {
        /// Carries `trusted.overlay.opaque=y` (or the `user.` form).
        opaque: bool,
    },
    /// A regular file.
    File,
    /// A symbolic link with its target.
    Symlink(Vec<u8>),
    /// A character device (not 0/0).
    Char(u64),
    /// A block device.
    Block(u64),
    /// A named pipe.
    Fifo,
    /// A deletion of the lower path of the same name.
    Whiteout,
}

/// One walked entry.
#[derive(Debug)]
pub(crate) struct Node {
    /// Layer path: relative, no trailing `/`; whiteouts already renamed to `.wh.<name>`.
    pub rel: Vec<u8>,
    /// Where it is on disk.
    pub abs: PathBuf,
    /// `lstat` of it.
    pub meta: Metadata,
    /// Classification.
    pub kind: NodeKind,
    /// Xattrs to store in the layer, sorted by name.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// A child waiting in its directory's sorted list.
struct Child {
    name: Vec<u8>,
    abs: PathBuf,
    meta: Metadata,
    whiteout: bool,
}

/// Sorted depth-first walk over the upper dir `root` (the root itself is not yielded).
pub(crate) struct Walk {
    stack: Vec<(Vec<u8>, std::vec::IntoIter<Child>)>,
    expand: Option<(Vec<u8>, PathBuf)>,
}

impl Walk {
    /// Starts a walk of `root`.
    pub(crate) fn new(root: &Path) -> Self {
        Walk {
            stack: Vec::new(),
            expand: Some((Vec::new(), root.to_path_buf())),
        }
    }

    fn step(&mut self) -> Result<Option<Node>, LayerError> {
        if let Some((rel, abs)) = self.expand.take() {
            let children = read_children(&abs)?;
            self.stack.push((rel, children.into_iter()));
        }
        while let Some((dir, iter)) = self.stack.last_mut() {
            let Some(child) = iter.next() else {
                self.stack.pop();
                continue;
            };
            let rel = join(dir, &child.name);
            let node = to_node(rel, child)?;
            if matches!(node.kind, NodeKind::Dir { .. }) {
                self.expand = Some((node.rel.clone(), node.abs.clone()));
            }
            return Ok(Some(node));
        }
        Ok(None)
    }
}

impl Iterator for Walk {
    type Item = Result<Node, LayerError>;

    fn next(&mut self) -> Option<Self::Item> {
        match self.step() {
            Ok(node) => node.map(Ok),
            Err(e) => {
                // Stop after an error: the tree state is unknown.
                self.stack.clear();
                self.expand = None;
                Some(Err(e))
            }
        }
    }
}

fn join(dir: &[u8], name: &[u8]) -> Vec<u8> {
    let mut rel = Vec::with_capacity(dir.len() + 1 + name.len());
    if !dir.is_empty() {
        rel.extend_from_slice(dir);
        rel.push(b'/');
    }
    rel.extend_from_slice(name);
    rel
}

/// Lists, classifies and sorts the children of `dir`. Sockets are skipped (tar has no type
/// for them, and Docker/BuildKit skip them too).
fn read_children(dir: &Path) -> Result<Vec<Child>, LayerError> {
    let rd = fs::read_dir(dir).map_err(|e| LayerError::io("reading directory", dir, e))?;
    let mut out = Vec::new();
    for entry in rd {
        let entry = entry.map_err(|e| LayerError::io("reading directory", dir, e))?;
        let abs = entry.path();
        let meta = fs::symlink_metadata(&abs).map_err(|e| LayerError::io("stat", &abs, e))?;
        if meta.file_type().is_socket() {
            continue;
        }
        let name = entry.file_name().into_vec();
        let whiteout = is_whiteout(&abs, &meta)?;
        if !whiteout && name.starts_with(WH_PREFIX) {
            return Err(LayerError::ReservedName(abs));
        }
        let name = if whiteout { join_wh(&name) } else { name };
        out.push(Child {
            name,
            abs,
            meta,
            whiteout,
        });
    }
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

fn join_wh(name: &[u8]) -> Vec<u8> {
    [WH_PREFIX, name].concat()
}

/// A 0/0 character device, or an empty file with an overlay whiteout xattr.
fn is_whiteout(abs: &Path, meta: &Metadata) -> Result<bool, LayerError> {
    let ft = meta.file_type();
    if ft.is_char_device() {
        return Ok(meta.rdev() == 0);
    }
    if ft.is_file() && meta.len() == 0 {
        for name in xattrs::WHITEOUT {
            let v = xattrs::get(abs, name.as_bytes())
                .map_err(|e| LayerError::io("getxattr", abs, e))?;
            if v.is_some() {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

fn to_node(rel: Vec<u8>, child: Child) -> Result<Node, LayerError> {
    let Child {
        abs,
        meta,
        whiteout,
        ..
    } = child;
    if whiteout {
        let kind = NodeKind::Whiteout;
        return Ok(Node {
            rel,
            abs,
            meta,
            kind,
            xattrs: Vec::new(),
        });
    }
    let (opaque, kept) = layer_xattrs(&abs)?;
    let kind = classify(&abs, &meta, opaque)?;
    Ok(Node {
        rel,
        abs,
        meta,
        kind,
        xattrs: kept,
    })
}

/// An extended attribute: name and value.
type Xattr = (Vec<u8>, Vec<u8>);

/// Whether `abs` is an opaque overlay dir, and the xattrs a layer keeps; an overlay
/// redirect or metacopy xattr, which no tar can express, is an error.
fn layer_xattrs(abs: &Path) -> Result<(bool, Vec<Xattr>), LayerError> {
    let names = xattrs::list(abs).map_err(|e| LayerError::io("listxattr", abs, e))?;
    let mut opaque = false;
    let mut kept = Vec::new();
    for name in names {
        if let Some(x) = xattrs::REFUSED.iter().find(|x| x.as_bytes() == name) {
            let xattr = (*x).to_string();
            let path = abs.to_path_buf();
            return Err(LayerError::UnsupportedOverlay { path, xattr });
        }
        let value = xattrs::get(abs, &name).map_err(|e| LayerError::io("getxattr", abs, e))?;
        let Some(value) = value else { continue };
        if xattrs::OPAQUE.iter().any(|o| o.as_bytes() == name) {
            opaque |= value.first() == Some(&b'y');
        } else if xattrs::is_layer_xattr(&name) {
            kept.push((name, value));
        }
    }
    Ok((opaque, kept))
}

fn classify(abs: &Path, meta: &Metadata, opaque: bool) -> Result<NodeKind, LayerError> {
    let ft = meta.file_type();
    Ok(if ft.is_dir() {
        NodeKind::Dir { opaque }
    } else if ft.is_symlink() {
        let target = fs::read_link(abs).map_err(|e| LayerError::io("readlink", abs, e))?;
        NodeKind::Symlink(target.as_os_str().as_bytes().to_vec())
    } else if ft.is_char_device() {
        NodeKind::Char(meta.rdev())
    } else if ft.is_block_device() {
        NodeKind::Block(meta.rdev())
    } else if ft.is_fifo() {
        NodeKind::Fifo
    } else {
        NodeKind::File
    })
}
