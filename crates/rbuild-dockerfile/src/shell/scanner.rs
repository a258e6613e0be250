//! The character-level expander: quotes, escapes and `$` substitutions.

use std::collections::BTreeSet;

use super::words::Words;
use super::{Env, Lexer};
use crate::error::ExpandErrorKind;

/// Nesting limit for `${a:-${b:-...}}`: Go grows its stack, we must not overflow ours.
const MAX_DEPTH: usize = 64;

/// Most bytes that substitutions may produce for one word: `ENV A=$A$A` repeated doubles a
/// value each line, and 40 such lines would need terabytes.
pub(super) const MAX_EXPANSION: usize = 1 << 20;

pub(crate) struct Scanner<'a> {
    chars: Vec<char>,
    pos: usize,
    env: &'a dyn Env,
    pub(super) escape: char,
    raw_quotes: bool,
    raw_escapes: bool,
    pub(super) skip_unset: bool,
    skip_quotes: bool,
    depth: usize,
    matches: BTreeSet<String>,
    /// Bytes produced by substitutions so far (bounded by [`MAX_EXPANSION`]).
    produced: usize,
}

pub(super) type Res<T> = Result<T, ExpandErrorKind>;

impl<'a> Scanner<'a> {
    pub fn new(lexer: &Lexer, word: &str, env: &'a dyn Env) -> Self {
        Scanner {
            chars: word.chars().collect(),
            pos: 0,
            env,
            escape: lexer.escape,
            raw_quotes: lexer.raw_quotes,
            raw_escapes: lexer.raw_escapes,
            skip_unset: lexer.skip_unset,
            skip_quotes: lexer.skip_quotes,
            depth: 0,
            matches: BTreeSet::new(),
            produced: 0,
        }
    }

    pub fn into_matches(self) -> BTreeSet<String> {
        self.matches
    }

    pub(super) fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    pub(super) fn next(&mut self) -> Option<char> {
        let c = self.peek();
        if c.is_some() {
            self.pos += 1;
        }
        c
    }

    pub(super) fn get_env(&mut self, name: &str) -> Option<String> {
        let v = self.env.get(name);
        if v.is_some() {
            self.matches.insert(name.to_string());
        }
        v
    }

    pub fn process_top(&mut self) -> Res<(String, Vec<String>)> {
        self.process_stop_on(None, self.raw_escapes)
    }

    pub(super) fn process_stop_on(
        &mut self,
        stop: Option<char>,
        raw_escapes: bool,
    ) -> Res<(String, Vec<String>)> {
        let saved = self.raw_escapes;
        self.raw_escapes = raw_escapes;
        let r = self.process_until(stop);
        self.raw_escapes = saved;
        r
    }

    fn process_until(&mut self, stop: Option<char>) -> Res<(String, Vec<String>)> {
        let mut result = String::new();
        let mut words = Words::default();
        while let Some(ch) = self.peek() {
            if Some(ch) == stop {
                self.next();
                return Ok((result, words.finish()));
            }
            match ch {
                '\'' | '"' if !self.skip_quotes => {
                    let s = if ch == '\'' {
                        self.single_quote()?
                    } else {
                        self.double_quote()?
                    };
                    result.push_str(&s);
                    words.add_raw_string(&s);
                }
                '$' => {
                    let s = self.dollar()?;
                    result.push_str(&s);
                    words.add_string(&s);
                }
                _ => {
                    self.next();
                    if ch != self.escape {
                        words.add_char(ch);
                        result.push(ch);
                        continue;
                    }
                    if self.raw_escapes {
                        words.add_raw_char(ch);
                        result.push(ch);
                    }
                    // An escape at the very end is dropped.
                    let Some(escaped) = self.next() else { break };
                    words.add_raw_char(escaped);
                    result.push(escaped);
                }
            }
        }
        match stop {
            Some(stop) => Err(ExpandErrorKind::Unterminated { stop }),
            None => Ok((result, words.finish())),
        }
    }

