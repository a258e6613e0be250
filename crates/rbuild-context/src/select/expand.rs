//! Source expansion: globs matched component by component against the tree, and the path
//! rules (`..` may not climb out, `/./` pivots `--parents`) applied before any walk.

use super::super::pattern::{self, has_meta};
use super::super::tree::{clean_components, Found, Tree};
use super::{Exclude, SelectError};

/// Expands one source (a path or glob, relative to the tree root) into matching entries.
pub fn expand(tree: &Tree, source: &str, exclude: Exclude) -> Result<Vec<Found>, SelectError> {
    Ok(expand_named(tree, source, exclude, false)?
        .into_iter()
        .map(|(_, f)| f)
        .collect())
}

/// Like [`expand`], keeping each match's path as written (globs expanded, links unresolved).
/// With `any_depth` (`COPY --parents`, whose sources BuildKit matches as include patterns) a
/// `**` component matches any number of directories, none included; otherwise it is `*`.
pub(super) fn expand_named(
    tree: &Tree,
    source: &str,
    exclude: Exclude,
    any_depth: bool,
) -> Result<Vec<(String, Found)>, SelectError> {
    if escapes_root(source) {
        return Err(SelectError::Outside(source.to_string()));
    }
    let mut current = vec![String::new()];
    for comp in clean_components(source) {
        let mut next = Vec::new();
        for base in &current {
            if any_depth && comp == "**" {
                next.push(base.clone());
                descendants(tree, base, &mut next);
            } else if has_meta(&comp) {
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
    // A directory on the way may be excluded yet hold re-included paths (`!dir/keep`);
    // the source itself, and anything a link leads to, must not be excluded.
    let visible = |rel: &str, last: bool| !exclude.excluded(rel) || (!last && exclude.descend(rel));
    let found: Vec<(String, Found)> = current
        .into_iter()
        .filter(|rel| rel.is_empty() || !exclude.excluded(rel))
        .filter_map(|rel| tree.resolve_visible(&rel, true, &visible).map(|f| (rel, f)))
        .collect();
    // BuildKit copies nothing for a wildcard that matches nothing, but cannot list the
    // directory before its first wildcard if that is missing.
    if found.is_empty() && !(has_meta(source) && wildcard_base_exists(tree, source, &visible)) {
        return Err(SelectError::NotFound(rooted(source)));
    }
    Ok(found)
}

/// Whether the path before the first component with a wildcard exists.
fn wildcard_base_exists(tree: &Tree, source: &str, visible: &dyn Fn(&str, bool) -> bool) -> bool {
    let base: Vec<String> = clean_components(source)
        .into_iter()
        .take_while(|c| !has_meta(c))
        .collect();
    base.is_empty()
        || tree
            .resolve_visible(&base.join("/"), true, visible)
            .is_some()
}

/// Every path beneath the directory `base`, parents before children (links not followed).
fn descendants(tree: &Tree, base: &str, out: &mut Vec<String>) {
    for name in tree.read_dir(base) {
        let rel = join(base, &name.to_string_lossy());
        out.push(rel.clone());
        if tree.resolve(&rel, false).is_some_and(|f| f.meta.is_dir()) {
            descendants(tree, &rel, out);
        }
    }
}

/// With `--parents`, the part of a source before a `/./` pivot is dropped from the kept path.
pub(super) fn pivot_prefix(source: &str) -> String {
    match source.trim_start_matches("./").find("/./") {
        Some(i) => clean_components(&source.trim_start_matches("./")[..i]).join("/"),
        None => String::new(),
    }
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

/// `base/name`, or `name` at the root.
pub(crate) fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}/{name}")
    }
}

/// A source as BuildKit names it in errors: the path from the context's root (`"/notexist"`).
fn rooted(source: &str) -> String {
    let rel = source.trim_start_matches("./").trim_start_matches('/');
    format!("/{rel}")
}
