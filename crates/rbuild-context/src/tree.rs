//! A read-only view of a filesystem made of stacked directories (overlay semantics), or of one
//! directory such as the build context. Paths never resolve outside the view's root.

use std::ffi::OsString;
use std::fs::Metadata;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// How many symlinks a lookup follows before giving up (as the kernel's ELOOP).
const MAX_LINKS: usize = 40;

/// An entry found in a tree.
#[derive(Debug, Clone)]
pub struct Found {
    /// The path in the image, cleaned, without leading `/`.
    pub rel: String,
    /// The real path on disk (in the layer that provides it).
    pub real: PathBuf,
    /// Its lstat metadata.
    pub meta: Metadata,
}

/// Stacked directories, top-most first; one directory for a plain tree.
#[derive(Debug, Clone)]
pub struct Tree {
    layers: Vec<PathBuf>,
}

/// How far a walk through a tree's symlinks got.
enum Walked {
    /// Every component exists; the resolved components.
    Found(Vec<String>),
    /// `done` (resolved) exists up to its last component, which does not; `rest` is what
    /// followed it, in reverse order.
    Missing {
        done: Vec<String>,
        rest: Vec<String>,
    },
}

/// Splits a path into clean components: `.` dropped, `..` clamped at the root.
pub fn clean_components(path: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            c => out.push(c.to_string()),
        }
    }
    out
}

fn join_rel(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}/{name}")
    }
}

fn is_whiteout(meta: &Metadata) -> bool {
    meta.file_type().is_char_device() && meta.rdev() == 0
}

fn is_opaque(path: &Path) -> bool {
    ["trusted.overlay.opaque", "user.overlay.opaque"]
        .iter()
        .any(|name| crate::xattr::get(path, name).is_some_and(|v| v == b"y"))
}

impl Tree {
    /// A view over `layers`, top-most first.
    pub fn new(layers: Vec<PathBuf>) -> Self {
        Tree { layers }
    }

    /// Finds `comps` without following any symlink (overlay lookup rules).
    fn lookup_exact(&self, comps: &[String]) -> Option<(PathBuf, Metadata)> {
        for layer in &self.layers {
            let mut p = layer.clone();
            let mut stop_below = false;
            let mut present = true;
            for (i, c) in comps.iter().enumerate() {
                p.push(c);
                match std::fs::symlink_metadata(&p) {
                    Ok(m) if is_whiteout(&m) => return None,
                    Ok(m) if i + 1 < comps.len() && !m.is_dir() => return None,
                    Ok(m) if m.is_dir() && is_opaque(&p) && i + 1 < comps.len() => {
                        stop_below = true
                    }
                    Ok(_) => {}
                    Err(_) => {
                        present = false;
                        break;
                    }
                }
            }
            if present {
                return std::fs::symlink_metadata(&p).ok().map(|m| (p, m));
            }
            if stop_below {
                return None;
            }
        }
        if comps.is_empty() {
            let root = self.layers.first()?;
            return std::fs::symlink_metadata(root)
                .ok()
                .map(|m| (root.clone(), m));
        }
        None
    }

    /// Resolves `path`, following symlinks in parent components (and in the last one if
    /// `follow_last`), always within the root.
    pub fn resolve(&self, path: &str, follow_last: bool) -> Option<Found> {
        self.resolve_visible(path, follow_last, &|_: &str, _: bool| true)
    }

    /// [`resolve`](Self::resolve) through the paths `visible(rel, is_last)` allows only: every
    /// path the walk reaches, before and after each link is followed, must be visible, so a
    /// link cannot lead to what `.dockerignore` hides (Docker never sends such files).
    pub fn resolve_visible(
        &self,
        path: &str,
        follow_last: bool,
        visible: &dyn Fn(&str, bool) -> bool,
    ) -> Option<Found> {
        let done = match self.follow(path, follow_last, visible)? {
            Walked::Found(done) => done,
            Walked::Missing { .. } => return None,
        };
        let rel = done.join("/");
        if !rel.is_empty() && !visible(&rel, true) {
            return None;
        }
        let (real, meta) = self.lookup_exact(&done)?;
        Some(Found { rel, real, meta })
    }

