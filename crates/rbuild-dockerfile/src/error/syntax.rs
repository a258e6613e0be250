//! Errors of the parser: Dockerfile text that BuildKit's parser refuses.

/// Text that does not parse into instructions.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyntaxError {
    /// A physical line longer than BuildKit's scanner buffer.
    #[error("dockerfile line greater than max allowed size of {max}")]
    LineTooLong {
        /// The longest line accepted, in bytes.
        max: usize,
    },
    /// The same parser directive twice.
    #[error("only one {name} parser directive can be used")]
    DuplicateDirective {
        /// Lower-cased directive name (`escape`, `syntax`, `check`).
        name: String,
    },
    /// `# escape=` with something other than `\` or `` ` ``.
    #[error("invalid escape token '{value}' does not match ` or \\")]
    InvalidEscape {
        /// The value as written.
        value: String,
    },
    /// A JSON array holding something other than strings.
    #[error("when using JSON array syntax, arrays must be comprised of strings only")]
    NotStringArray,
    /// Legacy `ENV key` / `LABEL key` without a value.
    #[error("{keyword} must have two arguments")]
    MissingValue {
        /// `ENV` or `LABEL`.
        keyword: &'static str,
    },
    /// A word without `=` in `ENV k=v ...` / `LABEL k=v ...`.
    #[error("Syntax error - can't find = in {word:?}. Must be of the form: name=value")]
    MissingEquals {
        /// The word, as written.
        word: String,
    },
    /// `ONBUILD ONBUILD ...` nested deeper than the parser allows.
    #[error("too many nested ONBUILD instructions")]
    NestedOnbuild,
    /// Only comments, blank lines and directives.
    #[error("file with no instructions")]
    NoInstructions,
    /// A heredoc whose terminator line never comes.
    #[error("unterminated heredoc")]
    UnterminatedHeredoc,
}
