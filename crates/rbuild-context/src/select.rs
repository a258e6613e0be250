//! COPY/ADD source selection: globs, a directory's contents versus the directory, and the
//! destination rules BuildKit applies.
//!
//! The planning rules are here; which paths are visible is in `filter`, and how a source
//! string becomes tree entries in `expand`.

mod expand;
mod filter;

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::ignore::Matcher;
use super::pattern;
use super::tree::{clean_components, Found, Tree};
use super::walk::Walk;
use expand::{expand_named, pivot_prefix};

pub use expand::expand;
pub(crate) use expand::join;
pub use filter::{Exclude, KeepAll, PathFilter};

/// One filesystem entry to copy.
#[derive(Debug, Clone)]
pub struct CopyItem {
    /// Where it is read from.
    pub source: Found,
    /// Its path in the image, relative to `/`.
    pub dest: String,
    /// Whether it is a source as named (or matched by a glob), not found by a walk.
    pub top: bool,
}

/// Why sources could not be selected.
#[derive(Debug, thiserror::Error)]
pub enum SelectError {
    /// A source matched nothing.
    #[error("failed to compute cache key: {0:?}: not found")]
    NotFound(String),
    /// A source escapes the context.
    #[error("forbidden path outside the build context: {0}")]
    Outside(String),
    /// A directory source after a file source made the destination a file.
    #[error("cannot copy to non-directory: /{0}")]
    DestNotDir(String),
    /// A malformed glob.
    #[error(transparent)]
    Pattern(#[from] pattern::BadPattern),
}

/// Per-COPY selection options.
#[derive(Default, Clone, Copy)]
pub struct PlanOptions<'a> {
    /// `--parents`: keep each source's path (after a `/./` pivot) under the destination.
    pub parents: bool,
    /// `--exclude` patterns, matched against paths relative to each source.
    pub excludes: Option<&'a Matcher>,
}

/// Lists everything to copy for the given sources into `dest` (absolute image path).
///
/// `dest_is_dir` is true when the destination ends with `/` or already is a directory.
pub fn plan(
    tree: &Tree,
    sources: &[String],
    dest: &str,
    dest_is_dir: bool,
    exclude: Exclude,
) -> Result<Vec<CopyItem>, SelectError> {
    plan_with(
        tree,
        sources,
        dest,
        dest_is_dir,
        exclude,
        PlanOptions::default(),
    )
}

/// [`plan`] with `--parents` and `--exclude`.
pub fn plan_with(
    tree: &Tree,
    sources: &[String],
    dest: &str,
    dest_is_dir: bool,
    exclude: Exclude,
    opts: PlanOptions,
) -> Result<Vec<CopyItem>, SelectError> {
    plan_map(tree, sources, dest, dest_is_dir, exclude, opts, &|item| {
        item
    })
}

/// [`plan_with`], passing each item through `map` as soon as it is found (in parallel, on
/// the walking threads), so a caller that needs little of each item never holds thousands
/// of whole items: the key of a COPY from a large context only needs paths and digests.
pub fn plan_map<T: Send, F: Fn(CopyItem) -> T + Sync>(
    tree: &Tree,
    sources: &[String],
    dest: &str,
    dest_is_dir: bool,
    exclude: Exclude,
    opts: PlanOptions,
    map: &F,
) -> Result<Vec<T>, SelectError> {
    let roots = roots(tree, sources, exclude, opts)?;
    let dest = clean_components(dest).join("/");
    // `--parents` copies a directory (the pivot, or the root) filtered by the sources.
    let mut state = DestState::new(dest_is_dir || opts.parents);
    let mut items = Vec::new();
    let mut made = BTreeSet::new();
    if opts.parents {
        items.extend(pivot_item(tree, sources, &dest).map(map));
    }
    for Root { kept, name, found } in roots {
        let is_dir = found.meta.is_dir();
        let target = if opts.parents {
            let mut parents = Vec::new();
            parent_items(tree, &found.rel, &kept, &dest, &mut made, &mut parents);
            items.extend(parents.into_iter().map(map));
            join(&dest, &kept)
        } else {
            state.target(is_dir, &dest, &name)?
        };
        state = state.after(is_dir);
        if !is_dir {
            items.push(map(CopyItem {
                source: found,
                dest: target,
                top: true,
            }));
            continue;
        }
        // The destination exists after a directory is copied, even if nothing in the
        // directory was (`ADD --exclude=* dir /d` makes an empty `/d` in BuildKit); under
        // `--parents` a kept directory is made once, as a parent of what it holds.
        let top = !opts.parents || kept.is_empty();
        if top || made.insert(target.clone()) {
            items.push(map(CopyItem {
                source: found.clone(),
                dest: target.clone(),
                top,
            }));
        }
        let w = Walk {
            tree,
            exclude,
            opts,
            map,
        };
        w.walk(&found.rel, &target, "", &mut items);
    }
    Ok(items)
}

