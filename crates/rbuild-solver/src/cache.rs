//! Cache storage: results by key, and the last key components per vertex identity.

use std::collections::HashMap;
use std::sync::{Mutex, MutexGuard, PoisonError};

use crate::key::{CacheKey, Components};
use crate::op::MissReason;

/// Persistent (or not) storage of op results. Implementations must be safe to call from
/// several worker threads at once.
pub trait CacheStorage<V>: Send + Sync {
    /// The stored value for `key`; errors inside are treated as misses (the impl logs).
    fn load(&self, key: &CacheKey) -> Option<V>;
    /// Records `value` under `key`, and `components` as the last ones seen for `identity`.
    fn save(&self, key: &CacheKey, identity: &str, components: &Components, value: &V);
    /// The components of the last key saved under `identity`.
    fn last_components(&self, identity: &str) -> Option<Components>;
    /// The key that `key` was settled to before (see [`Op::content_inputs`]).
    ///
    /// [`Op::content_inputs`]: crate::Op::content_inputs
    fn canonical(&self, key: &CacheKey) -> Option<CacheKey> {
        let _ = key;
        None
    }
    /// Records that `key` stands for `canonical` from now on.
    fn set_canonical(&self, key: &CacheKey, canonical: &CacheKey) {
        let _ = (key, canonical);
    }
}

/// An in-memory [`CacheStorage`], for tests and for builds that keep no cache.
pub struct MemoryCache<V> {
    inner: Mutex<Inner<V>>,
}

struct Inner<V> {
    values: HashMap<CacheKey, V>,
    last: HashMap<String, Components>,
    canonical: HashMap<CacheKey, CacheKey>,
}

impl<V> Default for MemoryCache<V> {
    fn default() -> Self {
        MemoryCache {
            inner: Mutex::new(Inner {
                values: HashMap::new(),
                last: HashMap::new(),
                canonical: HashMap::new(),
            }),
        }
    }
}

impl<V> MemoryCache<V> {
    /// An empty cache.
    pub fn new() -> Self {
        Self::default()
    }

    /// Number of stored results.
    pub fn len(&self) -> usize {
        self.lock().values.len()
    }

    /// Whether no result is stored.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Forgets the result under `key` (keeps identities), as a garbage collection would.
    pub fn remove(&self, key: &CacheKey) -> bool {
        self.lock().values.remove(key).is_some()
    }

    fn lock(&self) -> MutexGuard<'_, Inner<V>> {
        // A panic while holding the lock cannot leave the maps half-updated: every
        // critical section is a single insert or lookup.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl<V: Clone + Send + Sync> CacheStorage<V> for MemoryCache<V> {
    fn load(&self, key: &CacheKey) -> Option<V> {
        self.lock().values.get(key).cloned()
    }

    fn save(&self, key: &CacheKey, identity: &str, components: &Components, value: &V) {
        let mut inner = self.lock();
        inner.values.insert(*key, value.clone());
        inner.last.insert(identity.to_string(), components.clone());
    }

    fn last_components(&self, identity: &str) -> Option<Components> {
        self.lock().last.get(identity).cloned()
    }

    fn canonical(&self, key: &CacheKey) -> Option<CacheKey> {
        self.lock().canonical.get(key).copied()
    }

    fn set_canonical(&self, key: &CacheKey, canonical: &CacheKey) {
        self.lock().canonical.insert(*key, *canonical);
    }
}

/// Explains a miss: the first component of `now` that differs from `last` (matched by name),
/// then any component `last` had that `now` lacks.
pub fn explain_miss(last: Option<&Components>, now: &Components) -> MissReason {
    let Some(last) = last else {
        return MissReason::NoPreviousRecord;
    };
    // Indexed once: a COPY of a large context has tens of thousands of `file:` components,
    // and a linear search per component made explaining one miss quadratic.
    let old: std::collections::HashMap<&str, &String> =
        last.iter().map(|(n, v)| (n.as_str(), v)).collect();
    for (name, value) in now {
        match old.get(name.as_str()).copied() {
            None => return MissReason::Added { name: name.clone() },
            Some(old) if old != value => {
                return MissReason::Changed {
                    name: name.clone(),
                    old: old.clone(),
                    new: value.clone(),
                }
            }
            Some(_) => {}
        }
    }
    let current: std::collections::HashSet<&str> = now.iter().map(|(n, _)| n.as_str()).collect();
    if let Some((name, _)) = last.iter().find(|(n, _)| !current.contains(n.as_str())) {
        return MissReason::Removed { name: name.clone() };
    }
    MissReason::RecordMissing
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comps(pairs: &[(&str, &str)]) -> Components {
        pairs
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn explains_first_difference() {
        let last = comps(&[
            ("kind", "run@1"),
            ("parent", "p1"),
            ("arg:A", "1"),
            ("arg:B", "1"),
        ]);
        let now = comps(&[
            ("kind", "run@1"),
            ("parent", "p1"),
            ("arg:A", "2"),
            ("arg:B", "2"),
        ]);
        let reason = explain_miss(Some(&last), &now);
        assert_eq!(reason.to_string(), "input \"arg:A\" changed");
        assert!(matches!(reason, MissReason::Changed { old, new, .. } if old == "1" && new == "2"));
        let now = comps(&[("kind", "run@1"), ("parent", "p2"), ("arg:A", "2")]);
        assert_eq!(
            explain_miss(Some(&last), &now).to_string(),
            "parent changed"
        );
    }

    #[test]
    fn explains_added_removed_and_missing() {
        let last = comps(&[("kind", "run@1"), ("arg:A", "1")]);
        let added = comps(&[("kind", "run@1"), ("arg:A", "1"), ("arg:B", "1")]);
        assert_eq!(
            explain_miss(Some(&last), &added),
            MissReason::Added {
                name: "arg:B".into()
            }
        );
        let removed = comps(&[("kind", "run@1")]);
        assert_eq!(
            explain_miss(Some(&last), &removed),
            MissReason::Removed {
                name: "arg:A".into()
            }
        );
        assert_eq!(explain_miss(Some(&last), &last), MissReason::RecordMissing);
        assert_eq!(explain_miss(None, &last).to_string(), "no previous record");
    }

    #[test]
    fn memory_cache_keeps_last_components_per_identity() {
        let cache = MemoryCache::new();
        let key = crate::KeyBuilder::new("t", 1).finish().0;
        cache.save(&key, "step 1", &comps(&[("a", "1")]), &"v1".to_string());
        cache.save(&key, "step 1", &comps(&[("a", "2")]), &"v2".to_string());
        assert_eq!(cache.load(&key).as_deref(), Some("v2"));
        assert_eq!(cache.last_components("step 1"), Some(comps(&[("a", "2")])));
        assert_eq!(cache.last_components("step 2"), None);
        assert!(cache.remove(&key) && cache.is_empty());
    }
}
