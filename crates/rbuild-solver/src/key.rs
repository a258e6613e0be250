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
//!
//! [`CacheKey`] is here; the encoder is [`KeyBuilder`] (in `builder`), parts encoded ahead
//! are [`KeyPart`] (in `part`), and the readable trace of values is in `shown`.

mod builder;
mod part;
mod shown;

use std::fmt;
use std::str::FromStr;

use crate::error::KeyParseError;

pub use builder::KeyBuilder;
pub use part::KeyPart;

/// Version of the key encoding itself; part of every key so old records can never collide.
pub const KEY_FORMAT: u32 = 1;

/// Name of the implicit first component recording the op kind and its version.
pub const KIND_COMPONENT: &str = "kind";

/// Named parts of a key, in the order they were added: (name, short value or digest text).
pub type Components = Vec<(String, String)>;

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
}
