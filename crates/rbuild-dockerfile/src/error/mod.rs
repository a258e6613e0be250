//! Error and warning types shared by the parser, the typed layer and the expander.
//!
//! Each error's text shows only its own level; an underlying error is exposed as `source()`
//! and not repeated in the text, so a reporter that prints the chain (`anyhow`'s `{:#}`)
//! shows every message once.

mod expand;
mod instruction;
mod mount;
mod syntax;

use std::fmt;

pub use expand::{ExpandError, ExpandErrorKind};
pub use instruction::{DurationError, FlagError, InstructionError, PortError};
pub use mount::MountError;
pub use syntax::SyntaxError;

/// Line range of an instruction: 1-based physical lines, both ends inclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Location {
    /// First physical line of the instruction.
    pub start_line: usize,
    /// Last physical line consumed for it (continuations and heredoc terminators included).
    pub end_line: usize,
}

impl Location {
    /// A range covering `start..=end`.
    pub fn new(start_line: usize, end_line: usize) -> Self {
        Location {
            start_line,
            end_line,
        }
    }
}

/// What went wrong in a Dockerfile, by the layer that found it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ErrorKind {
    /// The text does not parse (directives, line length, JSON, ENV/LABEL pairs, heredocs).
    #[error(transparent)]
    Syntax(#[from] SyntaxError),
    /// An instruction's `--flag` is unknown, repeated or lacks its value.
    #[error(transparent)]
    Flag(#[from] FlagError),
    /// A `RUN --mount` value is malformed.
    #[error(transparent)]
    Mount(#[from] MountError),
    /// An instruction's arguments are invalid, or the stages are.
    #[error(transparent)]
    Instruction(#[from] InstructionError),
}

/// A Dockerfile parse or validation error, with the place it happened when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What went wrong.
    pub kind: ErrorKind,
    /// Where it went wrong, if the error belongs to a line.
    pub location: Option<Location>,
}

impl Error {
    /// An error without a location.
    pub fn new(kind: impl Into<ErrorKind>) -> Self {
        Error {
            kind: kind.into(),
            location: None,
        }
    }

    /// An error at a location.
    pub fn at(kind: impl Into<ErrorKind>, location: Location) -> Self {
        Error {
            kind: kind.into(),
            location: Some(location),
        }
    }

    /// Attaches `location` unless the error already has one.
    pub fn or_at(mut self, location: Location) -> Self {
        if self.location.is_none() {
            self.location = Some(location);
        }
        self
    }

    /// The first line of the instruction the error belongs to, if it belongs to one.
    pub fn line(&self) -> Option<usize> {
        self.location.map(|l| l.start_line)
    }

    /// The whole message without the `Dockerfile:N:` prefix, underlying errors included.
    pub fn message(&self) -> String {
        let mut text = self.kind.to_string();
        let mut next = std::error::Error::source(&self.kind);
        while let Some(e) = next {
            text.push_str(": ");
            text.push_str(&e.to_string());
            next = e.source();
        }
        text
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some(loc) => write!(f, "Dockerfile:{}: {}", loc.start_line, self.kind),
            None => write!(f, "Dockerfile: {}", self.kind),
        }
    }
}

/// The kind's text is part of this error's text, so the chain continues below the kind.
impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        std::error::Error::source(&self.kind)
    }
}

/// A non-fatal finding (deprecated syntax, ignored directive, ...), tied to a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// 1-based physical line the warning is about.
    pub line: usize,
    /// Human-readable text.
    pub message: String,
}
