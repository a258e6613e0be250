//! Parser directives (`# syntax=`, `# escape=`, `# check=`) at the top of the file.

use crate::error::{Error, Location, SyntaxError, Warning};

/// The parser directives found at the top of a Dockerfile.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directives {
    /// `# syntax=` value, as written.
    pub syntax: Option<String>,
    /// The line of the `# syntax=` directive.
    pub syntax_line: Option<usize>,
    /// The escape character: `\` (default) or `` ` ``.
    pub escape: char,
    /// `# check=` value, as written (e.g. `skip=JSONArgsRecommended;error=true`).
    pub check: Option<String>,
}

impl Default for Directives {
    fn default() -> Self {
        Directives {
            syntax: None,
            syntax_line: None,
            escape: '\\',
            check: None,
        }
    }
}

/// Scans lines until the first one that is not a directive.
pub(crate) struct DirectiveScanner {
    pub directives: Directives,
    done: bool,
    seen: Vec<String>,
}

impl DirectiveScanner {
    /// `done` starts true when directives are not allowed (ONBUILD triggers).
    pub fn new(escape: char, done: bool) -> Self {
        DirectiveScanner {
            directives: Directives {
                escape,
                ..Directives::default()
            },
            done,
            seen: Vec::new(),
        }
    }

    /// Feeds one physical line (newline and leading whitespace already removed).
    pub fn feed(
        &mut self,
        line: &str,
        line_no: usize,
        warnings: &mut Vec<Warning>,
    ) -> Result<(), Error> {
        if self.done {
            return Ok(());
        }
        let Some((name, value)) = match_directive(line) else {
            self.done = true;
            return Ok(());
        };
        let name = name.to_ascii_lowercase();
        if !matches!(name.as_str(), "syntax" | "escape" | "check") {
            self.done = true;
            return Ok(());
        }
        let loc = Location::new(line_no, line_no);
        if self.seen.contains(&name) {
            return Err(Error::at(SyntaxError::DuplicateDirective { name }, loc));
        }
        self.seen.push(name.clone());
        match name.as_str() {
            "escape" => {
                self.directives.escape = parse_escape(value).map_err(|m| Error::at(m, loc))?
            }
            "syntax" => {
                if !is_builtin_syntax(value) {
                    warnings.push(Warning {
                        line: line_no,
                        message: format!(
                            "syntax directive names an external frontend {value:?}; rbuild ignores it and uses its built-in Dockerfile frontend"
                        ),
                    });
                }
                self.directives.syntax = Some(value.to_string());
                self.directives.syntax_line = Some(line_no);
            }
            _ => self.directives.check = Some(value.to_string()),
        }
        Ok(())
    }
}

fn parse_escape(value: &str) -> Result<char, SyntaxError> {
    match value {
        "`" => Ok('`'),
        "\\" => Ok('\\'),
        _ => Err(SyntaxError::InvalidEscape {
            value: value.to_string(),
        }),
    }
}

fn is_regex_space(c: char) -> bool {
    matches!(c, '\t' | '\n' | '\x0c' | '\r' | ' ')
}

/// Matches `^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=\s*(.+?)\s*$` (RE2 `\s` is ASCII).
fn match_directive(line: &str) -> Option<(&str, &str)> {
    let rest = line.strip_prefix('#')?.trim_start_matches(is_regex_space);
    let name_len = rest
        .char_indices()
        .find(|&(i, c)| !(c.is_ascii_alphabetic() || (i > 0 && c.is_ascii_digit())))
        .map_or(rest.len(), |(i, _)| i);
    if name_len == 0 {
        return None;
    }
    let (name, rest) = rest.split_at(name_len);
    let rest = rest.trim_start_matches(is_regex_space).strip_prefix('=')?;
    if rest.is_empty() {
        return None;
    }
    let value = rest.trim_matches(is_regex_space);
    if value.is_empty() {
        // Only whitespace follows: the lazy group still takes one character, the last one.
        return Some((name, &rest[rest.len() - 1..]));
    }
    Some((name, value))
}

impl Directives {
    /// The `# syntax=` value and its line when it names a frontend other than Docker's own
    /// Dockerfile frontend (which rbuild implements).
    pub fn external_frontend(&self) -> Option<(&str, usize)> {
        let value = self.syntax.as_deref().filter(|v| !is_builtin_syntax(v))?;
        Some((value, self.syntax_line.unwrap_or(1)))
    }
}

/// Whether a `# syntax=` value names Docker's own Dockerfile frontend, which we implement.
fn is_builtin_syntax(value: &str) -> bool {
    let repo = value.split('@').next().unwrap_or(value);
    let repo = match repo.rsplit_once(':') {
        Some((r, tag)) if !tag.contains('/') => r,
        _ => repo,
    };
    let repo = repo.strip_prefix("docker.io/").unwrap_or(repo);
    matches!(repo, "docker/dockerfile" | "docker/dockerfile-upstream")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_docker_dockerfile_frontends_are_builtin() {
        let at = |syntax: &str, line| Directives {
            syntax: Some(syntax.into()),
            syntax_line: Some(line),
            ..Directives::default()
        };
        for builtin in [
            "docker/dockerfile:1",
            "docker.io/docker/dockerfile:1.7-labs",
            "docker/dockerfile-upstream:master",
            "docker/dockerfile@sha256:abc",
        ] {
            assert_eq!(at(builtin, 1).external_frontend(), None, "{builtin}");
        }
        assert_eq!(at("foobar", 2).external_frontend(), Some(("foobar", 2)));
        assert_eq!(Directives::default().external_frontend(), None);
    }

    #[test]
    fn directive_regex() {
        assert_eq!(match_directive("#escape=\\"), Some(("escape", "\\")));
        assert_eq!(match_directive("# escape = ` "), Some(("escape", "`")));
        assert_eq!(
            match_directive("# syntax = docker/dockerfile"),
            Some(("syntax", "docker/dockerfile"))
        );
        assert_eq!(match_directive("# x1=y z"), Some(("x1", "y z")));
        assert_eq!(match_directive("# escape="), None);
        assert_eq!(match_directive("# 1x=y"), None);
        assert_eq!(match_directive("# comment"), None);
    }

    #[test]
    fn builtin_syntax() {
        assert!(is_builtin_syntax("docker/dockerfile:1"));
        assert!(is_builtin_syntax("docker/dockerfile"));
        assert!(is_builtin_syntax(
            "docker.io/docker/dockerfile:1.7-labs@sha256:abc"
        ));
        assert!(!is_builtin_syntax("example.com/my/frontend:1"));
        assert!(!is_builtin_syntax("tonistiigi/dockerfile:1"));
    }
}
