//! `.dockerignore`: reading the file and deciding whether a context path is excluded, with
//! the semantics of Docker's and BuildKit's pattern matcher:
//!
//! * lines starting with `#` are comments; blank lines are skipped; each line is trimmed,
//!   cleaned like Go's `filepath.Clean` and a leading `/` dropped (`./a` and `/a` mean `a`);
//! * `!` makes an exception; the last pattern that matches decides;
//! * a pattern matches a path or any of its parent directories, so excluding a directory
//!   excludes its subtree unless a later exception brings parts of it back;
//! * `*`, `?`, `[...]` and `\` as Go's `filepath.Match` (never across `/`), plus `**`, which
//!   matches any number of directories (`**/` may match none);
//! * Docker's shortcuts are kept as they behave: a pattern without metacharacters compares
//!   the whole path, `prefix**` is a string prefix test and `**suffix` a string suffix test
//!   (so `**foo` matches `xfoo`, while `**/foo` needs the `/` or the whole path `foo`).
//!
//! One departure: Docker turns patterns into Go regexps without escaping `^`, so a `^` outside
//! a class is an anchor there and such a pattern never matches; here it is a literal.

use super::pattern::{self, class_end, class_matches, BadPattern};

/// Why a set of patterns is unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IgnoreError {
    /// A malformed pattern (e.g. an unterminated `[` class).
    #[error("invalid .dockerignore pattern {0:?}: syntax error in pattern")]
    Syntax(String),
    /// A lone `!`.
    #[error("illegal exclusion pattern: \"!\"")]
    LoneBang,
}

/// Reads `.dockerignore` text into cleaned patterns (exceptions keep their `!`).
pub fn parse_ignore_file(text: &str) -> Vec<String> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with('#') {
            continue;
        }
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let (invert, rest) = match line.strip_prefix('!') {
            Some(r) => (true, r.trim()),
            None => (false, line),
        };
        let mut p = String::new();
        if !rest.is_empty() {
            p = go_clean(rest);
            if p.len() > 1 && p.starts_with('/') {
                p.remove(0);
            }
        }
        out.push(if invert { format!("!{p}") } else { p });
    }
    out
}

/// Go's `filepath.Clean` for `/`-separated paths.
pub fn go_clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut out: Vec<&str> = Vec::new();
    for c in path.split('/') {
        match c {
            "" | "." => {}
            ".." => match out.last() {
                Some(&l) if l != ".." => {
                    out.pop();
                }
                _ if rooted => {}
                _ => out.push(".."),
            },
            c => out.push(c),
        }
    }
    let body = out.join("/");
    match (rooted, body.is_empty()) {
        (true, _) => format!("/{body}"),
        (false, true) => ".".to_string(),
        (false, false) => body,
    }
}

/// One compiled element of a pattern.
#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Lit(char),
    /// `*`: any run of non-`/` characters.
    Star,
    /// `?`: one non-`/` character.
    Quest,
    /// `[...]`: the class body between the brackets.
    Class(Vec<char>),
    /// `**` or `**/` not at the end: empty, or anything ending with `/`.
    DirStar,
    /// `**` at the end of a pattern that had other wildcards: anything.
    Rest,
}

/// How a pattern is tested, as Docker's matcher chooses.
#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Exact,
    Prefix(String),
    Suffix(String),
    Wild(Vec<Tok>),
}

#[derive(Debug, Clone)]
struct Rule {
    text: String,
    exception: bool,
    kind: Kind,
}

/// A compiled `.dockerignore`.
#[derive(Debug, Clone, Default)]
pub struct Matcher {
    rules: Vec<Rule>,
}

impl Matcher {
    /// Compiles patterns as read by [`parse_ignore_file`] (or given on a command line).
    pub fn new<S: AsRef<str>>(patterns: &[S]) -> Result<Matcher, IgnoreError> {
        let mut rules = Vec::new();
        for p in patterns {
            let p = p.as_ref().trim();
            if p.is_empty() {
                continue;
            }
            let p = go_clean(p);
            let (exception, body) = match p.strip_prefix('!') {
                Some("") => return Err(IgnoreError::LoneBang),
                Some(b) => (true, b.to_string()),
                None => (false, p.clone()),
            };
            pattern::matches(&body, ".").map_err(|BadPattern(_)| IgnoreError::Syntax(p.clone()))?;
            if pattern::has_reversed_range(&body) {
                return Err(IgnoreError::Syntax(p.clone()));
            }
            let kind = compile(&body);
            rules.push(Rule {
                text: body,
                exception,
                kind,
            });
        }
        Ok(Matcher { rules })
    }

    /// Whether no pattern was given.
    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    /// Whether `path` (relative to the context, `/`-separated) is excluded.
    pub fn excluded(&self, path: &str) -> bool {
        let path = go_clean(path.trim_start_matches('/'));
        let parents: Vec<&str> = match path.rfind('/') {
            Some(i) => path[..i].split('/').collect(),
            None => Vec::new(),
        };
        let mut matched = false;
        for rule in &self.rules {
            // Only a rule that can change the answer is tried.
            if rule.exception != matched {
                continue;
            }
            let hit = rule.matches(&path)
                || (1..=parents.len()).any(|n| rule.matches(&parents[..n].join("/")));
            if hit {
                matched = !rule.exception;
            }
        }
        matched
    }

