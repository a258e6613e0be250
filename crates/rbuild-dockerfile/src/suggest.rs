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

/// Every instruction keyword, as BuildKit's allInstructionNames lists them (upper case).
const INSTRUCTIONS: &[&str] = &[
    "ADD",
    "ARG",
    "CMD",
    "COPY",
    "ENTRYPOINT",
    "ENV",
    "EXPOSE",
    "FROM",
    "HEALTHCHECK",
    "LABEL",
    "MAINTAINER",
    "ONBUILD",
    "RUN",
    "SHELL",
    "STOPSIGNAL",
    "USER",
    "VOLUME",
    "WORKDIR",
];

/// The instruction an unknown keyword was probably meant to be, as BuildKit suggests it
/// (util/suggest, case-insensitive): within two edits, in the keyword's case when that is all
/// lower or all upper case, else lower case. BuildKit walks a Go map, so among equally close
/// instructions its choice varies; this takes the first alphabetically.
pub(crate) fn instruction(word: &str) -> Option<String> {
    let lower = word.to_lowercase();
    let options: Vec<String> = INSTRUCTIONS.iter().map(|i| i.to_lowercase()).collect();
    let refs: Vec<&str> = options.iter().map(String::as_str).collect();
    let near = closest(&lower, &refs)?;
    Some(if word == word.to_uppercase() && word != lower {
        near.to_uppercase()
    } else {
        near.to_string()
    })
}

/// The ` (did you mean x?)` tail BuildKit appends to an error, or nothing.
pub(crate) fn hint(suggestion: &Option<String>) -> String {
    match suggestion {
        Some(s) => format!(" (did you mean {s}?)"),
        None => String::new(),
    }
}

#[cfg(test)]
#[allow(non_snake_case)] // test names carry BuildKit's Go test names
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
    fn unknown_instructions_get_buildkits_hint__buildkit_testDockerfileInvalidInstruction() {
        assert_eq!(instruction("FNTRYPOINT").as_deref(), Some("ENTRYPOINT"));
        assert_eq!(instruction("fntrypoint").as_deref(), Some("entrypoint"));
        assert_eq!(instruction("Fntrypoint").as_deref(), Some("entrypoint"));
        assert_eq!(instruction("BADCMD"), None);
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
