//! Shell glob patterns for `${v#p}`, `${v%p}` and `${v/p/r}`: `*`, `?`, `[...]` and escapes.

#[derive(Debug, Clone, PartialEq, Eq)]
enum Tok {
    Star,
    One,
    Lit(char),
    Class {
        negated: bool,
        ranges: Vec<(char, char)>,
    },
}

impl Tok {
    fn matches(&self, c: char) -> bool {
        match self {
            Tok::Star | Tok::One => true,
            Tok::Lit(l) => *l == c,
            Tok::Class { negated, ranges } => {
                ranges.iter().any(|&(a, b)| a <= c && c <= b) != *negated
            }
        }
    }
}

/// A compiled glob pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Pattern {
    toks: Vec<Tok>,
}

impl Pattern {
    /// Compiles `src`; `esc` + char is that char literally, and a `[` without a closing `]` is literal.
    pub fn parse(src: &str, esc: char) -> Pattern {
        let chars: Vec<char> = src.chars().collect();
        let mut toks = Vec::new();
        let mut i = 0;
        while i < chars.len() {
            let c = chars[i];
            i += 1;
            match c {
                '*' => toks.push(Tok::Star),
                '?' => toks.push(Tok::One),
                '[' => match parse_class(&chars, i, esc) {
                    Some((tok, next)) => {
                        toks.push(tok);
                        i = next;
                    }
                    None => toks.push(Tok::Lit('[')),
                },
                c if c == esc && i < chars.len() => {
                    toks.push(Tok::Lit(chars[i]));
                    i += 1;
                }
                c => toks.push(Tok::Lit(c)),
            }
        }
        Pattern { toks }
    }

    /// Whether the whole of `s` matches.
    pub fn matches(&self, s: &[char]) -> bool {
        let toks = &self.toks;
        let (mut p, mut i) = (0, 0);
        let mut star: Option<(usize, usize)> = None;
        while i < s.len() {
            if let Some(t) = toks.get(p) {
                if *t == Tok::Star {
                    star = Some((p, i));
                    p += 1;
                    continue;
                }
                if t.matches(s[i]) {
                    p += 1;
                    i += 1;
                    continue;
                }
            }
            match star {
                Some((sp, si)) => {
                    p = sp + 1;
                    i = si + 1;
                    star = Some((sp, si + 1));
                }
                None => return false,
            }
        }
        toks[p..].iter().all(|t| *t == Tok::Star)
    }

    /// Every `end` such that `s[from..end]` matches, ascending. One pass of an NFA
    /// simulation (O(len * pattern)), stopping as soon as no state is alive.
    fn match_ends(&self, s: &[char], from: usize) -> Vec<usize> {
        let n = self.toks.len();
        let mut cur = vec![false; n + 1];
        cur[0] = true;
        self.close(&mut cur);
        let mut ends = Vec::new();
        if cur[n] {
            ends.push(from);
        }
        for (k, &c) in s[from..].iter().enumerate() {
            let mut next = vec![false; n + 1];
            for (p, tok) in self.toks.iter().enumerate().filter(|(p, _)| cur[*p]) {
                match tok {
                    Tok::Star => next[p] = true,
                    t if t.matches(c) => next[p + 1] = true,
                    _ => {}
                }
            }
            self.close(&mut next);
            if !next.contains(&true) {
                break;
            }
            cur = next;
            if cur[n] {
                ends.push(from + k + 1);
            }
        }
        ends
    }

    /// A `*` may match nothing: its state also enables the next one.
    fn close(&self, set: &mut [bool]) {
        for (p, tok) in self.toks.iter().enumerate() {
            if set[p] && *tok == Tok::Star {
                set[p + 1] = true;
            }
        }
    }
}