    /// Whether an excluded directory must still be walked because an exception may bring
    /// back something beneath it.
    pub fn may_include_under(&self, dir: &str) -> bool {
        let dir_slash = format!("{}/", go_clean(dir.trim_start_matches('/')));
        self.rules.iter().filter(|r| r.exception).any(|r| {
            let literal: String = r
                .text
                .chars()
                .take_while(|c| !matches!(c, '*' | '?' | '[' | '\\'))
                .collect();
            let full = format!("{}/", r.text);
            if literal.len() == r.text.len() {
                full.starts_with(&dir_slash)
            } else {
                literal.starts_with(&dir_slash) || dir_slash.starts_with(&literal)
            }
        })
    }
}

impl Rule {
    fn matches(&self, path: &str) -> bool {
        match &self.kind {
            Kind::Exact => path == self.text,
            Kind::Prefix(p) => path.starts_with(p.as_str()),
            // `**/foo` also matches `foo` itself.
            Kind::Suffix(s) => path.ends_with(s.as_str()) || s.strip_prefix('/') == Some(path),
            Kind::Wild(toks) => {
                let p: Vec<char> = path.chars().collect();
                match_toks(toks, &p)
            }
        }
    }
}

/// Docker's match types, in the order its compiler switches between them.
#[derive(Clone, Copy, PartialEq)]
enum Mt {
    Exact,
    Prefix,
    Suffix,
    Wild,
}

/// Compiles a cleaned pattern (no `!`) the way Docker's matcher does.
fn compile(pattern: &str) -> Kind {
    let p: Vec<char> = pattern.chars().collect();
    let mut toks = Vec::new();
    let mut mt = Mt::Exact;
    let mut i = 0;
    while i < p.len() {
        let start = i;
        i += 1;
        match p[start] {
            '*' if p.get(i) == Some(&'*') => {
                i += 1;
                if p.get(i) == Some(&'/') {
                    i += 1;
                }
                if i < p.len() {
                    toks.push(Tok::DirStar);
                    mt = Mt::Wild;
                } else if mt == Mt::Exact {
                    mt = Mt::Prefix;
                } else {
                    toks.push(Tok::Rest);
                    mt = Mt::Wild;
                }
                if start == 0 {
                    mt = Mt::Suffix;
                }
            }
            '*' | '?' => {
                toks.push(if p[start] == '*' {
                    Tok::Star
                } else {
                    Tok::Quest
                });
                mt = Mt::Wild;
            }
            '[' => {
                let end = class_end(&p, i).unwrap_or(p.len()).max(i);
                toks.push(Tok::Class(p[i..end.saturating_sub(1).max(i)].to_vec()));
                mt = Mt::Wild;
                i = end;
            }
            '\\' if i < p.len() => {
                toks.push(Tok::Lit(p[i]));
                mt = Mt::Wild;
                i += 1;
            }
            ']' => {
                toks.push(Tok::Lit(']'));
                mt = Mt::Wild;
            }
            c => toks.push(Tok::Lit(c)),
        }
    }
    match mt {
        Mt::Wild => Kind::Wild(toks),
        Mt::Suffix => Kind::Suffix(pattern[2..].to_string()),
        Mt::Prefix => Kind::Prefix(pattern[..pattern.len() - 2].to_string()),
        Mt::Exact => Kind::Exact,
    }
}

/// Anchored match of the whole token list against the whole path.
fn match_toks(toks: &[Tok], n: &[char]) -> bool {
    // Memoised on (token, position): plain backtracking is exponential in the number of
    // stars (the fuzzer's 17 `*` in a row took 496 s on one path; a hostile context could
    // stall a build with it), this is O(tokens x length x length) at worst.
    // With at most one star nothing backtracks more than once: no table then (the no-op
    // rebuild matches every path of the context).
    let stars = toks
        .iter()
        .filter(|t| matches!(t, Tok::Star | Tok::DirStar))
        .count();
    let mut memo = if stars > 1 {
        vec![None; (toks.len() + 1) * (n.len() + 1)]
    } else {
        Vec::new()
    };
    TokMatch {
        toks,
        n,
        memo: &mut memo,
    }
    .at(0, 0)
}

struct TokMatch<'a> {
    toks: &'a [Tok],
    n: &'a [char],
    memo: &'a mut [Option<bool>],
}

impl TokMatch<'_> {
    fn at(&mut self, t: usize, i: usize) -> bool {
        let slot = t * (self.n.len() + 1) + i;
        if let Some(Some(known)) = self.memo.get(slot) {
            return *known;
        }
        let got = self.step(t, i);
        if let Some(cell) = self.memo.get_mut(slot) {
            *cell = Some(got);
        }
        got
    }

    fn step(&mut self, t: usize, i: usize) -> bool {
        let (n, rest) = (self.n, &self.n[i..]);
        match self.toks.get(t) {
            None => rest.is_empty(),
            Some(Tok::Lit(c)) => rest.first() == Some(c) && self.at(t + 1, i + 1),
            Some(Tok::Quest) => rest.first().is_some_and(|&c| c != '/') && self.at(t + 1, i + 1),
            Some(Tok::Class(body)) => {
                rest.first()
                    .is_some_and(|&c| c != '/' && class_matches(body, c))
                    && self.at(t + 1, i + 1)
            }
            Some(Tok::Star) => (i..=n.len())
                .take_while(|&k| k == i || n[k - 1] != '/')
                .any(|k| self.at(t + 1, k)),
            Some(Tok::DirStar) => {
                self.at(t + 1, i) || (i + 1..=n.len()).any(|k| n[k - 1] == '/' && self.at(t + 1, k))
            }
            Some(Tok::Rest) => true,
        }
    }
}

#[cfg(test)]
#[path = "ignore_tests.rs"]
mod tests;
