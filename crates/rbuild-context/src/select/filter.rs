//! Which paths of a tree a COPY may see: `.dockerignore` for the context, nothing hidden
//! for stages, images and heredocs.

use super::super::ignore::Matcher;

/// Decides which paths of a tree a COPY may see (`.dockerignore`).
pub trait PathFilter: Sync {
    /// Whether `rel` (relative, cleaned) is excluded.
    fn excluded(&self, rel: &str) -> bool;
    /// Whether the excluded directory `rel` must still be walked (an exception may bring
    /// back something beneath it).
    fn descend(&self, _rel: &str) -> bool {
        false
    }
}

impl<F: Fn(&str) -> bool + Sync> PathFilter for F {
    fn excluded(&self, rel: &str) -> bool {
        self(rel)
    }
}

impl PathFilter for Matcher {
    fn excluded(&self, rel: &str) -> bool {
        Matcher::excluded(self, rel)
    }
    fn descend(&self, rel: &str) -> bool {
        self.may_include_under(rel)
    }
}

/// A filter that keeps everything (stages, images, heredocs).
pub struct KeepAll;

impl PathFilter for KeepAll {
    fn excluded(&self, _rel: &str) -> bool {
        false
    }
}

/// Paths excluded by `.dockerignore` (relative, cleaned).
pub type Exclude<'a> = &'a dyn PathFilter;
