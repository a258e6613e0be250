//! Shell-word expansion as BuildKit's shell lexer does it: quotes, escapes and `$var` operators.

mod expand;
mod ops;
mod pattern;
mod scanner;
mod words;

use std::collections::{BTreeMap, BTreeSet, HashMap};

use crate::error::ExpandError;
pub use expand::expand_command;
use scanner::Scanner;

/// A source of variable values for expansion.
pub trait Env {
    /// The value of `name`, or `None` when it is not set.
    fn get(&self, name: &str) -> Option<String>;
}

impl Env for BTreeMap<String, String> {
    fn get(&self, name: &str) -> Option<String> {
        BTreeMap::get(self, name).cloned()
    }
}

impl<S: std::hash::BuildHasher> Env for HashMap<String, String, S> {
    fn get(&self, name: &str) -> Option<String> {
        HashMap::get(self, name).cloned()
    }
}

/// In a list of pairs the last entry for a name wins, as in an image's `Env` list.
impl Env for &[(String, String)] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .rev()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.clone())
    }
}

impl Env for Vec<(String, String)> {
    fn get(&self, name: &str) -> Option<String> {
        Env::get(&self.as_slice(), name)
    }
}

/// An environment with no variables at all.
#[derive(Debug, Clone, Copy, Default)]
pub struct EmptyEnv;

impl Env for EmptyEnv {
    fn get(&self, _name: &str) -> Option<String> {
        None
    }
}

/// The shell-word lexer; the escape character comes from the `# escape=` directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lexer {
    pub(crate) escape: char,
    /// Keep quote characters in the output (used to detect quoted heredoc delimiters).
    pub(crate) raw_quotes: bool,
    /// Keep escape characters in the output (used to split lines into raw words).
    pub(crate) raw_escapes: bool,
    /// Leave references to unset variables as written instead of expanding them to "".
    pub(crate) skip_unset: bool,
    /// Treat `'` and `"` as ordinary characters (heredoc bodies are not shell-quoted text).
    pub(crate) skip_quotes: bool,
}

/// The full result of one expansion.
pub(crate) struct Processed {
    pub text: String,
    pub words: Vec<String>,
    pub matches: BTreeSet<String>,
}

impl Lexer {
    /// A lexer using `escape` (`\` or `` ` ``) as its escape character.
    pub fn new(escape: char) -> Self {
        Lexer {
            escape,
            raw_quotes: false,
            raw_escapes: false,
            skip_unset: false,
            skip_quotes: false,
        }
    }

    /// One word: quotes removed, escapes processed, variables substituted.
    pub fn expand_word(&self, word: &str, env: &dyn Env) -> Result<String, ExpandError> {
        self.process(word, env).map(|p| p.text)
    }

    /// Like `expand_word` but also returns the names of the variables it found set
    /// (BuildKit's "matches": used for unused build-arg warnings and cache keys).
    pub fn expand_word_with_matches(
        &self,
        word: &str,
        env: &dyn Env,
    ) -> Result<(String, BTreeSet<String>), ExpandError> {
        self.process(word, env).map(|p| (p.text, p.matches))
    }

    /// Expand and split into words on unquoted whitespace (also inside variable values).
    pub fn expand_words(&self, word: &str, env: &dyn Env) -> Result<Vec<String>, ExpandError> {
        self.process(word, env).map(|p| p.words)
    }

    /// Expands the body of a COPY/ADD heredoc whose delimiter is unquoted, as BuildKit does
    /// (`ExpandRaw`: a lexer on `\` that skips quote processing). Quotes are ordinary
    /// characters, so `'${A}'` expands; escapes are processed, so `\$A` gives `$A` and `\\`
    /// gives `\`. The escape is `\` whatever `# escape=` says. `self`'s settings are unused.
    pub fn expand_heredoc(&self, body: &str, env: &dyn Env) -> Result<String, ExpandError> {
        let heredoc = Lexer {
            skip_quotes: true,
            ..Lexer::new('\\')
        };
        heredoc.process(body, env).map(|p| p.text)
    }

    pub(crate) fn process(&self, word: &str, env: &dyn Env) -> Result<Processed, ExpandError> {
        let mut sc = Scanner::new(self, word, env);
        match sc.process_top() {
            Ok((text, words)) => Ok(Processed {
                text,
                words,
                matches: sc.into_matches(),
            }),
            Err(kind) => Err(ExpandError {
                word: word.to_string(),
                kind,
            }),
        }
    }
}

impl Default for Lexer {
    fn default() -> Self {
        Lexer::new('\\')
    }
}

#[cfg(test)]
mod tests;