/// Under `--parents`, the pivot directory is what BuildKit copies, so the destination is made
/// even when no source matches (testCopyParentsMissingDirectory, wildcard-nonexistent).
fn pivot_item(tree: &Tree, sources: &[String], dest: &str) -> Option<CopyItem> {
    let pivot = sources.first().map(|s| pivot_prefix(s)).unwrap_or_default();
    let found = tree.resolve(&pivot, true).filter(|f| f.meta.is_dir())?;
    Some(CopyItem {
        source: found,
        dest: dest.to_string(),
        top: true,
    })
}

/// What the sources copied so far made of the destination. BuildKit copies each source, and
/// each match of a wildcard, on its own into the destination as it then is: into it if it is
/// a directory (by a trailing `/`, in the image, or made so by a directory copied before),
/// else onto it, so that several files copied to `/d` leave the last one as `/d`.
#[derive(Clone, Copy, PartialEq)]
enum DestState {
    /// A directory: files go into it, directories' contents merge into it.
    Dir,
    /// Not known to be a directory: a file is written as it, a directory's contents make it.
    Open,
    /// A file this step wrote: a directory cannot be copied onto it.
    File,
}

impl DestState {
    /// A directory when the destination says so (a trailing `/`, `--parents`), else open.
    fn new(dir: bool) -> Self {
        if dir {
            DestState::Dir
        } else {
            DestState::Open
        }
    }

    /// Where a source named `name` goes: into a directory, else onto the destination.
    fn target(self, is_dir: bool, dest: &str, name: &str) -> Result<String, SelectError> {
        match self {
            DestState::Dir if !is_dir => Ok(join(dest, name)),
            DestState::File if is_dir => Err(SelectError::DestNotDir(dest.to_string())),
            _ => Ok(dest.to_string()),
        }
    }

    /// What the destination is once a source (a directory or not) was copied to it.
    fn after(self, is_dir: bool) -> Self {
        match (self, is_dir) {
            (DestState::Dir, _) | (_, true) => DestState::Dir,
            _ => DestState::File,
        }
    }
}

/// One expanded source: the path kept under the destination, its file name, and the entry.
struct Root {
    kept: String,
    name: String,
    found: Found,
}

/// Expands every source and computes their kept paths. `--exclude` applies beneath each
/// source, never to the source itself: BuildKit matches paths relative to it. With
/// `--parents` BuildKit copies from the pivot, so there a source's kept path is matched.
fn roots(
    tree: &Tree,
    sources: &[String],
    exclude: Exclude,
    opts: PlanOptions,
) -> Result<Vec<Root>, SelectError> {
    let mut roots = Vec::new();
    for s in sources {
        // The pivot may follow a wildcard (`a/b*/./c`): as many components as it has are
        // dropped from each match, which has them expanded.
        let pivot = clean_components(&pivot_prefix(s)).len();
        for (rel, found) in expand_named(tree, s, exclude, opts.parents)? {
            let name = rel.rsplit('/').next().unwrap_or_default().to_string();
            let kept = rel.split('/').skip(pivot).collect::<Vec<_>>().join("/");
            let excluded = opts
                .excludes
                .is_some_and(|m| !kept.is_empty() && m.excluded(&kept));
            if opts.parents && excluded {
                continue;
            }
            roots.push(Root { kept, name, found });
        }
    }
    Ok(roots)
}

/// `--parents`: the directories between the pivot and a source, copied with their metadata.
fn parent_items(
    tree: &Tree,
    real_rel: &str,
    kept: &str,
    dest: &str,
    made: &mut BTreeSet<String>,
    out: &mut Vec<CopyItem>,
) {
    let kept_parts: Vec<&str> = kept.split('/').filter(|c| !c.is_empty()).collect();
    let real_parts: Vec<&str> = real_rel.split('/').collect();
    let skip = real_parts.len().saturating_sub(kept_parts.len());
    for n in 1..kept_parts.len() {
        let target = join(dest, &kept_parts[..n].join("/"));
        let source_rel = real_parts[..(skip + n).min(real_parts.len())].join("/");
        if made.insert(target.clone()) {
            if let Some(found) = tree.resolve(&source_rel, true).filter(|f| f.meta.is_dir()) {
                out.push(CopyItem {
                    source: found,
                    dest: target,
                    top: false,
                });
            }
        }
    }
}

/// The real path of an item's source (for reading its data).
pub fn real_path(item: &CopyItem) -> &PathBuf {
    &item.source.real
}

#[cfg(test)]
#[path = "select_tests.rs"]
mod tests;
