//! The recursive walk of a directory source of COPY/ADD, in parallel over subdirectories.

use rayon::prelude::*;

use super::ignore::Matcher;
use super::select::{join, CopyItem, Exclude, PlanOptions};
use super::tree::{Found, Tree};

/// A recursive walk of a directory source.
pub(crate) struct Walk<'a, F> {
    pub tree: &'a Tree,
    pub exclude: Exclude<'a>,
    pub opts: PlanOptions<'a>,
    /// What each item becomes (see [`plan_map`](super::select::plan_map)).
    pub map: &'a F,
}

/// What the walk does with one child of a directory.
#[derive(Clone, Copy, PartialEq)]
enum Visit {
    /// Copied (and, for a directory, walked).
    Keep,
    /// A hidden directory walked because an exception may bring back something beneath
    /// it; it appears only if something does.
    Hidden,
    /// Left out with everything beneath it.
    Skip,
}

/// What to do with one child of a directory, decided before its subtree is walked.
struct Decision {
    visit: Visit,
    /// Its path in the image.
    dest: String,
    /// Its path relative to the copied source (for `--exclude`), if its subtree is walked.
    sub: Option<String>,
}

impl<F> Walk<'_, F> {
    /// Walks `rel` into `dest`; `sub` is the path relative to the copied source (for `--exclude`).
    ///
    /// Subdirectories are independent, so they are walked in parallel (a large context is
    /// mostly one `lstat` per entry) and their items spliced back in name order.
    pub fn walk<T: Send>(&self, rel: &str, dest: &str, sub: &str, out: &mut Vec<T>)
    where
        F: Fn(CopyItem) -> T + Sync,
    {
        let found = self.tree.entries(rel);
        let plans: Vec<Decision> = found.iter().map(|f| self.decide(dest, sub, f)).collect();
        let walk_sub = |(f, p): (&Found, &Decision)| {
            let mut items = Vec::new();
            if let Some(sub) = &p.sub {
                self.walk(&f.rel, &p.dest, sub, &mut items);
            }
            items
        };
        let subtrees: Vec<Vec<T>> = if plans.iter().any(|p| p.sub.is_some()) {
            found
                .par_iter()
                .zip(plans.par_iter())
                .map(walk_sub)
                .collect()
        } else {
            Vec::new()
        };
        // One reservation: growing a vector of thousands of items copies and faults it in again.
        out.reserve(found.len() + subtrees.iter().map(Vec::len).sum::<usize>());
        let mut subtrees = subtrees.into_iter();
        for (source, plan) in found.into_iter().zip(plans) {
            let below = subtrees.next().unwrap_or_default();
            match plan.visit {
                Visit::Skip => continue,
                Visit::Hidden if below.is_empty() => continue,
                Visit::Keep | Visit::Hidden => out.push((self.map)(CopyItem {
                    source,
                    dest: plan.dest,
                    top: false,
                })),
            }
            out.extend(below);
        }
    }

    /// Decides whether an entry is copied and whether its subtree is walked.
    fn decide(&self, dest: &str, sub: &str, found: &Found) -> Decision {
        let name = found.rel.rsplit('/').next().unwrap_or_default();
        let is_dir = found.meta.is_dir();
        let ignored = self.exclude.excluded(&found.rel);
        let sub_child = self.opts.excludes.map(|_| join(sub, name));
        let dropped = match (&sub_child, self.opts.excludes) {
            (Some(s), Some(m)) => m.excluded(s),
            _ => false,
        };
        let visit = if !(ignored || dropped) {
            Visit::Keep
        } else {
            let may_return =
                |m: &Matcher| sub_child.as_ref().is_some_and(|s| m.may_include_under(s));
            let descend = is_dir
                && (!ignored || self.exclude.descend(&found.rel))
                && (!dropped || self.opts.excludes.is_some_and(may_return));
            if descend {
                Visit::Hidden
            } else {
                Visit::Skip
            }
        };
        let walked = is_dir && visit != Visit::Skip;
        Decision {
            visit,
            dest: join(dest, name),
            sub: walked.then(|| sub_child.unwrap_or_default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::select::{plan_map, plan_with, KeepAll, PlanOptions};
    use super::*;

    /// A tree of `paths` (a trailing `/` makes a directory).
    fn tree_of(paths: &[&str]) -> tempfile::TempDir {
        let t = tempfile::tempdir().unwrap();
        for p in paths {
            let full = t.path().join(p.trim_end_matches('/'));
            if p.ends_with('/') {
                std::fs::create_dir_all(full).unwrap();
            } else {
                std::fs::create_dir_all(full.parent().unwrap()).unwrap();
                std::fs::write(full, p.as_bytes()).unwrap();
            }
        }
        t
    }

    fn dests(t: &tempfile::TempDir, exclude: Exclude, excludes: Option<&Matcher>) -> Vec<String> {
        let tree = Tree::new(vec![t.path().into()]);
        let opts = PlanOptions {
            parents: false,
            excludes,
        };
        let items = plan_with(&tree, &[".".into()], "/", true, exclude, opts).unwrap();
        // The first item is the source directory itself (the destination to make).
        assert!(items[0].top && items[0].dest.is_empty());
        items.into_iter().skip(1).map(|i| i.dest).collect()
    }

    #[test]
    fn parallel_walk_keeps_name_order() {
        let mut paths = Vec::new();
        let mut expected = Vec::new();
        for d in 0..20 {
            for f in ["f0", "f1", "f2", "z/g"] {
                paths.push(format!("d{d:02}/{f}"));
            }
            let d = format!("d{d:02}");
            for e in ["", "/f0", "/f1", "/f2", "/z", "/z/g"] {
                expected.push(format!("{d}{e}"));
            }
        }
        let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
        let t = tree_of(&paths);
        assert_eq!(dests(&t, &KeepAll, None), expected);
    }

    #[test]
    fn hidden_directories_appear_only_with_something_beneath() {
        let t = tree_of(&["build/x", "docs/a.md", "docs/keep.md", "empty/", "src/y"]);
        let m = Matcher::new(&["docs", "!docs/keep.md", "build", "empty"]).unwrap();
        assert_eq!(
            dests(&t, &m, None),
            vec!["docs", "docs/keep.md", "src", "src/y"]
        );
        let m = Matcher::new(&["docs", "!docs/nothing"]).unwrap();
        assert_eq!(
            dests(&t, &m, None),
            vec!["build", "build/x", "empty", "src", "src/y"]
        );
    }

    #[test]
    fn copy_excludes_apply_below_the_source() {
        let t = tree_of(&["a.log", "keep.log", "sub/b.log", "sub/c.txt", "logs/d.txt"]);
        let m = Matcher::new(&["**/*.log", "!keep.log", "logs"]).unwrap();
        assert_eq!(
            dests(&t, &KeepAll, Some(&m)),
            vec!["keep.log", "sub", "sub/c.txt"]
        );
    }

    #[test]
    fn mapped_plans_match_plain_ones() {
        let t = tree_of(&["a/b/c", "a/d", "e", "f/"]);
        let tree = Tree::new(vec![t.path().into()]);
        let opts = PlanOptions::default();
        let plain = plan_with(
            &tree,
            &["a".into(), "e".into()],
            "/x/",
            true,
            &KeepAll,
            opts,
        );
        let plain: Vec<(String, bool)> = plain
            .unwrap()
            .into_iter()
            .map(|i| (i.dest, i.top))
            .collect();
        let mapped = plan_map(
            &tree,
            &["a".into(), "e".into()],
            "/x/",
            true,
            &KeepAll,
            opts,
            &|i: CopyItem| (i.dest, i.top),
        );
        assert_eq!(plain, mapped.unwrap());
        assert_eq!(plain[0], ("x".to_string(), true));
        assert_eq!(plain[1], ("x/b".to_string(), false));
        assert_eq!(plain.last().unwrap(), &("x/e".to_string(), true));
    }
}
