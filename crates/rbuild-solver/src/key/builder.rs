//! [`KeyBuilder`]: the canonical encoder every op's key goes through.

use sha2::{Digest, Sha256};

use super::shown::{short_digest, shown_text, MAX_SHOWN};
use super::{CacheKey, Components, KeyPart, KEY_FORMAT, KIND_COMPONENT};

/// Builds a [`CacheKey`] from named, typed components and records a readable trace of them.
pub struct KeyBuilder {
    hasher: Sha256,
    components: Components,
}

impl KeyBuilder {
    /// Starts a key for an op `kind` (its domain) at `version` (bump when the op's semantics change).
    pub fn new(kind: &str, version: u32) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"rbuild-cache-key\0");
        hasher.update(KEY_FORMAT.to_be_bytes());
        let mut b = KeyBuilder {
            hasher,
            components: Vec::new(),
        };
        b.put_len_prefixed(kind.as_bytes());
        b.hasher.update(version.to_be_bytes());
        b.components
            .push((KIND_COMPONENT.to_string(), format!("{kind}@{version}")));
        b
    }

    /// Adds a text component; short values are recorded verbatim (use `bytes` for secrets).
    pub fn str(mut self, name: &str, v: &str) -> Self {
        self.start(b's', name);
        self.put_len_prefixed(v.as_bytes());
        self.record(name, shown_text(v));
        self
    }

    /// Adds a text component keyed exactly as [`str`](Self::str) does, but recorded only as a
    /// digest: for values that may be secrets (build args, environment), which must never
    /// reach the store's records verbatim.
    pub fn hidden_str(mut self, name: &str, v: &str) -> Self {
        self.start(b's', name);
        self.put_len_prefixed(v.as_bytes());
        self.record(name, short_digest(v.as_bytes()));
        self
    }

    /// Adds a binary component; only its digest is recorded.
    pub fn bytes(mut self, name: &str, v: &[u8]) -> Self {
        self.start(b'b', name);
        self.put_len_prefixed(v);
        self.record(name, short_digest(v));
        self
    }

    /// Adds an integer component.
    pub fn u64(mut self, name: &str, v: u64) -> Self {
        self.start(b'u', name);
        self.hasher.update(v.to_be_bytes());
        self.record(name, v.to_string());
        self
    }

    /// Adds an ordered list of strings; `["a","b"]` differs from `["ab"]` and from `["b","a"]`.
    pub fn list(mut self, name: &str, v: &[String]) -> Self {
        self.start(b'l', name);
        self.hasher.update((v.len() as u64).to_be_bytes());
        let mut enc = Vec::new();
        for item in v {
            enc.extend_from_slice(&(item.len() as u64).to_be_bytes());
            enc.extend_from_slice(item.as_bytes());
        }
        self.hasher.update(&enc);
        let text = format!("{v:?}");
        let shown = if text.len() <= MAX_SHOWN {
            text
        } else {
            short_digest(&enc)
        };
        self.record(name, shown);
        self
    }

    /// Adds another key (typically an input's), e.g. `key("parent", &k)`.
    pub fn key(mut self, name: &str, k: &CacheKey) -> Self {
        self.start(b'k', name);
        self.hasher.update(k.as_bytes());
        self.record(name, k.short());
        self
    }

    /// Adds an optional text component; `None` is distinct from every `Some`, including `Some("")`.
    pub fn opt_str(mut self, name: &str, v: Option<&str>) -> Self {
        self.start(b'o', name);
        match v {
            None => {
                self.hasher.update([0u8]);
                self.record(name, "(none)".to_string());
            }
            Some(s) => {
                self.hasher.update([1u8]);
                self.put_len_prefixed(s.as_bytes());
                self.record(name, shown_text(s));
            }
        }
        self
    }

    /// Adds components encoded ahead of time: the same key as adding them one by one.
    pub fn part(self, part: KeyPart) -> Self {
        self.parts(vec![part])
    }

    /// Adds several parts in order (reserving room for all their components at once).
    pub fn parts(mut self, parts: Vec<KeyPart>) -> Self {
        self.components
            .reserve(parts.iter().map(KeyPart::len).sum());
        for part in parts {
            self.hasher.update(&part.bytes);
            self.components.extend(part.components);
        }
        self
    }

    /// Finishes the key and returns it with the recorded components.
    pub fn finish(self) -> (CacheKey, Components) {
        let digest: [u8; 32] = self.hasher.finalize().into();
        (CacheKey(digest), self.components)
    }

    /// Every component starts with a type tag and its name, so renaming or retyping changes the key.
    fn start(&mut self, tag: u8, name: &str) {
        self.hasher.update([tag]);
        self.put_len_prefixed(name.as_bytes());
    }

    fn put_len_prefixed(&mut self, data: &[u8]) {
        self.hasher.update((data.len() as u64).to_be_bytes());
        self.hasher.update(data);
    }

    fn record(&mut self, name: &str, shown: String) {
        self.components.push((name.to_string(), shown));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(b: KeyBuilder) -> CacheKey {
        b.finish().0
    }

    #[test]
    fn key_is_stable_across_releases() {
        // Pinned: a change here silently invalidates (or worse, aliases) every stored record.
        // Bump KEY_FORMAT instead of editing this value.
        let key = k(KeyBuilder::new("run", 1).str("cmd", "make").u64("n", 7));
        assert_eq!(key.to_hex(), PINNED);
    }
    // Cross-checked against an independent Python encoding of the format described above.
    const PINNED: &str = "de2caf7783ec1742806e5a141f1fe62be94a1b54ea3afcdf3736ee6a137345f0";

    #[test]
    fn hidden_str_keys_like_str_but_records_only_a_digest() {
        let (plain, _) = KeyBuilder::new("t", 1).str("env:TOKEN", "hunter2").finish();
        let (hidden, comps) = KeyBuilder::new("t", 1)
            .hidden_str("env:TOKEN", "hunter2")
            .finish();
        assert_eq!(plain, hidden, "hiding a value must not change the key");
        let shown = &comps.last().unwrap().1;
        assert!(
            !shown.contains("hunter2") && shown.starts_with("sha256:"),
            "{shown}"
        );
    }

    #[test]
    fn encoding_is_unambiguous() {
        let base = || KeyBuilder::new("t", 1);
        let pairs = [
            (base().str("a", "bc"), base().str("ab", "c")),
            (
                base().list("l", &["a".into(), "b".into()]),
                base().list("l", &["ab".into()]),
            ),
            (
                base().list("l", &["a".into(), "b".into()]),
                base().list("l", &["b".into(), "a".into()]),
            ),
            (base().opt_str("o", None), base().opt_str("o", Some(""))),
            (base().str("x", "1"), base().bytes("x", b"1")),
            (
                base().str("x", "1").str("y", "2"),
                base().str("y", "2").str("x", "1"),
            ),
            (KeyBuilder::new("run", 1), KeyBuilder::new("run", 2)),
            (KeyBuilder::new("run", 1), KeyBuilder::new("copy", 1)),
        ];
        for (a, b) in pairs {
            assert_ne!(k(a), k(b));
        }
        assert_eq!(k(base().str("a", "b")), k(base().str("a", "b")));
    }

    #[test]
    fn components_are_short_and_named() {
        let parent = k(KeyBuilder::new("base", 1));
        let (_, comps) = KeyBuilder::new("run", 3)
            .key("parent", &parent)
            .str("arg:VERSION", "1.2")
            .bytes("secret", b"hunter2")
            .str("big", &"x".repeat(500))
            .opt_str("user", None)
            .list("argv", &["sh".into(), "-c".into()])
            .finish();
        let get = |n: &str| {
            comps
                .iter()
                .find(|(name, _)| name == n)
                .map(|(_, v)| v.clone())
                .unwrap()
        };
        assert_eq!(comps[0], (KIND_COMPONENT.to_string(), "run@3".to_string()));
        assert_eq!(get("parent"), parent.short());
        assert_eq!(get("arg:VERSION"), "\"1.2\"");
        assert!(get("secret").starts_with("sha256:") && !get("secret").contains("hunter2"));
        assert!(get("big").ends_with("(500 bytes)"));
        assert_eq!(get("user"), "(none)");
        assert_eq!(get("argv"), "[\"sh\", \"-c\"]");
    }
}
