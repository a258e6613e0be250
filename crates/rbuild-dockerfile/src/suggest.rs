//! "Did you mean ...?" hints, chosen the way BuildKit's `util/suggest` chooses them.

/// The option closest to `value` by edit distance, if one is at most 2 edits away.
///
/// As in BuildKit (case-sensitive mode): an exact match means the mistake lies elsewhere
/// (no hint), and among equally close options the first in `options` wins.
pub fn closest<'a>(value: &str, options: &[&'a str]) -> Option<&'a str> {
    let mut best = None;
    let mut best_distance = 3;
    for &option in options {
        if option == value {
            return None;
        }
        let d = edit_distance(value, option);
        if d < best_distance {
            best = Some(option);
            best_distance = d;
        }
    }
    best
}

/// Levenshtein distance over characters (insert, delete and substitute each cost 1).
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, &cb) in b.iter().enumerate() {
            let substitute = diagonal + usize::from(ca != cb);
            diagonal = row[j + 1];
            row[j + 1] = substitute.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// The ` (did you mean x?)` tail BuildKit appends to an error, or nothing.
pub(crate) fn hint(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean {s}?)"),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distances() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
        assert_eq!(edit_distance("typ", "type"), 1);
        assert_eq!(edit_distance("héllo", "hello"), 1, "by character, not byte");
    }

    #[test]
    fn closest_options() {
        let keys = ["type", "target", "id"];
        assert_eq!(closest("typ", &keys), Some("type"));
        assert_eq!(closest("targte", &keys), Some("target"));
        assert_eq!(closest("zzzzzz", &keys), None);
        assert_eq!(closest("type", &keys), None, "exact match: no hint");
        assert_eq!(closest("ab", &["xb", "ax"]), Some("xb"), "first of equals");
        assert_eq!(closest("TMP", &["tmpfs"]), None, "case-sensitive");
    }
}
