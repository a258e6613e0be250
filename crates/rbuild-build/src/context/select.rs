//! COPY/ADD source selection: globs, a directory's contents versus the directory, and the
//! destination rules BuildKit applies.

use std::path::PathBuf;

use super::pattern::{self, has_meta};
use super::tree::{clean_components, Found, Tree};

/// One filesystem entry to copy.
#[derive(Debug, Clone)]
pub struct CopyItem {
    /// Where it is read from.
    pub source: Found,
    /// Its path in the image, relative to `/`.
    pub dest: String,
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
    /// Several sources need a directory destination.
    #[error("when using COPY with more than one source file, the destination must be a directory and end with a /")]
    DestNotDir,
    /// A malformed glob.
    #[error(transparent)]
    Pattern(#[from] pattern::BadPattern),
}

/// Paths excluded by `.dockerignore` (relative, cleaned).
pub type Exclude<'a> = &'a (dyn Fn(&str) -> bool + Sync);

/// Expands one source (a path or glob, relative to the tree root) into matching entries.
pub fn expand(tree: &Tree, source: &str, exclude: Exclude) -> Result<Vec<Found>, SelectError> {
    if escapes_root(source) {
        return Err(SelectError::Outside(source.to_string()));
    }
    let mut current = vec![String::new()];
    for comp in clean_components(source) {
        let mut next = Vec::new();
        for base in &current {
            if has_meta(&comp) {
                for name in tree.read_dir(base) {
                    let name = name.to_string_lossy().to_string();
                    if pattern::matches(&comp, &name)? {
                        next.push(join(base, &name));
                    }
                }
            } else {
                next.push(join(base, &comp));
            }
        }
        current = next;
    }
    let found: Vec<Found> = current
        .iter()
        .filter(|rel| rel.is_empty() || !exclude(rel))
        .filter_map(|rel| tree.resolve(rel, true))
        .collect();
    if found.is_empty() {
        return Err(SelectError::NotFound(source.to_string()));
    }
    Ok(found)
}

/// Whether `..` components climb above the root (`COPY ../x`), which BuildKit refuses.
fn escapes_root(source: &str) -> bool {
    let mut depth: isize = 0;
    for c in source.split('/') {
        match c {
            "" | "." => {}
            ".." => depth -= 1,
            _ => depth += 1,
        }
        if depth < 0 {
            return true;
        }
    }
    false
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}/{name}")
    }
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
    let mut roots = Vec::new();
    for s in sources {
        roots.extend(expand(tree, s, exclude)?);
    }
    let many = sources.len() > 1 || roots.len() > 1;
    if many && !dest_is_dir {
        return Err(SelectError::DestNotDir);
    }
    let dest = clean_components(dest).join("/");
    let mut items = Vec::new();
    for root in roots {
        if root.meta.is_dir() {
            walk(tree, &root.rel, &dest, exclude, &mut items);
        } else {
            let name = root.rel.rsplit('/').next().unwrap_or_default().to_string();
            let target = if dest_is_dir {
                join(&dest, &name)
            } else {
                dest.clone()
            };
            items.push(CopyItem {
                source: root,
                dest: target,
            });
        }
    }
    Ok(items)
}

fn walk(tree: &Tree, rel: &str, dest: &str, exclude: Exclude, out: &mut Vec<CopyItem>) {
    for name in tree.read_dir(rel) {
        let name = name.to_string_lossy().to_string();
        let child = join(rel, &name);
        if exclude(&child) {
            continue;
        }
        let Some(found) = tree.resolve(&child, false) else {
            continue;
        };
        let target = join(dest, &name);
        let is_dir = found.meta.is_dir();
        out.push(CopyItem {
            source: found,
            dest: target.clone(),
        });
        if is_dir {
            walk(tree, &child, &target, exclude, out);
        }
    }
}

/// The real path of an item's source (for reading its data).
pub fn real_path(item: &CopyItem) -> &PathBuf {
    &item.source.real
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("src/sub")).unwrap();
        std::fs::write(t.path().join("src/a.txt"), b"a").unwrap();
        std::fs::write(t.path().join("src/sub/b.txt"), b"b").unwrap();
        std::fs::write(t.path().join("top.rs"), b"t").unwrap();
        t
    }

    fn dests(items: &[CopyItem]) -> Vec<&str> {
        items.iter().map(|i| i.dest.as_str()).collect()
    }

    #[test]
    fn directory_contents_not_the_directory() {
        let t = ctx();
        let tree = Tree::new(vec![t.path().into()]);
        let items = plan(&tree, &["src".into()], "/app/", true, &|_| false).unwrap();
        assert_eq!(dests(&items), vec!["app/a.txt", "app/sub", "app/sub/b.txt"]);
    }

    #[test]
    fn globs_and_file_destinations() {
        let t = ctx();
        let tree = Tree::new(vec![t.path().into()]);
        let items = plan(&tree, &["*.rs".into()], "/x/main.rs", false, &|_| false).unwrap();
        assert_eq!(dests(&items), vec!["x/main.rs"]);
        let items = plan(&tree, &["src/*.txt".into()], "/d/", true, &|_| false).unwrap();
        assert_eq!(dests(&items), vec!["d/a.txt"]);
        let err = plan(
            &tree,
            &["top.rs".into(), "src".into()],
            "/d",
            false,
            &|_| false,
        );
        assert!(matches!(err, Err(SelectError::DestNotDir)));
        assert!(matches!(
            plan(&tree, &["nope".into()], "/d", false, &|_| false),
            Err(SelectError::NotFound(_))
        ));
    }

    #[test]
    fn escapes_are_refused_and_exclusions_apply() {
        let t = ctx();
        let tree = Tree::new(vec![t.path().into()]);
        assert!(matches!(
            plan(&tree, &["../x".into()], "/d", false, &|_| false),
            Err(SelectError::Outside(_))
        ));
        let items = plan(&tree, &[".".into()], "/", true, &|p| p.starts_with("src")).unwrap();
        assert_eq!(dests(&items), vec!["top.rs"]);
    }
}
