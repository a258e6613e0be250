//! Checking an imported mount before a byte of it is written. An artifact is untrusted: every
//! path must be relative and plain (no `..`, `.`, empty or absolute component), unique, and
//! inside a directory the mount itself declares earlier (so no entry is ever reached through
//! a symlink: links are created last and nothing is written through them); a hardlink must
//! name an earlier file of the mount; a file's pieces must lie inside chunks of the part and
//! add up to its size.

use std::collections::HashMap;

use rbuild_oci::{Descriptor, Digest};

use super::chunker::CHUNK_LIMIT;
use super::error::CacheMountError;
use super::format::{Entry, Kind, PartConfig, RootMeta, CACHE_MOUNT_CHUNK};

/// Longest path (and link target) accepted, as Linux's `PATH_MAX`.
const PATH_MAX: usize = 4096;

/// One piece of a chunk to write: into which entry, where, from where in the chunk.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Use {
    /// Index into [`Plan::entries`].
    pub entry: usize,
    /// Offset in the file.
    pub at: u64,
    /// Offset in the chunk.
    pub from: u64,
    /// Length.
    pub len: u64,
    /// What the piece must hash to.
    pub digest: Digest,
}

/// A checked mount, ready to restore.
#[derive(Debug)]
pub(crate) struct Plan {
    /// The mount's id.
    pub id: String,
    /// Its root directory.
    pub root: RootMeta,
    /// Every entry, parents first.
    pub entries: Vec<Entry>,
    /// The distinct chunks the files need.
    pub chunks: Vec<Descriptor>,
    /// For each chunk, where its bytes go.
    pub uses: Vec<Vec<Use>>,
}

/// Checks the parts of one mount (each with its manifest's layers) and plans its restore.
pub(crate) fn plan(
    id: &str,
    mut parts: Vec<(PartConfig, Vec<Descriptor>)>,
) -> Result<Plan, CacheMountError> {
    parts.sort_by_key(|(c, _)| c.part);
    let count = parts.len() as u32;
    for (n, (c, _)) in parts.iter().enumerate() {
        if c.id != id || c.part != n as u32 || c.parts != count {
            return Err(invalid(
                id,
                format!("part {} of {} does not fit", c.part, c.parts),
            ));
        }
    }
    let root = parts
        .first()
        .map(|(c, _)| c.root.clone())
        .unwrap_or_default();
    check_meta(id, "(the mount's root)", &root)?;
    let mut plan = Plan {
        id: id.to_string(),
        root,
        entries: Vec::new(),
        chunks: Vec::new(),
        uses: Vec::new(),
    };
    let mut kinds: HashMap<String, Kind> = HashMap::new();
    let mut global: HashMap<Digest, usize> = HashMap::new();
    for (config, layers) in parts {
        let map = plan.add_chunks(&layers, &mut global)?;
        for e in config.entries {
            check_entry(id, &e, &kinds)?;
            plan.add_pieces(&e, &layers, &map)?;
            kinds.insert(e.path.clone(), e.kind);
            plan.entries.push(e);
        }
    }
    Ok(plan)
}

impl Plan {
    /// Adds a part's layers to the distinct chunks; each layer's global index.
    fn add_chunks(
        &mut self,
        layers: &[Descriptor],
        global: &mut HashMap<Digest, usize>,
    ) -> Result<Vec<usize>, CacheMountError> {
        let mut map = Vec::with_capacity(layers.len());
        for l in layers {
            if l.media_type != CACHE_MOUNT_CHUNK || l.size > CHUNK_LIMIT {
                let why = format!(
                    "layer {} is not a chunk (media type {:?}, {} bytes; at most {CHUNK_LIMIT})",
                    l.digest, l.media_type, l.size
                );
                return Err(invalid(&self.id, why));
            }
            let next = self.chunks.len();
            let i = *global.entry(l.digest.clone()).or_insert_with(|| {
                self.chunks.push(l.clone());
                self.uses.push(Vec::new());
                next
            });
            map.push(i);
        }
        Ok(map)
    }

