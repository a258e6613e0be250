//! Physical lines and the line-continuation rule.

use crate::error::{Error, Location, SyntaxError};

/// Longest physical line BuildKit's scanner accepts (its 64 KiB buffer holds the line and its `\n`).
const MAX_LINE: usize = 65535;

/// Splits `text` into physical lines: after each `\n`, newline removed, BOM dropped.
/// Each line keeps a trailing `\r` (heredoc bodies need the exact text).
pub(crate) fn split(text: &str) -> Result<Vec<&str>, Error> {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut lines = Vec::new();
    for (i, line) in text.split_inclusive('\n').enumerate() {
        let line = line.strip_suffix('\n').unwrap_or(line);
        if line.len() > MAX_LINE {
            let loc = Location::new(i + 1, i + 1);
            return Err(Error::at(SyntaxError::LineTooLong { max: MAX_LINE }, loc));
        }
        lines.push(line);
    }
    Ok(lines)
}

/// Removes every trailing `\r` and `\n`.
pub(crate) fn trim_newline(line: &str) -> &str {
    line.trim_end_matches(['\r', '\n'])
}

/// Whether the line is a comment: `#` after optional leading whitespace.
pub(crate) fn is_comment(line: &str) -> bool {
    trim_newline(line).trim_start().starts_with('#')
}

/// Applies the continuation rule: a line continues when it ends with `esc` (plus spaces/tabs)
/// and that `esc` is not itself escaped, or is the whole line. Returns the text to keep and
/// whether the logical line ends here.
pub(crate) fn trim_continuation(line: &str, esc: char) -> (&str, bool) {
    let body = line.trim_end_matches([' ', '\t']);
    let Some(before) = body.strip_suffix(esc) else {
        return (line, true);
    };
    match before.chars().next_back() {
        None => ("", false),
        Some(c) if c != esc => (before, false),
        Some(_) => (line, true),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_rules() {
        assert_eq!(trim_continuation("echo hi \\", '\\'), ("echo hi ", false));
        assert_eq!(trim_continuation("echo hi\\  \t", '\\'), ("echo hi", false));
        assert_eq!(trim_continuation("\\", '\\'), ("", false));
        assert_eq!(trim_continuation("a\\\\", '\\'), ("a\\\\", true));
        assert_eq!(trim_continuation("a\\\\\\", '\\'), ("a\\\\\\", true));
        assert_eq!(trim_continuation("a `", '`'), ("a ", false));
        assert_eq!(trim_continuation("a \\", '`'), ("a \\", true));
    }

    #[test]
    fn splitting() {
        assert_eq!(split("a\r\nb\n").unwrap(), vec!["a\r", "b"]);
        assert_eq!(split("\u{feff}a").unwrap(), vec!["a"]);
        assert!(split("").unwrap().is_empty());
        assert!(split(&"x".repeat(65536)).is_err());
        assert!(split(&"x".repeat(65535)).is_ok());
    }
}
