//! Why a configuration file could not be used.

use std::path::PathBuf;

/// An error reading or checking a configuration file; every one names the file.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file exists but could not be read (a missing default file is not an error).
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        #[source]
        source: std::io::Error,
    },
    /// The file is not TOML, or a key is unknown or has a value of the wrong kind.
    #[error("{}:{line}:{column}: {message}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// 1-based line of the offending text.
        line: usize,
        /// 1-based column (in characters).
        column: usize,
        /// What is wrong, as the TOML reader said it (names the key).
        message: String,
    },
    /// The file parses but asks for something rbuild refuses (named by its key).
    #[error("{}: {key}: {reason}", path.display())]
    Invalid {
        /// The file (the last one that set the key).
        path: PathBuf,
        /// The key, as written in the file (`registry."docker.io".http`).
        key: String,
        /// Why it is refused.
        reason: String,
    },
}