    fn single_quote(&mut self) -> Res<String> {
        let mut result = String::new();
        let open = self.next();
        if self.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.next() {
                None => return Err(ExpandErrorKind::UnterminatedSingleQuote),
                Some('\'') => {
                    if self.raw_quotes {
                        result.push('\'');
                    }
                    return Ok(result);
                }
                Some(c) => result.push(c),
            }
        }
    }

    fn double_quote(&mut self) -> Res<String> {
        let mut result = String::new();
        let open = self.next();
        if self.raw_quotes {
            result.extend(open);
        }
        loop {
            match self.peek() {
                None => return Err(ExpandErrorKind::UnterminatedDoubleQuote),
                Some('"') => {
                    self.next();
                    if self.raw_quotes {
                        result.push('"');
                    }
                    return Ok(result);
                }
                Some('$') => result.push_str(&self.dollar()?),
                Some(ch) => {
                    self.next();
                    if ch != self.escape {
                        result.push(ch);
                        continue;
                    }
                    match self.peek() {
                        // An escape right before the end is dropped (the missing quote is reported next).
                        None => continue,
                        Some(c) if c == '"' || c == '$' || c == self.escape => {
                            self.next();
                            if self.raw_escapes {
                                result.push(ch);
                            }
                            result.push(c);
                        }
                        // Inside double quotes other escapes stay literal, as in sh.
                        Some(_) => result.push(ch),
                    }
                }
            }
        }
    }

    /// Reads a variable name: letters, digits and `_`; or all digits; or one special parameter.
    fn name(&mut self) -> String {
        let mut name = String::new();
        while let Some(ch) = self.peek() {
            if name.is_empty() && ch.is_ascii_digit() {
                while let Some(d) = self.peek().filter(char::is_ascii_digit) {
                    self.next();
                    name.push(d);
                }
                return name;
            }
            if name.is_empty() && matches!(ch, '@' | '*' | '#' | '?' | '-' | '$' | '!' | '0') {
                self.next();
                return ch.to_string();
            }
            if !ch.is_alphanumeric() && ch != '_' {
                break;
            }
            self.next();
            name.push(ch);
        }
        name
    }

    fn dollar(&mut self) -> Res<String> {
        let s = self.dollar_unbounded()?;
        self.produced = self.produced.saturating_add(s.len());
        if self.produced > MAX_EXPANSION {
            return Err(ExpandErrorKind::TooLarge {
                mib: MAX_EXPANSION >> 20,
            });
        }
        Ok(s)
    }

    fn dollar_unbounded(&mut self) -> Res<String> {
        self.next();
        if self.peek() != Some('{') {
            let name = self.name();
            if name.is_empty() {
                return Ok("$".into());
            }
            return Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.skip_unset => format!("${name}"),
                None => String::new(),
            });
        }
        self.next();
        match self.peek() {
            None => return Err(ExpandErrorKind::MissingBrace),
            Some('{' | '}' | ':') => return Err(ExpandErrorKind::BadSubstitution),
            Some(_) => {}
        }
        if self.depth >= MAX_DEPTH {
            return Err(ExpandErrorKind::TooDeep);
        }
        self.depth += 1;
        let r = self.braced();
        self.depth -= 1;
        r
    }

    fn braced(&mut self) -> Res<String> {
        let name = self.name();
        match self.next() {
            None => Err(ExpandErrorKind::MissingBrace),
            Some('}') => Ok(match self.get_env(&name) {
                Some(v) => v,
                None if self.skip_unset => format!("${{{name}}}"),
                None => String::new(),
            }),
            Some(op @ (':' | '+' | '-' | '?' | '#' | '%')) => self.modifier(name, op),
            Some('/') => self.replace(name),
            Some(c) => Err(ExpandErrorKind::UnsupportedModifier {
                modifier: c.to_string(),
            }),
        }
    }
}