/// Parses `[...]` starting after the `[`; returns the token and the index after `]`.
fn parse_class(chars: &[char], mut i: usize, esc: char) -> Option<(Tok, usize)> {
    let negated = matches!(chars.get(i), Some('!' | '^'));
    if negated {
        i += 1;
    }
    let mut ranges = Vec::new();
    let mut first = true;
    loop {
        let mut c = *chars.get(i)?;
        i += 1;
        if c == ']' && !first {
            return Some((Tok::Class { negated, ranges }, i));
        }
        first = false;
        if c == esc {
            c = *chars.get(i)?;
            i += 1;
        }
        let mut hi = c;
        if chars.get(i) == Some(&'-') && chars.get(i + 1).is_some_and(|&n| n != ']') {
            hi = chars[i + 1];
            i += 2;
            if hi == esc {
                hi = *chars.get(i)?;
                i += 1;
            }
        }
        ranges.push((c, hi));
    }
}

/// `${v#p}` (shortest) and `${v##p}` (greedy): removes a matching prefix.
pub(crate) fn trim_prefix(pat: &Pattern, value: &str, greedy: bool) -> String {
    let s: Vec<char> = value.chars().collect();
    let ends = pat.match_ends(&s, 0);
    let end = if greedy { ends.last() } else { ends.first() };
    match end.copied() {
        Some(e) => s[e..].iter().collect(),
        None => value.to_string(),
    }
}

/// `${v%p}` (shortest) and `${v%%p}` (greedy): removes a matching suffix.
pub(crate) fn trim_suffix(pat: &Pattern, value: &str, greedy: bool) -> String {
    let s: Vec<char> = value.chars().collect();
    let mut starts: Box<dyn Iterator<Item = usize>> = if greedy {
        Box::new(0..=s.len())
    } else {
        Box::new((0..=s.len()).rev())
    };
    match starts.find(|&b| pat.matches(&s[b..])) {
        Some(b) => s[..b].iter().collect(),
        None => value.to_string(),
    }
}

/// `${v/p/r}` and `${v//p/r}`: leftmost-longest matches replaced; like Go's regexp
/// ReplaceAll, an empty match right after a previous match is skipped.
pub(crate) fn replace(pat: &Pattern, value: &str, repl: &str, all: bool) -> String {
    let s: Vec<char> = value.chars().collect();
    let mut out = String::new();
    let mut copied = 0;
    let mut last_end: Option<usize> = None;
    let mut pos = 0;
    while pos <= s.len() {
        if let Some(len) = pat.match_ends(&s, pos).last().map(|e| e - pos) {
            if !(len == 0 && last_end == Some(pos)) {
                out.extend(&s[copied..pos]);
                out.push_str(repl);
                copied = pos + len;
                last_end = Some(pos + len);
                if !all {
                    break;
                }
                if len > 0 {
                    pos += len;
                    continue;
                }
            }
        }
        pos += 1;
    }
    out.extend(&s[copied.min(s.len())..]);
    out
}

/// Removes escape characters (the replacement of `${v/p/r}` is read with escapes kept raw).
pub(crate) fn unescape(s: &str, esc: char) -> String {
    let mut out = String::new();
    let mut it = s.chars();
    while let Some(c) = it.next() {
        if c == esc {
            out.extend(it.next());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn m(p: &str, s: &str) -> bool {
        Pattern::parse(p, '\\').matches(&s.chars().collect::<Vec<_>>())
    }

    #[test]
    fn globs() {
        assert!(m("a*c", "abbbc"));
        assert!(m("*", ""));
        assert!(!m("a?c", "ac"));
        assert!(m("[a-c]x", "bx"));
        assert!(!m("[!a-c]x", "bx"));
        assert!(m("[]]", "]"));
        assert!(m("[", "["));
        assert!(m("\\*", "*"));
        assert!(!m("\\*", "a"));
        assert!(m("*.tar.*", "x.tar.gz"));
    }

    #[test]
    fn long_values_stay_fast() {
        let v = "ab".repeat(5000);
        let p = Pattern::parse("*b", '\\');
        assert_eq!(replace(&p, &v, "", true), "");
        assert_eq!(trim_prefix(&p, &v, false), "ab".repeat(4999));
        assert_eq!(trim_suffix(&Pattern::parse("a*", '\\'), &v, true), "");
    }

    #[test]
    fn replace_all_empty_pattern_like_go() {
        let p = Pattern::parse("", '\\');
        assert_eq!(replace(&p, "abc", "X", true), "XaXbXcX");
        assert_eq!(replace(&p, "abc", "X", false), "Xabc");
    }
}