    /// Where `path` leads, every symlink followed (dangling ones too) and never above the
    /// root, as BuildKit's `RootPath` resolves a COPY destination: from the first component
    /// that does not exist on, the rest is kept as written. `None` after too many links.
    pub fn root_path(&self, path: &str) -> Option<String> {
        let all = |_: &str, _: bool| true;
        Some(match self.follow(path, true, &all)? {
            Walked::Found(done) => done.join("/"),
            Walked::Missing { mut done, rest } => {
                done.extend(rest.into_iter().rev());
                done.join("/")
            }
        })
    }

    /// Walks `path` component by component, following symlinks as `resolve_visible` says.
    fn follow(
        &self,
        path: &str,
        follow_last: bool,
        visible: &dyn Fn(&str, bool) -> bool,
    ) -> Option<Walked> {
        let mut pending: Vec<String> = clean_components(path);
        pending.reverse();
        let mut done: Vec<String> = Vec::new();
        let mut hops = 0;
        while let Some(c) = pending.pop() {
            done.push(c);
            let last = pending.is_empty();
            if !visible(&done.join("/"), last) {
                return None;
            }
            let Some((real, meta)) = self.lookup_exact(&done) else {
                return Some(Walked::Missing {
                    done,
                    rest: pending,
                });
            };
            if meta.file_type().is_symlink() && (!last || follow_last) {
                hops += 1;
                if hops > MAX_LINKS {
                    return None;
                }
                let target = std::fs::read_link(&real).ok()?;
                done.pop();
                let target = target.to_string_lossy().to_string();
                if target.starts_with('/') {
                    done.clear();
                }
                let mut more = clean_components(&format!("{}/{}", done.join("/"), target));
                done.clear();
                more.reverse();
                pending.extend(more);
            }
        }
        Some(Walked::Found(done))
    }

    /// The entries of the directory `rel` (already resolved: no symlink in it), sorted by
    /// name, each as [`resolve`](Self::resolve) without following the last link would give.
    pub fn children(&self, rel: &str) -> Vec<(String, Found)> {
        self.entries(rel)
            .into_iter()
            .map(|f| (f.rel.rsplit('/').next().unwrap_or_default().to_string(), f))
            .collect()
    }

    /// [`children`](Self::children) without the names (the last component of each `rel`).
    ///
    /// A single directory (a build context) is listed with one `readdir` and one `lstat` per
    /// entry, relative to the directory; this is what keeps a no-op rebuild of a large
    /// context fast. Entries are sorted before they are stat'ed so the sort moves small
    /// values. Stacks take the general path.
    pub fn entries(&self, rel: &str) -> Vec<Found> {
        let [layer] = self.layers.as_slice() else {
            return self
                .read_dir(rel)
                .into_iter()
                .filter_map(|n| self.resolve(&join_rel(rel, &n.to_string_lossy()), false))
                .collect();
        };
        let dir = clean_components(rel)
            .iter()
            .fold(layer.clone(), |p, c| p.join(c));
        let mut listed: Vec<(String, std::fs::DirEntry)> = std::fs::read_dir(&dir)
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| {
                let name = e.file_name();
                let name = name.to_str().map_or_else(
                    || join_rel(rel, &name.to_string_lossy()),
                    |n| join_rel(rel, n),
                );
                (name, e)
            })
            .collect();
        // Names are unique in a directory and `rel` is a common prefix: this sorts by name.
        listed.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let mut out = Vec::with_capacity(listed.len());
        for (rel, e) in listed {
            match e.metadata() {
                Ok(meta) if !is_whiteout(&meta) => out.push(Found {
                    rel,
                    real: e.path(),
                    meta,
                }),
                _ => {}
            }
        }
        out
    }

    /// Lists a directory (merged across layers, whiteouts applied), sorted by name.
    pub fn read_dir(&self, rel: &str) -> Vec<OsString> {
        let comps = clean_components(rel);
        let mut names = std::collections::BTreeSet::new();
        let mut hidden = std::collections::BTreeSet::new();
        for layer in &self.layers {
            let dir = comps.iter().fold(layer.clone(), |p, c| p.join(c));
            let Ok(meta) = std::fs::symlink_metadata(&dir) else {
                continue;
            };
            if !meta.is_dir() {
                break;
            }
            for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                let name = entry.file_name();
                let whiteout = entry.metadata().is_ok_and(|m| is_whiteout(&m));
                if whiteout {
                    hidden.insert(name);
                } else if !hidden.contains(&name) {
                    names.insert(name);
                }
            }
            if is_opaque(&dir) {
                break;
            }
        }
        names.into_iter().collect()
    }
}

#[cfg(test)]
#[path = "tree_tests.rs"]
mod tests;
