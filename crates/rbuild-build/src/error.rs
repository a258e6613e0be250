//! Build errors, carrying the Dockerfile location where there is one.

use std::path::PathBuf;

/// A Dockerfile line range attached to an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepLocation {
    /// First line, 1-based.
    pub line: usize,
    /// The instruction as written.
    pub instruction: String,
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile could not be read.
    #[error("cannot read Dockerfile {path}: {source}")]
    ReadDockerfile {
        /// Its path.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The Dockerfile is larger than [`crate::MAX_DOCKERFILE_BYTES`].
    #[error("Dockerfile {path} is larger than the {} MiB limit", crate::MAX_DOCKERFILE_BYTES >> 20)]
    DockerfileTooLarge {
        /// Its path (`-` for standard input).
        path: PathBuf,
    },
    /// The Dockerfile does not parse.
    #[error("{0}")]
    Parse(#[from] rbuild_dockerfile::Error),
    /// A semantic error at a Dockerfile line.
    #[error("Dockerfile:{line}: {message}")]
    Dockerfile {
        /// The line.
        line: usize,
        /// What is wrong.
        message: String,
    },
    /// A RUN step exited non-zero or was killed.
    #[error("Dockerfile:{}: {}: {reason}", .at.line, .at.instruction)]
    StepFailed {
        /// Where.
        at: StepLocation,
        /// e.g. "process \"/bin/sh -c exit 3\" did not complete successfully: exit code: 3".
        reason: String,
    },
    /// A step failed for another reason (I/O, sandbox, layer).
    #[error("Dockerfile:{}: {}: {message}", .at.line, .at.instruction)]
    Step {
        /// Where.
        at: StepLocation,
        /// What happened.
        message: String,
    },
    /// A base image is not in the local store.
    #[error("Dockerfile:{line}: base image {image:?} not found in the local store (import it with `rbuild import` or pull it)")]
    BaseNotFound {
        /// The FROM line.
        line: usize,
        /// The reference.
        image: String,
    },
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] rbuild_store::StoreError),
    /// An image in the store is malformed.
    #[error("image {what}: {message}")]
    Image {
        /// Which image or blob.
        what: String,
        /// What is wrong.
        message: String,
    },
    /// A `--build-context NAME=oci-layout://...` cannot be used.
    #[error("Dockerfile:{line}: build context {name:?} ({reference}): {error}")]
    OciLayout {
        /// The line that uses it.
        line: usize,
        /// The context's name.
        name: String,
        /// The value as parsed.
        reference: String,
        /// What is wrong (shown in the message, so not also a `source` that reporters repeat).
        error: Box<crate::OciLayoutError>,
    },
    /// The build context is unusable (e.g. a bad `.dockerignore` pattern).
    #[error("build context: {0}")]
    Context(String),
    /// The build was cancelled after another step failed.
    #[error("build cancelled")]
    Cancelled,
}

impl BuildError {
    /// A semantic error at a line.
    pub fn at(line: usize, message: impl Into<String>) -> Self {
        BuildError::Dockerfile {
            line,
            message: message.into(),
        }
    }

    /// The Dockerfile line the error points at, if any.
    pub fn line(&self) -> Option<usize> {
        let line = match self {
            BuildError::Parse(e) => e.location.as_ref()?.start_line,
            BuildError::Dockerfile { line, .. }
            | BuildError::BaseNotFound { line, .. }
            | BuildError::OciLayout { line, .. } => *line,
            BuildError::StepFailed { at, .. } | BuildError::Step { at, .. } => at.line,
            _ => return None,
        };
        (line > 0).then_some(line)
    }
}

/// The lines around `line` of a Dockerfile, the failing one marked, as BuildKit shows them.
pub fn excerpt(text: &str, line: usize) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let first = line.saturating_sub(2).max(1);
    let last = (line + 2).min(lines.len());
    let mut out = String::from(" --------------------\n");
    for n in first..=last {
        let mark = if n == line { ">>>" } else { "   " };
        out.push_str(&format!(" {n:>4} | {mark} {}\n", lines[n - 1]));
    }
    out.push_str(" --------------------");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn excerpt_marks_the_line_with_context() {
        let text = "FROM a\nRUN b\nRUN c\nRUN d\nRUN e\nRUN f\n";
        let ex = excerpt(text, 4);
        assert!(ex.contains("    4 | >>> RUN d"), "{ex}");
        assert!(
            ex.contains("    2 |     RUN b") && ex.contains("    6 |     RUN f"),
            "{ex}"
        );
        assert!(!ex.contains("FROM a"), "{ex}");
        assert!(excerpt("FROM a", 1).contains(">>> FROM a"));
    }
}
