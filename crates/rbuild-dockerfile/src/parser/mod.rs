//! Text to AST, exactly as BuildKit's parser reads a Dockerfile.

mod args;
mod directives;
mod flags;
pub(crate) mod heredoc;
mod lines;
mod node;

pub use directives::Directives;
pub use heredoc::{parse_heredoc_word, RawHeredoc};
pub use node::Node;

use crate::error::{Error, Location, SyntaxError, Warning};
use directives::DirectiveScanner;

/// A parsed Dockerfile: directives and one node per instruction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ast {
    /// Parser directives from the top of the file.
    pub directives: Directives,
    /// Instructions in source order.
    pub nodes: Vec<Node>,
    /// Non-fatal findings (empty continuation lines, external `syntax=` frontends).
    pub warnings: Vec<Warning>,
    /// First line of the first instruction.
    pub start_line: usize,
    /// Last line of the last instruction.
    pub end_line: usize,
}

/// Parses Dockerfile text into an AST.
pub fn parse(text: &str) -> Result<Ast, Error> {
    parse_with(text, '\\', true)
}

/// Parses with a given initial escape; `directives` false for ONBUILD trigger text.
pub(crate) fn parse_with(text: &str, escape: char, directives: bool) -> Result<Ast, Error> {
    let lines = lines::split(text)?;
    let mut reader = Reader {
        lines,
        next: 0,
        dirs: DirectiveScanner::new(escape, !directives),
        warnings: Vec::new(),
    };
    let mut nodes = Vec::new();
    while let Some(node) = reader.instruction()? {
        nodes.push(node);
    }
    let (Some(first), Some(last)) = (nodes.first(), nodes.last()) else {
        return Err(Error::new(SyntaxError::NoInstructions));
    };
    Ok(Ast {
        start_line: first.start_line,
        end_line: last.end_line,
        directives: reader.dirs.directives.clone(),
        nodes,
        warnings: reader.warnings,
    })
}

struct Reader<'a> {
    lines: Vec<&'a str>,
    next: usize,
    dirs: DirectiveScanner,
    warnings: Vec<Warning>,
}

impl<'a> Reader<'a> {
    /// Next physical line and its 1-based number.
    fn line(&mut self) -> Option<(&'a str, usize)> {
        let l = *self.lines.get(self.next)?;
        self.next += 1;
        Some((l, self.next))
    }

    /// Reads the next instruction, with its heredoc bodies; `None` at end of input.
    fn instruction(&mut self) -> Result<Option<Node>, Error> {
        while let Some((raw, no)) = self.line() {
            let first = lines::trim_newline(raw).trim_start();
            self.dirs.feed(first, no, &mut self.warnings)?;
            if lines::is_comment(first) {
                continue;
            }
            let esc = self.dirs.directives.escape;
            let (text, mut done) = lines::trim_continuation(first, esc);
            if done && text.is_empty() {
                continue;
            }
            let mut logical = text.to_string();
            let mut end = no;
            while !done {
                let Some((raw, n)) = self.line() else { break };
                end = n;
                let t = lines::trim_newline(raw);
                if lines::is_comment(t) {
                    continue;
                }
                if t.trim_start().is_empty() {
                    self.warnings.push(Warning {
                        line: n,
                        message:
                            "empty continuation line (these will become errors in a future release)"
                                .into(),
                    });
                    continue;
                }
                let (piece, d) = lines::trim_continuation(t, esc);
                logical.push_str(piece);
                done = d;
            }
            let loc = Location::new(no, end);
            let mut node = node::from_line(&logical, esc, 0).map_err(|m| Error::at(m, loc))?;
            node.start_line = no;
            node.end_line = end;
            if let Some(child) = node.child.as_mut() {
                (child.start_line, child.end_line) = (no, end);
            }
            if node.can_contain_heredoc() && logical.contains("<<") {
                self.read_heredocs(&mut node, &logical)?;
            }
            return Ok(Some(node));
        }
        Ok(None)
    }

    fn read_heredocs(&mut self, node: &mut Node, logical: &str) -> Result<(), Error> {
        for mut doc in heredoc::from_line(logical) {
            let mut terminated = false;
            while let Some((raw, n)) = self.line() {
                node.end_line = n;
                let mut candidate = lines::trim_newline(raw);
                if doc.chomp {
                    candidate = candidate.trim_start_matches('\t');
                }
                if candidate == doc.name {
                    terminated = true;
                    break;
                }
                // Body lines keep their original ending (a CR of CRLF included); a body line
                // always has a newline since the terminator line follows it.
                doc.content.push_str(raw);
                doc.content.push('\n');
            }
            if !terminated {
                return Err(Error::at(SyntaxError::UnterminatedHeredoc, node.location()));
            }
            node.heredocs.push(doc);
        }
        Ok(())
    }
}
