//! The `${name<op>word}` operators: defaults, alternatives, errors, trimming, replacement.

use super::pattern::{self, Pattern};
use super::scanner::{Res, Scanner};
use crate::error::ExpandErrorKind;

impl Scanner<'_> {
    /// Processes text up to `stop`, turning "ran out of input" into `at_eof`.
    fn operand(&mut self, stop: char, raw: bool, at_eof: ExpandErrorKind) -> Res<String> {
        match self.process_stop_on(Some(stop), raw) {
            Ok((s, _)) => Ok(s),
            Err(_) if self.peek().is_none() => Err(at_eof),
            Err(e) => Err(e),
        }
    }

    pub(super) fn modifier(&mut self, name: String, first: char) -> Res<String> {
        let mut op = first;
        let mut ops = first.to_string();
        let null_is_unset = first == ':';
        if null_is_unset {
            op = self.next().ok_or(ExpandErrorKind::MissingBrace)?;
            ops.push(op);
        }
        let raw = op == '#' || op == '%';
        if null_is_unset && raw {
            return Err(ExpandErrorKind::UnsupportedModifier { modifier: ops });
        }
        let word = self.operand('}', raw, ExpandErrorKind::MissingBrace)?;
        let value = self.get_env(&name);
        if self.skip_unset && value.is_none() {
            return Ok(format!("${{{name}{ops}{word}}}"));
        }
        let empty = value
            .as_deref()
            .is_none_or(|v| null_is_unset && v.is_empty());
        match op {
            '-' => Ok(if empty {
                word
            } else {
                value.unwrap_or_default()
            }),
            '+' => Ok(if empty { String::new() } else { word }),
            '?' => {
                let message = (!word.is_empty()).then_some(word);
                match value {
                    Some(v) if !empty => Ok(v),
                    Some(_) => Err(ExpandErrorKind::Empty { name, message }),
                    None => Err(ExpandErrorKind::Unset { name, message }),
                }
            }
            '#' | '%' => {
                let (greedy, pat) = match word.strip_prefix(op) {
                    Some(rest) => (true, rest),
                    None => (false, word.as_str()),
                };
                let pat = Pattern::parse(pat, self.escape);
                let value = value.unwrap_or_default();
                Ok(if op == '#' {
                    pattern::trim_prefix(&pat, &value, greedy)
                } else {
                    pattern::trim_suffix(&pat, &value, greedy)
                })
            }
            _ => Err(ExpandErrorKind::UnsupportedModifier { modifier: ops }),
        }
    }

    pub(super) fn replace(&mut self, name: String) -> Res<String> {
        let all = self.peek() == Some('/');
        if all {
            self.next();
        }
        let pat_src = self.operand('/', true, ExpandErrorKind::MissingSlash)?;
        let repl = self.operand('}', true, ExpandErrorKind::MissingBrace)?;
        let value = self.get_env(&name);
        if self.skip_unset && value.is_none() {
            return Ok(format!("${{{name}/{pat_src}/{repl}}}"));
        }
        let pat = Pattern::parse(&pat_src, self.escape);
        let repl = pattern::unescape(&repl, self.escape);
        Ok(pattern::replace(
            &pat,
            &value.unwrap_or_default(),
            &repl,
            all,
        ))
    }
}
