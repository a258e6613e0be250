//! In-process memory of facts the store already established, so hot paths skip re-checking.

use std::collections::HashSet;
use std::hash::Hash;
use std::sync::Mutex;

/// A set of things this process has seen established (a record read, a blob hashed).
#[derive(Debug)]
pub(crate) struct Known<T>(Mutex<HashSet<T>>);

impl<T> Default for Known<T> {
    fn default() -> Self {
        Known(Mutex::new(HashSet::new()))
    }
}

impl<T: Eq + Hash> Known<T> {
    /// Whether `item` was recorded.
    pub fn contains(&self, item: &T) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(item)
    }

    /// Records `item`.
    pub fn insert(&self, item: T) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(item);
    }

    /// Forgets everything.
    pub fn clear(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }
}
