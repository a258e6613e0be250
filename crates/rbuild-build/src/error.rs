//! Build errors, carrying the Dockerfile location where there is one. A variant's message
//! never repeats its source's: callers print the chain (`{:#}`), each cause once.

use std::fmt;
use std::path::PathBuf;

/// A Dockerfile instruction attached to an error.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepLocation {
    /// First line, 1-based (`None` for steps no line stands for).
    pub line: Option<usize>,
    /// The instruction as written.
    pub instruction: String,
}

impl fmt::Display for StepLocation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "Dockerfile:{line}: {}", self.instruction),
            None => f.write_str(&self.instruction),
        }
    }
}

/// `Dockerfile:N` when the line is known.
fn at_line(line: &Option<usize>) -> String {
    line.map_or("Dockerfile".to_string(), |l| format!("Dockerfile:{l}"))
}

/// Why a build failed.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// The Dockerfile could not be read.
    #[error("cannot read Dockerfile {path}")]
    ReadDockerfile {
        /// Its path.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The Dockerfile is larger than [`crate::MAX_DOCKERFILE_BYTES`].
    #[error("Dockerfile {path} is larger than the {} MiB limit", crate::MAX_DOCKERFILE_BYTES >> 20)]
    DockerfileTooLarge {
        /// Its path (`-` for standard input).
        path: PathBuf,
    },
    /// The Dockerfile does not parse.
    #[error(transparent)]
    Parse(#[from] rbuild_dockerfile::Error),
    /// A semantic error in the Dockerfile.
    #[error("{}{message}", line.map_or(String::new(), |l| format!("Dockerfile:{l}: ")))]
    Dockerfile {
        /// The line, when one is to blame.
        line: Option<usize>,
        /// What is wrong.
        message: String,
    },
    /// A variable expansion failed.
    #[error("{}", at_line(line))]
    Expand {
        /// The line of the word.
        line: Option<usize>,
        /// What failed.
        #[source]
        source: rbuild_dockerfile::ExpandError,
    },
    /// A RUN step exited non-zero or was killed.
    #[error("{at}: {reason}")]
    StepFailed {
        /// Where.
        at: StepLocation,
        /// e.g. "process \"/bin/sh -c exit 3\" did not complete successfully: exit code: 3".
        reason: String,
    },
    /// A step failed for another reason (I/O, sandbox, layer).
    #[error("{at}")]
    Step {
        /// Where.
        at: StepLocation,
        /// What happened.
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
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
    #[error(transparent)]
    Store(#[from] rbuild_store::StoreError),
    /// An `--annotation` cannot apply to this build.
    #[error(transparent)]
    Annotation(#[from] crate::annotations::AnnotationError),
    /// An image in the store is malformed.
    #[error("image {what}: {message}")]
    Image {
        /// Which image or blob.
        what: String,
        /// What is wrong.
        message: String,
    },
    /// A layer could not be unpacked or written.
    #[error("layer {what}")]
    Layer {
        /// Which layer (digest or directory).
        what: String,
        /// Why.
        #[source]
        source: rbuild_layer::LayerError,
    },
    /// A `--build-context NAME=oci-layout://...` cannot be used.
    #[error("Dockerfile:{line}: build context {name:?} ({reference})")]
    OciLayout {
        /// The line that uses it.
        line: usize,
        /// The context's name.
        name: String,
        /// The value as parsed.
        reference: String,
        /// What is wrong.
        #[source]
        error: Box<crate::OciLayoutError>,
    },
    /// The build context is unusable (e.g. a bad `.dockerignore` pattern).
    #[error("build context")]
    Context(#[source] rbuild_context::local::ContextError),
    /// An output failed.
    #[error("exporting to {what}")]
    Export {
        /// The output, as progress shows it.
        what: String,
        /// Why.
        #[source]
        source: crate::export::ExportError,
    },
    /// A `--cache-to` failed (without `ignore-error=true`).
    #[error("exporting cache to {what}")]
    CacheExport {
        /// The destination.
        what: String,
        /// Why.
        #[source]
        source: crate::remote_cache::BackendError,
    },
    /// A layer blob a remote cache record named could not be fetched when it was needed.
    #[error("layer {digest} of the remote cache {from}")]
    CacheBlob {
        /// The blob.
        digest: rbuild_oci::Digest,
        /// The cache it was to come from.
        from: String,
        /// Why.
        #[source]
        source: crate::remote_cache::BackendError,
    },
    /// The request asks for something this build cannot do.
    #[error("{0}")]
    Unsupported(String),
    /// The build was cancelled after another step failed.
    #[error("build cancelled")]
    Cancelled,
}

impl BuildError {
    /// A semantic error at a line.
    pub fn at(line: usize, message: impl Into<String>) -> Self {
        BuildError::Dockerfile {
            line: Some(line),
            message: message.into(),
        }
    }

    /// A semantic error no single line is to blame for.
    pub fn general(message: impl Into<String>) -> Self {
        BuildError::Dockerfile {
            line: None,
            message: message.into(),
        }
    }

    /// A failed expansion of a word on `line`.
    pub fn expand(line: Option<usize>, source: rbuild_dockerfile::ExpandError) -> Self {
        BuildError::Expand { line, source }
    }

    /// The Dockerfile line the error points at, if any.
    pub fn line(&self) -> Option<usize> {
        match self {
            BuildError::Parse(e) => e.location.as_ref().map(|l| l.start_line),
            BuildError::Dockerfile { line, .. } | BuildError::Expand { line, .. } => *line,
            BuildError::BaseNotFound { line, .. } | BuildError::OciLayout { line, .. } => {
                Some(*line)
            }
            BuildError::StepFailed { at, .. } | BuildError::Step { at, .. } => at.line,
            _ => None,
        }
        .filter(|l| *l > 0)
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

/// `e` and its causes, `a: b: c`.
pub(crate) fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
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

    #[test]
    fn messages_do_not_repeat_their_source() {
        let io = std::io::Error::other("disk on fire");
        let e = BuildError::ReadDockerfile {
            path: "/x/Dockerfile".into(),
            source: io,
        };
        assert!(!e.to_string().contains("disk on fire"));
        let at = StepLocation {
            line: Some(3),
            instruction: "RUN x".into(),
        };
        let e = BuildError::Step {
            at,
            source: "boom".into(),
        };
        assert_eq!(e.to_string(), "Dockerfile:3: RUN x");
        assert_eq!(std::error::Error::source(&e).unwrap().to_string(), "boom");
    }
}
