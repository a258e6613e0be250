//! Errors of shell-word expansion.

use super::{MountError, PortError};

/// A shell-word expansion error (bad substitution, `${v:?msg}` on an unset variable, ...).
/// `kind` is part of the text (it says what is wrong with `word`), so there is no `source()`.
/// A `--mount` value that is malformed once expanded reads as BuildKit words it: the mount
/// error alone, without the `failed to process` prefix (BuildKit adds that only when the
/// expansion itself fails).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", display(.word, .kind))]
pub struct ExpandError {
    /// The word that was being expanded.
    pub word: String,
    /// What went wrong.
    pub kind: ExpandErrorKind,
}

/// What is wrong with a word being expanded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExpandErrorKind {
    /// `${name` without its `}`.
    #[error("syntax error: missing '}}'")]
    MissingBrace,
    /// `${name/pattern` without the second `/`.
    #[error("syntax error: missing '/' in ${{}}")]
    MissingSlash,
    /// `${}`, `${:x}`, `${{x}`.
    #[error("syntax error: bad substitution")]
    BadSubstitution,
    /// An operator the lexer does not know (`${a:#x}`, `${a!}`).
    #[error("unsupported modifier ({modifier}) in substitution")]
    UnsupportedModifier {
        /// The operator as written.
        modifier: String,
    },
    /// A `'` never closed.
    #[error("unexpected end of statement while looking for matching single-quote")]
    UnterminatedSingleQuote,
    /// A `"` never closed.
    #[error("unexpected end of statement while looking for matching double-quote")]
    UnterminatedDoubleQuote,
    /// The text ended inside an operand before `stop`.
    #[error("unexpected end of statement while looking for matching {stop}")]
    Unterminated {
        /// The character that should have ended the operand.
        stop: char,
    },
    /// `${name?msg}` / `${name:?msg}` on an unset variable.
    #[error("{name}: {}", message.as_deref().unwrap_or("is not allowed to be unset"))]
    Unset {
        /// The variable.
        name: String,
        /// The message written after `?`, if any.
        message: Option<String>,
    },
    /// `${name:?msg}` on an empty variable.
    #[error("{name}: {}", message.as_deref().unwrap_or("is not allowed to be empty"))]
    Empty {
        /// The variable.
        name: String,
        /// The message written after `?`, if any.
        message: Option<String>,
    },
    /// `${a:-${b:-...}}` nested deeper than the lexer allows.
    #[error("substitutions nested too deeply")]
    TooDeep,
    /// Substitutions producing more than the limit for one word.
    #[error("variable expansion exceeds the limit of {mib} MiB")]
    TooLarge {
        /// The limit, in MiB.
        mib: usize,
    },
    /// An expanded EXPOSE port that is not one.
    #[error(transparent)]
    Port(PortError),
    /// An expanded `RUN --mount` value that is malformed.
    #[error(transparent)]
    Mount(Box<MountError>),
}

fn display(word: &str, kind: &ExpandErrorKind) -> String {
    match kind {
        ExpandErrorKind::Mount(e) => e.to_string(),
        kind => format!("failed to process \"{word}\": {kind}"),
    }
}
