//! Go's `filepath.Match` on one path component: `*`, `?`, `[...]` classes (with `^` and ranges)
//! and `\` escapes. COPY source globs and `.dockerignore` both use these semantics.

/// A malformed pattern (e.g. an unterminated `[` class).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("syntax error in pattern {0:?}")]
pub struct BadPattern(pub String);

/// Whether `pattern` contains glob metacharacters.
pub fn has_meta(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '\\'])
}

/// Matches `name` against `pattern`; `*` and `?` never match `/`.
pub fn matches(pattern: &str, name: &str) -> Result<bool, BadPattern> {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    let bad = || BadPattern(pattern.to_string());
    validate(&p).map_err(|_| bad())?;
    Ok(match_from(&p, &n))
}

fn validate(p: &[char]) -> Result<(), ()> {
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => i += 2,
            '[' => i = class_end(p, i + 1).ok_or(())?,
            _ => i += 1,
        }
        if i > p.len() {
            return Err(());
        }
    }
    Ok(())
}

/// Index just past the `]` closing the class that starts at `i` (after `[`); `None` if the
/// class is malformed the way Go rejects it (`-` or `]` where a character is expected).
pub(crate) fn class_end(p: &[char], mut i: usize) -> Option<usize> {
    if p.get(i) == Some(&'^') {
        i += 1;
    }
    let mut first = true;
    loop {
        match p.get(i)? {
            ']' if !first => return Some(i + 1),
            _ => i = class_char_end(p, i)?,
        }
        if p.get(i) == Some(&'-') {
            i = class_char_end(p, i + 1)?;
        }
        first = false;
    }
}

/// Index past one class character (possibly escaped) at `i`.
fn class_char_end(p: &[char], i: usize) -> Option<usize> {
    match p.get(i)? {
        ']' | '-' => None,
        '\\' => p.get(i + 1).map(|_| i + 2),
        _ => Some(i + 1),
    }
}

fn match_from(p: &[char], n: &[char]) -> bool {
    match p.first() {
        None => n.is_empty(),
        Some('*') => (0..=n.len())
            .take_while(|&k| k == 0 || n[k - 1] != '/')
            .any(|k| match_from(&p[1..], &n[k..])),
        Some('?') => n.first().is_some_and(|&c| c != '/') && match_from(&p[1..], &n[1..]),
        Some('[') => match (n.first(), class_end(p, 1)) {
            (Some(&c), Some(end)) if c != '/' => {
                class_matches(&p[1..end - 1], c) && match_from(&p[end..], &n[1..])
            }
            _ => false,
        },
        Some('\\') => p.len() > 1 && n.first() == Some(&p[1]) && match_from(&p[2..], &n[1..]),
        Some(&c) => n.first() == Some(&c) && match_from(&p[1..], &n[1..]),
    }
}

/// Whether a `[...]` class of `pattern` holds a range whose start is above its end
/// (`[z-a]`, `[Local-Only]`). Go's `filepath.Match` lets such a range match nothing, but
/// Docker's `.dockerignore` matcher compiles each pattern into a Go regexp, which refuses
/// the range, and the match fails with `ErrBadPattern`. Call after [`matches`] accepted
/// the pattern.
pub(crate) fn has_reversed_range(pattern: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let mut i = 0;
    while i < p.len() {
        match p[i] {
            '\\' => i += 2,
            '[' => match class_end(&p, i + 1) {
                Some(end) if class_ranges(&p[i + 1..end - 1]).any(|(lo, hi)| lo > hi) => {
                    return true
                }
                Some(end) => i = end,
                None => return false,
            },
            _ => i += 1,
        }
    }
    false
}

/// The `(lo, hi)` ranges of a class body (single characters as `(c, c)`), escapes removed.
fn class_ranges(class: &[char]) -> impl Iterator<Item = (char, char)> + '_ {
    let mut body = class.strip_prefix(&['^']).unwrap_or(class);
    std::iter::from_fn(move || {
        let (lo, rest) = unescape_first(body)?;
        body = rest;
        let mut hi = lo;
        if let Some(('-', rest)) = body.split_first().map(|(c, r)| (*c, r)) {
            if let Some((h, rest)) = unescape_first(rest) {
                (hi, body) = (h, rest);
            }
        }
        Some((lo, hi))
    })
}

/// The first class character of `body` (an escape removed) and what follows it.
fn unescape_first(body: &[char]) -> Option<(char, &[char])> {
    match body {
        ['\\', c, rest @ ..] => Some((*c, rest)),
        [c, rest @ ..] => Some((*c, rest)),
        [] => None,
    }
}

/// Whether `c` is in the class whose body (between the brackets) is `class`.
pub(crate) fn class_matches(class: &[char], c: char) -> bool {
    let negate = class.first() == Some(&'^');
    class_ranges(class).any(|(lo, hi)| lo <= c && c <= hi) != negate
}

#[cfg(test)]
mod tests {
    use super::*;

    // Rows taken from the behaviour documented for Go's filepath.Match.
    #[test]
    fn go_match_table() {
        let rows = [
            ("abc", "abc", true),
            ("*", "abc", true),
            ("*c", "abc", true),
            ("a*", "a", true),
            ("a*", "ab/c", false),
            ("a*/b", "abc/b", true),
            ("a*b*c*d*e*/f", "axbxcxdxe/f", true),
            ("ab[c]", "abc", true),
            ("ab[b-d]", "abc", true),
            ("ab[e-g]", "abc", false),
            ("ab[^c]", "abc", false),
            ("ab[^b-d]", "abe", true),
            ("a\\*b", "a*b", true),
            ("a\\*b", "ab", false),
            ("a?b", "a☺b", true),
            ("a?b", "a/b", false),
            ("a[^a]b", "a☺b", true),
            ("[\\]a]", "]", true),
            ("[x\\-]", "-", true),
            ("*x", "xxx", true),
        ];
        for (p, n, want) in rows {
            assert_eq!(matches(p, n), Ok(want), "{p} vs {n}");
        }
    }

    #[test]
    fn malformed_patterns_are_errors() {
        for p in ["[", "[^", "[a-", "a[", "[-]", "\\", "[x-]", "[]a]"] {
            assert!(matches(p, "a").is_err(), "{p:?} accepted");
        }
    }
}
