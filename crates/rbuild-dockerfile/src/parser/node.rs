//! One instruction line turned into an AST node.

use super::args::{self, Json};
use super::flags;
use super::heredoc::RawHeredoc;
use crate::error::{Location, SyntaxError};

/// Deepest `ONBUILD ONBUILD ...` nesting accepted (the typed layer refuses any nesting anyway).
const MAX_NESTING: usize = 8;

/// One instruction of the AST.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Node {
    /// The instruction keyword, lower-cased (`run`, `copy`, or an unknown word).
    pub keyword: String,
    /// Leading `--flag` words, quotes and escapes removed.
    pub flags: Vec<String>,
    /// Argument items, as BuildKit's parser produces them for this keyword.
    pub args: Vec<String>,
    /// ONBUILD only: the nested trigger instruction.
    pub child: Option<Box<Node>>,
    /// Whether the arguments were written in JSON (exec) form.
    pub json: bool,
    /// Heredocs attached to this instruction, in order.
    pub heredocs: Vec<RawHeredoc>,
    /// The logical line as written (continuations joined), trimmed.
    pub original: String,
    /// First physical line.
    pub start_line: usize,
    /// Last physical line (continuations and heredoc terminators included).
    pub end_line: usize,
}

impl Node {
    /// The node's line range.
    pub fn location(&self) -> Location {
        Location::new(self.start_line, self.end_line)
    }

    /// RUN/COPY/ADD (possibly under ONBUILD) in shell form can carry heredocs.
    pub(crate) fn can_contain_heredoc(&self) -> bool {
        let node = match (&self.keyword[..], &self.child) {
            ("onbuild", Some(child)) => child,
            _ => self,
        };
        matches!(node.keyword.as_str(), "run" | "copy" | "add") && !node.json
    }
}

fn is_split_ws(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\x0b' | '\x0c' | '\r')
}

/// Go's `strings.ToLower`: simple per-character mapping, no context rules.
fn lower(s: &str) -> String {
    s.chars()
        .map(|c| {
            let mut l = c.to_lowercase();
            match (l.next(), l.next()) {
                (Some(one), None) => one,
                _ => c,
            }
        })
        .collect()
}

/// Builds a node from a logical line; errors are plain messages (the caller adds the location).
pub(crate) fn from_line(line: &str, esc: char, depth: usize) -> Result<Node, SyntaxError> {
    let line = line.trim();
    let (cmd, rest) = match line.find(is_split_ws) {
        Some(i) => (&line[..i], Some(line[i..].trim_start_matches(is_split_ws))),
        None => (line, None),
    };
    let (flags, rest) = match rest {
        Some(r) => flags::extract(r, esc),
        None => (Vec::new(), ""),
    };
    let rest = rest.trim();
    let mut node = Node {
        keyword: lower(cmd),
        flags,
        original: line.to_string(),
        ..Node::default()
    };
    fill_args(&mut node, rest, esc, depth)?;
    Ok(node)
}

fn fill_args(node: &mut Node, rest: &str, esc: char, depth: usize) -> Result<(), SyntaxError> {
    match node.keyword.as_str() {
        "from" | "expose" => node.args = args::split_ws(rest),
        "add" | "copy" | "volume" => match args::parse_json(rest) {
            Json::Array(a) => (node.args, node.json) = (a, true),
            Json::NotStrings => return Err(SyntaxError::NotStringArray),
            Json::Fallback => node.args = args::split_ws(rest),
        },
        "run" | "cmd" | "entrypoint" | "shell" => maybe_json(node, rest)?,
        "arg" => node.args = args::parse_words(rest, esc),
        "env" => node.args = args::parse_name_val(rest, "ENV", esc)?,
        "label" => node.args = args::parse_name_val(rest, "LABEL", esc)?,
        "healthcheck" => healthcheck(node, rest)?,
        "maintainer" | "stopsignal" | "user" | "workdir" => {
            if !rest.is_empty() {
                node.args = vec![rest.to_string()];
            }
        }
        "onbuild" => {
            if depth >= MAX_NESTING {
                return Err(SyntaxError::NestedOnbuild);
            }
            if !rest.is_empty() {
                node.child = Some(Box::new(from_line(rest, esc, depth + 1)?));
            }
        }
        _ => node.args = vec![String::new()],
    }
    Ok(())
}

/// JSON array when valid, else one verbatim string; a non-string JSON array is an error.
fn maybe_json(node: &mut Node, rest: &str) -> Result<(), SyntaxError> {
    if rest.is_empty() {
        return Ok(());
    }
    match args::parse_json(rest) {
        Json::Array(a) => {
            node.args.extend(a);
            node.json = true;
        }
        Json::NotStrings => return Err(SyntaxError::NotStringArray),
        Json::Fallback => node.args.push(rest.to_string()),
    }
    Ok(())
}

/// `HEALTHCHECK TYPE rest`: the type word, then the rest read like CMD.
fn healthcheck(node: &mut Node, rest: &str) -> Result<(), SyntaxError> {
    let sep = rest.find(char::is_whitespace).unwrap_or(rest.len());
    if sep == 0 {
        return Ok(());
    }
    node.args.push(rest[..sep].to_string());
    maybe_json(node, rest[sep..].trim_start())
}
