//! Per-keyword argument splitting: JSON form, whitespace lists, ARG words, ENV/LABEL pairs.

use crate::error::SyntaxError;

/// The result of trying to read JSON form.
pub(crate) enum Json {
    Array(Vec<String>),
    NotStrings,
    Fallback,
}

/// Reads `rest` as a JSON array of strings.
pub(crate) fn parse_json(rest: &str) -> Json {
    if !rest.starts_with('[') {
        return Json::Fallback;
    }
    match serde_json::from_str::<Vec<serde_json::Value>>(rest) {
        Ok(values) => values
            .into_iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Some(s),
                _ => None,
            })
            .collect::<Option<Vec<_>>>()
            .map_or(Json::NotStrings, Json::Array),
        Err(_) => Json::Fallback,
    }
}

fn is_ascii_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0b' | '\x0c' | '\r')
}

/// Splits on runs of `[ \t\v\f\r]` (the input is already trimmed).
pub(crate) fn split_ws(rest: &str) -> Vec<String> {
    if rest.is_empty() {
        return Vec::new();
    }
    rest.split(is_ascii_ws)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// Splits once at the first run of `[ \t\v\f\r]`.
pub(crate) fn split_ws_once(rest: &str) -> (&str, Option<&str>) {
    match rest.find(is_ascii_ws) {
        Some(i) => (&rest[..i], Some(rest[i..].trim_start_matches(is_ascii_ws))),
        None => (rest, None),
    }
}

enum Phase {
    Spaces,
    Word,
    Quote(char),
}

/// The quote-aware word splitter of ARG/ENV/LABEL: quotes and escapes stay in the words.
pub(crate) fn parse_words(rest: &str, esc: char) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut blank_ok = false;
    let mut phase = Phase::Spaces;
    let mut it = rest.chars().peekable();
    while let Some(ch) = it.next() {
        if matches!(phase, Phase::Spaces) {
            if ch.is_whitespace() {
                continue;
            }
            phase = Phase::Word;
        }
        match phase {
            Phase::Word if ch.is_whitespace() => {
                if blank_ok || !word.is_empty() {
                    words.push(std::mem::take(&mut word));
                }
                blank_ok = false;
                phase = Phase::Spaces;
            }
            Phase::Word => {
                if ch == '\'' || ch == '"' {
                    blank_ok = true;
                    phase = Phase::Quote(ch);
                }
                if ch == esc {
                    let Some(next) = it.next() else { continue };
                    word.push(ch);
                    word.push(next);
                } else {
                    word.push(ch);
                }
            }
            Phase::Quote(q) => {
                if ch == q {
                    phase = Phase::Word;
                }
                if ch == esc && q != '\'' {
                    let Some(next) = it.next() else {
                        phase = Phase::Word;
                        continue;
                    };
                    word.push(ch);
                    word.push(next);
                } else {
                    word.push(ch);
                }
            }
            Phase::Spaces => {}
        }
    }
    if !matches!(phase, Phase::Spaces) && (blank_ok || !word.is_empty()) {
        words.push(word);
    }
    words
}

/// ENV/LABEL: `key value` (legacy, a triple ending in "") or `k=v ...` (triples ending in "=").
pub(crate) fn parse_name_val(
    rest: &str,
    keyword: &'static str,
    esc: char,
) -> Result<Vec<String>, SyntaxError> {
    let words = parse_words(rest, esc);
    let Some(first) = words.first() else {
        return Ok(Vec::new());
    };
    if !first.contains('=') {
        let (k, v) = split_ws_once(rest);
        let v = v.ok_or(SyntaxError::MissingValue { keyword })?;
        return Ok(vec![k.to_string(), v.to_string(), String::new()]);
    }
    let mut out = Vec::new();
    for word in &words {
        let (k, v) = word
            .split_once('=')
            .ok_or_else(|| SyntaxError::MissingEquals { word: word.clone() })?;
        out.extend([k.to_string(), v.to_string(), "=".to_string()]);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words() {
        assert_eq!(
            parse_words("abc=\"123 456\" def", '\\'),
            vec!["abc=\"123 456\"", "def"]
        );
        assert_eq!(parse_words("a\\ b c\\", '\\'), vec!["a\\ b", "c"]);
        assert_eq!(parse_words("'a\\' b", '\\'), vec!["'a\\'", "b"]);
        assert_eq!(parse_words("\"a b", '\\'), vec!["\"a b"]);
        assert!(parse_words("   ", '\\').is_empty());
    }

    #[test]
    fn json() {
        assert!(matches!(parse_json("[\"a\", \"b\"]"), Json::Array(v) if v == ["a", "b"]));
        assert!(matches!(parse_json("[1]"), Json::NotStrings));
        assert!(matches!(parse_json("['a']"), Json::Fallback));
        assert!(matches!(parse_json("[\"a\"] x"), Json::Fallback));
    }
}
