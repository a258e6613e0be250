//! Error and warning types shared by the parser, the typed layer and the expander.

use std::fmt;

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

/// A Dockerfile parse or validation error, with the place it happened when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    /// What went wrong, without the location prefix.
    pub message: String,
    /// Where it went wrong, if the error belongs to a line.
    pub location: Option<Location>,
}

impl Error {
    /// An error without a location.
    pub fn new(message: impl Into<String>) -> Self {
        Error {
            message: message.into(),
            location: None,
        }
    }

    /// An error at a location.
    pub fn at(message: impl Into<String>, location: Location) -> Self {
        Error {
            message: message.into(),
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
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some(loc) => write!(f, "Dockerfile:{}: {}", loc.start_line, self.message),
            None => write!(f, "Dockerfile: {}", self.message),
        }
    }
}

impl std::error::Error for Error {}

/// A non-fatal finding (deprecated syntax, ignored directive, ...), tied to a line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Warning {
    /// 1-based physical line the warning is about (0 when it concerns the whole file).
    pub line: usize,
    /// Human-readable text.
    pub message: String,
}

/// A shell-word expansion error (bad substitution, `${v:?msg}` on an unset variable, ...).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("failed to process \"{word}\": {message}")]
pub struct ExpandError {
    /// The word that was being expanded.
    pub word: String,
    /// What went wrong.
    pub message: String,
}
