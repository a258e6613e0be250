//! Extraction of leading `--flag` words from an instruction's remainder.
//!
//! BuildKit scans bytes, so non-ASCII text in flags turns into mojibake there; we scan
//! characters instead, which gives the same result for ASCII and keeps UTF-8 intact.

enum Phase {
    Spaces,
    Word,
    Quote(char),
}

/// Splits `line` into its leading flags (quotes and escapes removed) and the rest.
pub(crate) fn extract(line: &str, esc: char) -> (Vec<String>, &str) {
    let mut flags = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut phase = Phase::Spaces;
    let mut it = line.char_indices().peekable();
    while let Some((pos, ch)) = it.next() {
        match phase {
            Phase::Spaces => {
                if ch.is_whitespace() {
                    continue;
                }
                if !line[pos..].starts_with("--") {
                    return (flags, &line[pos..]);
                }
                phase = Phase::Word;
                word.push(ch);
            }
            Phase::Word => {
                if ch.is_whitespace() {
                    if word == "--" {
                        return (flags, &line[pos..]);
                    }
                    if blank_ok || !word.is_empty() {
                        flags.push(std::mem::take(&mut word));
                    }
                    blank_ok = false;
                    phase = Phase::Spaces;
                } else if ch == '\'' || ch == '"' {
                    blank_ok = true;
                    phase = Phase::Quote(ch);
                } else if ch == esc {
                    // A trailing escape is dropped.
                    if let Some((_, c)) = it.next() {
                        word.push(c);
                    }
                } else {
                    word.push(ch);
                }
            }
            Phase::Quote(q) => {
                if ch == q {
                    phase = Phase::Word;
                } else if ch == esc {
                    match it.next() {
                        Some((_, c)) => word.push(c),
                        None => phase = Phase::Word,
                    }
                } else {
                    word.push(ch);
                }
            }
        }
    }
    if !matches!(phase, Phase::Spaces) && word != "--" && (blank_ok || !word.is_empty()) {
        flags.push(word);
    }
    (flags, "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags() {
        assert_eq!(
            extract("--a=1 --b x y", '\\'),
            (vec!["--a=1".into(), "--b".into()], "x y")
        );
        assert_eq!(extract("--a=1 -- x", '\\'), (vec!["--a=1".into()], " x"));
        assert_eq!(extract("-- x", '\\'), (vec![], " x"));
        assert_eq!(
            extract("--a=\"x y\" z", '\\'),
            (vec!["--a=x y".into()], "z")
        );
        assert_eq!(extract("--a", '\\'), (vec!["--a".into()], ""));
        assert_eq!(extract("--a\\ b c", '\\'), (vec!["--a b".into()], "c"));
        assert_eq!(extract("x", '\\'), (vec![], "x"));
        assert_eq!(extract("-x", '\\'), (vec![], "-x"));
    }
}
