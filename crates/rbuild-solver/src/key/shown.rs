//! How component values are shown in a key's trace: short text verbatim, the rest as a digest
//! (so secrets and large values never land in the cache records).

use sha2::{Digest, Sha256};

/// Longest text value shown verbatim in a component; longer values are shown as a digest.
pub(super) const MAX_SHOWN: usize = 64;

/// Text shown for a string value: verbatim when short and printable, else a digest.
pub(super) fn shown_text(v: &str) -> String {
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
pub(super) fn short_digest(data: &[u8]) -> String {
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
}
