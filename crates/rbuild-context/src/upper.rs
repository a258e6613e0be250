//! What one COPY step knows about its upper directory.
//!
//! The step is the only writer of its upper dir, so what it created there needs no lstat to be
//! found again: inside a directory the step made, a name exists only if the step wrote it.

use std::collections::HashMap;

/// An entry of the upper dir the step has made or seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Entry {
    /// A directory this step created: it holds only what the step wrote into it.
    NewDir,
    /// A directory that was there before.
    Dir,
    /// Anything else (file, symlink, device).
    Other,
}

impl Entry {
    /// Whether it is a directory.
    pub fn is_dir(self) -> bool {
        matches!(self, Entry::NewDir | Entry::Dir)
    }
}

/// Whether a path of the upper dir exists, as far as the step knows without asking the disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Known {
    /// It exists.
    Present(Entry),
    /// It cannot exist: its parent is a directory the step created and did not write it.
    Absent,
    /// Only an lstat can tell.
    Unknown,
}

/// The upper dir's entries made or seen by the step, by path relative to the upper dir.
#[derive(Debug)]
pub struct UpperState {
    entries: HashMap<String, Entry>,
    /// Whether the upper dir was empty when the step began.
    fresh_root: bool,
}

impl UpperState {
    /// The state of an upper dir that was empty (`fresh_root`) or not when the step began.
    pub fn new(fresh_root: bool) -> Self {
        UpperState {
            entries: HashMap::new(),
            fresh_root,
        }
    }

    /// What is known of `rel`.
    pub fn get(&self, rel: &str) -> Known {
        if rel.is_empty() {
            return Known::Present(self.root());
        }
        if let Some(e) = self.entries.get(rel) {
            return Known::Present(*e);
        }
        let parent = rel.rsplit_once('/').map_or("", |(p, _)| p);
        let parent = if parent.is_empty() {
            Some(self.root())
        } else {
            self.entries.get(parent).copied()
        };
        match parent {
            Some(Entry::NewDir) => Known::Absent,
            _ => Known::Unknown,
        }
    }

    /// Records that `rel` now exists as `entry`.
    pub fn set(&mut self, rel: &str, entry: Entry) {
        self.entries.insert(rel.to_string(), entry);
    }

    /// Records that `rel` and everything beneath it were removed.
    pub fn removed(&mut self, rel: &str) {
        let prefix = format!("{rel}/");
        self.entries
            .retain(|p, _| p != rel && !(rel.is_empty() || p.starts_with(&prefix)));
    }

    fn root(&self) -> Entry {
        if self.fresh_root {
            Entry::NewDir
        } else {
            Entry::Dir
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_in_new_directories_are_known() {
        let mut s = UpperState::new(true);
        assert_eq!(s.get("app"), Known::Absent);
        s.set("app", Entry::NewDir);
        assert_eq!(s.get("app"), Known::Present(Entry::NewDir));
        assert_eq!(s.get("app/f"), Known::Absent);
        s.set("app/f", Entry::Other);
        assert_eq!(s.get("app/f"), Known::Present(Entry::Other));
        // Beneath a file or an unseen directory only the disk knows.
        assert_eq!(s.get("app/f/x"), Known::Unknown);
        assert_eq!(s.get("app/d/x"), Known::Unknown);
    }

    #[test]
    fn an_old_root_or_directory_needs_the_disk() {
        let mut s = UpperState::new(false);
        assert_eq!(s.get(""), Known::Present(Entry::Dir));
        assert_eq!(s.get("app"), Known::Unknown);
        s.set("app", Entry::Dir);
        assert_eq!(s.get("app/f"), Known::Unknown);
    }

    #[test]
    fn removal_forgets_the_subtree_only() {
        let mut s = UpperState::new(true);
        for (p, e) in [
            ("a", Entry::NewDir),
            ("a/b", Entry::NewDir),
            ("a/b/c", Entry::Other),
            ("ab", Entry::Other),
        ] {
            s.set(p, e);
        }
        s.removed("a");
        assert_eq!(s.get("a"), Known::Absent);
        assert_eq!(s.get("a/b"), Known::Unknown);
        assert_eq!(s.get("a/b/c"), Known::Unknown);
        assert_eq!(s.get("ab"), Known::Present(Entry::Other));
        s.removed("");
        assert_eq!(s.get("ab"), Known::Absent);
    }
}
