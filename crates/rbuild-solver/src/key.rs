//! Cache keys: an explicit, versioned, length-prefixed canonical encoding hashed with sha256.
//!
//! Never built from `derive(Hash)` or serde output: those encodings are not stable across
//! compiler or crate versions, and a key must mean the same thing in every rbuild release that
//! shares a store. Bump [`KEY_FORMAT`] when the encoding below changes.
//!
//! Encoding (integers big-endian, `lp(x)` = u64 length then bytes):
//! `"rbuild-cache-key\0" u32(KEY_FORMAT) lp(kind) u32(version)`, then per component a type tag
//! and `lp(name)`, then the value: `s` lp(text) | `b` lp(bytes) | `u` u64 |
//! `l` u64(count) lp(item)... | `k` 32 key bytes | `o` 0, or 1 lp(text).

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

use crate::error::KeyParseError;

/// Version of the key encoding itself; part of every key so old records can never collide.
pub const KEY_FORMAT: u32 = 1;

/// Name of the implicit first component recording the op kind and its version.
pub const KIND_COMPONENT: &str = "kind";

/// Named parts of a key, in the order they were added: (name, short value or digest text).
pub type Components = Vec<(String, String)>;

/// Longest text value shown verbatim in a component; longer values are shown as a digest.
const MAX_SHOWN: usize = 64;

/// A 32-byte sha256 cache key; displays as `sha256:<hex>`.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CacheKey([u8; 32]);

impl CacheKey {
    /// Wraps raw digest bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        CacheKey(bytes)
    }

    /// The raw digest bytes.
    pub fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Lowercase hex of the digest, without the `sha256:` prefix.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }

    /// `sha256:` plus the first 12 hex digits, for human-facing text.
    pub fn short(&self) -> String {
        format!("sha256:{}", &self.to_hex()[..12])
    }
}

impl fmt::Display for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sha256:{}", self.to_hex())
    }
}

impl fmt::Debug for CacheKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CacheKey({self})")
    }
}

impl FromStr for CacheKey {
    type Err = KeyParseError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || KeyParseError {
            text: s.to_string(),
        };
        let hex_part = s.strip_prefix("sha256:").ok_or_else(bad)?;
        // Uppercase hex would give two spellings of one key; only the canonical form parses.
        if hex_part.len() != 64 || hex_part.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(bad());
        }
        let mut bytes = [0u8; 32];
        hex::decode_to_slice(hex_part, &mut bytes).map_err(|_| bad())?;
        Ok(CacheKey(bytes))
    }
}

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

/// Components encoded ahead of the key they go into, so that a key with very many of them
/// (a COPY of a large context has one per file) can be prepared in parallel and before the
/// inputs' keys are known. [`KeyBuilder::part`] adds them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KeyPart {
    bytes: Vec<u8>,
    components: Components,
}

impl KeyPart {
    /// An empty part with room for `n` components.
    pub fn with_capacity(n: usize) -> Self {
        KeyPart {
            bytes: Vec::with_capacity(n * 96),
            components: Vec::with_capacity(n),
        }
    }

    /// Adds what `KeyBuilder::str(&format!("{prefix}{name}"), v)` would, without building the
    /// name twice.
    pub fn str_prefixed(&mut self, prefix: &str, name: &str, v: &str) {
        let b = &mut self.bytes;
        b.push(b's');
        b.extend_from_slice(&((prefix.len() + name.len()) as u64).to_be_bytes());
        b.extend_from_slice(prefix.as_bytes());
        b.extend_from_slice(name.as_bytes());
        b.extend_from_slice(&(v.len() as u64).to_be_bytes());
        b.extend_from_slice(v.as_bytes());
        let mut full = String::with_capacity(prefix.len() + name.len());
        full.push_str(prefix);
        full.push_str(name);
        self.components.push((full, shown_text(v)));
    }

    /// Appends `other`'s components after this part's.
    pub fn append(&mut self, mut other: KeyPart) {
        self.bytes.append(&mut other.bytes);
        self.components.append(&mut other.components);
    }

    /// How many components it holds.
    pub fn len(&self) -> usize {
        self.components.len()
    }

    /// Whether it holds no component.
    pub fn is_empty(&self) -> bool {
        self.components.is_empty()
    }
}

/// Text shown for a string value: verbatim when short and printable, else a digest.
fn shown_text(v: &str) -> String {
    // Plain ASCII (digests, paths) quotes as itself; skip the formatter's escaping machinery.
    let plain = |b: &u8| (b' '..=b'~').contains(b) && *b != b'"' && *b != b'\\';
    if v.len() <= MAX_SHOWN && v.as_bytes().iter().all(plain) {
        let mut out = String::with_capacity(v.len() + 2);
        out.push('"');
        out.push_str(v);
        out.push('"');
        return out;
    }
    if v.len() <= MAX_SHOWN && !v.chars().any(char::is_control) {
        format!("{v:?}")
    } else {
        short_digest(v.as_bytes())
    }
}

/// `sha256:<12 hex> (<n> bytes)`: enough to tell values apart without storing them.
fn short_digest(data: &[u8]) -> String {
    let digest = Sha256::digest(data);
    format!(
        "sha256:{} ({} bytes)",
        &hex::encode(digest)[..12],
        data.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn k(b: KeyBuilder) -> CacheKey {
        b.finish().0
    }

    #[test]
    fn display_and_parse_round_trip() {
        let key = k(KeyBuilder::new("run", 1).str("cmd", "make"));
        let text = key.to_string();
        assert!(text.starts_with("sha256:") && text.len() == 71);
        assert_eq!(text.parse::<CacheKey>().unwrap(), key);
        assert_eq!(key.to_hex(), text["sha256:".len()..]);
        for bad in [
            "",
            "sha256:",
            "sha256:zz",
            &text[7..],
            &text.to_uppercase(),
            &format!("{text}0"),
        ] {
            assert!(bad.parse::<CacheKey>().is_err(), "{bad:?} parsed");
        }
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
    fn parts_key_like_their_components() {
        let one_by_one = KeyBuilder::new("t", 1)
            .str("x", "1")
            .str("file:src/a", "d")
            .str("file:b", &"e".repeat(100))
            .str("y", "2")
            .finish();
        let mut part = KeyPart::with_capacity(1);
        part.str_prefixed("file:", "src/a", "d");
        let mut rest = KeyPart::default();
        rest.str_prefixed("file:", "b", &"e".repeat(100));
        part.append(rest);
        assert_eq!(part.len(), 2);
        let by_parts = KeyBuilder::new("t", 1)
            .str("x", "1")
            .parts(vec![part.clone(), KeyPart::default()])
            .str("y", "2")
            .finish();
        let by_part = KeyBuilder::new("t", 1)
            .str("x", "1")
            .part(part)
            .str("y", "2")
            .finish();
        assert_eq!(one_by_one, by_part);
        assert_eq!(one_by_one, by_parts);
    }

    #[test]
    fn shown_text_matches_debug_quoting() {
        for v in [
            "",
            "abc",
            "a b",
            "it's",
            "a\"b",
            "back\\slash",
            "é",
            "~!@#$%^&*()_+{}|:<>?",
        ] {
            assert_eq!(shown_text(v), format!("{v:?}"), "{v}");
        }
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
