//! [`KeyPart`]: components encoded apart from their key, for very many of them.

use super::shown::shown_text;
use super::Components;

/// Components encoded ahead of the key they go into, so that a key with very many of them
/// (a COPY of a large context has one per file) can be prepared in parallel and before the
/// inputs' keys are known. [`KeyBuilder::part`](super::KeyBuilder::part) adds them.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct KeyPart {
    pub(super) bytes: Vec<u8>,
    pub(super) components: Components,
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::key::KeyBuilder;

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
}
