//! Memoised resolution of COPY destinations through the image's symlinks.
//!
//! BuildKit follows symlinks of the destination's existing parent directories. Resolving every
//! parent prefix of every item through all lower layers costs O(depth² × layers) lstats and
//! xattr reads per file, and a COPY of a tree writes thousands of files into a few
//! directories; so each directory is resolved once per step and its result reused.

use std::collections::HashMap;

use super::tree::clean_components;

/// A directory of the destination as resolved in the image.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Resolved {
    /// Its path in the image (symlinks of existing directories followed).
    rel: String,
    /// Whether it is an existing directory of the image. When it is not, nothing beneath it
    /// can exist either, so its children need no lookup.
    in_image: bool,
}

/// Remembers how the destination directories of one step resolve in the image.
#[derive(Debug, Default)]
pub struct DestCache {
    /// Keyed by the directory as written (cleaned, unresolved).
    dirs: HashMap<String, Resolved>,
}

impl DestCache {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// The image path `dest` is written to: its parents resolved with `lookup`, the last
    /// component kept as is (a COPY replaces a symlink rather than writing through it).
    ///
    /// `lookup` follows the symlinks of an image path, dangling ones too (BuildKit writes
    /// `COPY f /link/` to wherever `link` points, creating it), and returns where it leads and
    /// whether that is a directory of the image; `None` if it cannot be resolved.
    pub fn resolve(
        &mut self,
        dest: &str,
        lookup: &mut impl FnMut(&str) -> Option<(String, bool)>,
    ) -> String {
        self.resolve_in(dest, lookup).0
    }

    /// [`resolve`](Self::resolve), and whether the parent is a directory of the image (only
    /// then can the image have an entry at the path).
    pub fn resolve_in(
        &mut self,
        dest: &str,
        lookup: &mut impl FnMut(&str) -> Option<(String, bool)>,
    ) -> (String, bool) {
        let comps = clean_components(dest);
        let Some((last, parents)) = comps.split_last() else {
            return (String::new(), false);
        };
        let dir = self.dir(parents, lookup);
        (join(&dir.rel, last), dir.in_image)
    }

    /// The image path of the directory `dest`, every component resolved with `lookup`: where
    /// a directory source is copied to, which BuildKit resolves through a last symlink too.
    pub fn resolve_dir(
        &mut self,
        dest: &str,
        lookup: &mut impl FnMut(&str) -> Option<(String, bool)>,
    ) -> String {
        self.dir(&clean_components(dest), lookup).rel
    }

    /// Resolves the directory `comps`, starting from its deepest prefix already known.
    fn dir(
        &mut self,
        comps: &[String],
        lookup: &mut impl FnMut(&str) -> Option<(String, bool)>,
    ) -> Resolved {
        let mut known = Resolved {
            rel: String::new(),
            in_image: true,
        };
        let mut start = comps.len();
        while start > 0 {
            if let Some(found) = self.dirs.get(&comps[..start].join("/")) {
                known = found.clone();
                break;
            }
            start -= 1;
        }
        for i in start..comps.len() {
            let candidate = join(&known.rel, &comps[i]);
            // A prefix that is no directory of the image makes every lookup beneath it fail.
            let found = if known.in_image {
                lookup(&candidate)
            } else {
                None
            };
            known = match found {
                Some((rel, in_image)) => Resolved { rel, in_image },
                None => Resolved {
                    rel: candidate,
                    in_image: false,
                },
            };
            self.dirs.insert(comps[..=i].join("/"), known.clone());
        }
        known
    }
}

fn join(base: &str, name: &str) -> String {
    if base.is_empty() {
        name.to_string()
    } else {
        format!("{base}/{name}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An image with `/app` a directory, `/lib` a link to `/usr/lib`, `/etc/passwd` a file,
    /// `/gone` a link to the missing `/tmp/target`.
    fn image(path: &str) -> Option<(String, bool)> {
        match path {
            "app" | "usr" | "usr/lib" | "etc" => Some((path.to_string(), true)),
            "lib" => Some(("usr/lib".to_string(), true)),
            "gone" => Some(("tmp/target".to_string(), false)),
            _ => None,
        }
    }

    fn resolve_all(dests: &[&str]) -> (Vec<String>, Vec<String>) {
        let mut cache = DestCache::new();
        let mut asked = Vec::new();
        let mut lookup = |p: &str| {
            asked.push(p.to_string());
            image(p)
        };
        let out = dests
            .iter()
            .map(|d| cache.resolve(d, &mut lookup))
            .collect();
        (out, asked)
    }

    #[test]
    fn each_directory_is_looked_up_once() {
        let dests: Vec<String> = (0..100).map(|i| format!("app/src/m/f{i}")).collect();
        let refs: Vec<&str> = dests.iter().map(String::as_str).collect();
        let (out, asked) = resolve_all(&refs);
        assert_eq!(out[7], "app/src/m/f7");
        // `app/src` is absent, so `app/src/m` is never asked for.
        assert_eq!(asked, vec!["app", "app/src"]);
    }

    #[test]
    fn parents_follow_links_and_the_last_component_does_not() {
        let (out, asked) = resolve_all(&["lib/x/y", "lib/z", "lib", "/./etc/../lib/a"]);
        assert_eq!(out, vec!["usr/lib/x/y", "usr/lib/z", "lib", "usr/lib/a"]);
        assert_eq!(asked, vec!["lib", "usr/lib/x"]);
    }

    #[test]
    fn dangling_links_lead_where_they_point() {
        let (out, asked) = resolve_all(&["gone/f", "gone/sub/g"]);
        assert_eq!(out, vec!["tmp/target/f", "tmp/target/sub/g"]);
        assert_eq!(asked, vec!["gone"]);
    }

    #[test]
    fn beneath_a_file_nothing_is_looked_up() {
        let (out, asked) = resolve_all(&["etc/passwd/a/b", "etc/passwd/a/c"]);
        assert_eq!(out, vec!["etc/passwd/a/b", "etc/passwd/a/c"]);
        assert_eq!(asked, vec!["etc", "etc/passwd"]);
    }

    #[test]
    fn the_root_needs_no_lookup() {
        let (out, asked) = resolve_all(&["/", "/f", "g"]);
        assert_eq!(out, vec!["", "f", "g"]);
        assert!(asked.is_empty());
    }
}