    /// Records where a file's pieces come from; they must tile the file exactly.
    fn add_pieces(
        &mut self,
        e: &Entry,
        layers: &[Descriptor],
        map: &[usize],
    ) -> Result<(), CacheMountError> {
        let entry = self.entries.len();
        let mut at = 0u64;
        for super::format::Piece(layer, from, len, digest) in e.chunks.iter().cloned() {
            let chunk = layers.get(layer as usize);
            let inside =
                chunk.is_some_and(|c| from.checked_add(len).is_some_and(|end| end <= c.size));
            if !inside || len == 0 {
                return Err(unsafe_entry(&self.id, e, "a piece lies outside its chunk"));
            }
            self.uses[map[layer as usize]].push(Use {
                entry,
                at,
                from,
                len,
                digest,
            });
            at += len;
        }
        if at != e.size {
            return Err(unsafe_entry(
                &self.id,
                e,
                "its pieces do not add up to its size",
            ));
        }
        Ok(())
    }
}

/// Checks one entry against the rules above, given the kinds of the entries before it.
fn check_entry(id: &str, e: &Entry, kinds: &HashMap<String, Kind>) -> Result<(), CacheMountError> {
    let why = |w: &str| unsafe_entry(id, e, w);
    check_path(&e.path).map_err(&why)?;
    if kinds.contains_key(&e.path) {
        return Err(why("the mount lists this path twice"));
    }
    if let Some((parent, _)) = e.path.rsplit_once('/') {
        if kinds.get(parent) != Some(&Kind::Dir) {
            return Err(why("its parent is not an earlier directory of the mount"));
        }
    }
    check_meta(
        id,
        &e.path,
        &RootMeta {
            mode: e.mode,
            uid: e.uid,
            gid: e.gid,
            mtime: e.mtime,
        },
    )?;
    let has_bytes = !e.chunks.is_empty() || e.size > 0;
    match (e.kind, e.target.as_deref()) {
        (Kind::File, None) => Ok(()),
        (Kind::Dir | Kind::Fifo, None) if !has_bytes => Ok(()),
        (Kind::Symlink, Some(t))
            if !has_bytes && !t.is_empty() && t.len() <= PATH_MAX && !t.contains('\0') =>
        {
            Ok(())
        }
        (Kind::Hardlink, Some(t)) if !has_bytes => match kinds.get(t) {
            Some(Kind::File) => Ok(()),
            _ => Err(why(
                "a hardlink must name an earlier regular file of the mount",
            )),
        },
        _ => Err(why("its type, target and contents do not go together")),
    }
}

/// Why a path is refused, if it is.
fn check_path(path: &str) -> Result<(), &'static str> {
    if path.is_empty() || path.len() > PATH_MAX || path.contains('\0') {
        return Err("empty, too long or containing NUL");
    }
    if path.starts_with('/') {
        return Err("absolute paths are refused");
    }
    for c in path.split('/') {
        if c.is_empty() || c == "." || c == ".." || c.len() > 255 {
            return Err("every component must be a plain name (no '..', '.' or empty one)");
        }
    }
    Ok(())
}

/// Permission bits must be only that, nanoseconds under a second.
fn check_meta(id: &str, path: &str, m: &RootMeta) -> Result<(), CacheMountError> {
    if m.mode > 0o7777 || !(0..1_000_000_000).contains(&m.mtime[1]) {
        return Err(CacheMountError::Unsafe {
            id: id.to_string(),
            path: path.to_string(),
            why: "its mode or mtime is out of range".into(),
        });
    }
    Ok(())
}

fn unsafe_entry(id: &str, e: &Entry, why: &str) -> CacheMountError {
    CacheMountError::Unsafe {
        id: id.to_string(),
        path: e.path.clone(),
        why: why.to_string(),
    }
}

fn invalid(id: &str, why: String) -> CacheMountError {
    CacheMountError::Invalid {
        what: format!("cache mount {id:?}"),
        why,
    }
}
