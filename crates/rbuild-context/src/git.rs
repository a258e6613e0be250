//! ADD of a git repository (`https://host/repo.git#ref:subdir`, `git@host:repo`, `git://…`),
//! through the system `git`, in the clean environment of [`crate::git_command`].

use std::path::{Path, PathBuf};

pub use crate::git_command::Transport;
use crate::remote::redact;

/// Why a git source could not be resolved or checked out.
#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// The `git` program could not be started.
    #[error("cannot run git (is it installed?)")]
    Spawn(#[source] std::io::Error),
    /// An ssh remote without a forwarded agent: the host's own keys are never used.
    #[error(
        "{url} is fetched over ssh, which needs --ssh default (git uses only the agent the \
         build forwards, never the host's keys or ~/.ssh)"
    )]
    NeedsSsh {
        /// The remote, without credentials.
        url: String,
    },
    /// A git command failed; `stderr` is what it said.
    #[error("git {args} failed: {stderr}")]
    Failed {
        /// The arguments, URLs without credentials.
        args: String,
        /// git's own message.
        stderr: String,
    },
    /// The remote has no such branch or tag.
    #[error("git reference {reference:?} not found in {url}")]
    RefNotFound {
        /// The branch or tag asked for.
        reference: String,
        /// The remote, without credentials.
        url: String,
    },
    /// The `#ref:subdir` names a place outside the checkout (through `..` or a symlink).
    #[error("git subdirectory {subdir:?} is not inside the repository")]
    SubdirOutside {
        /// The subdirectory as written after `:`.
        subdir: String,
    },
    /// The `#ref:subdir` does not exist in the checkout.
    #[error("git subdirectory {subdir:?} not found in the repository")]
    SubdirMissing {
        /// The subdirectory as written after `:`.
        subdir: String,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The checkout's `.git` directory could not be removed.
    #[error("cannot remove {path}")]
    Cleanup {
        /// The directory.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// A parsed git source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GitSource {
    /// The remote as git takes it.
    pub url: String,
    /// Branch, tag or commit (`None`: the remote's HEAD).
    pub reference: Option<String>,
    /// Subdirectory to copy (`None`: the whole tree).
    pub subdir: Option<String>,
}

/// Recognises a git source the way BuildKit does: `git@`, `git://`, `ssh://`, `github.com/`,
/// or an http(s) URL whose path ends in `.git`.
pub fn parse(word: &str) -> Option<GitSource> {
    let (url, fragment) = match word.split_once('#') {
        Some((u, f)) => (u, Some(f)),
        None => (word, None),
    };
    let is_git = url.starts_with("git@")
        || url.starts_with("git://")
        || url.starts_with("ssh://")
        || url.starts_with("github.com/")
        || ((url.starts_with("http://") || url.starts_with("https://"))
            && url.trim_end_matches('/').ends_with(".git"));
    if !is_git {
        return None;
    }
    let url = if url.starts_with("github.com/") {
        format!("https://{url}")
    } else {
        url.to_string()
    };
    let (reference, subdir) = match fragment {
        Some(f) => match f.split_once(':') {
            Some((r, s)) => (r, Some(s)),
            None => (f, None),
        },
        None => ("", None),
    };
    let nonempty = |s: &str| (!s.is_empty()).then(|| s.to_string());
    Some(GitSource {
        url,
        reference: nonempty(reference),
        subdir: subdir.and_then(|s| nonempty(s.trim_matches('/'))),
    })
}

impl GitSource {
    /// Whether git reaches the remote over ssh (`ssh://`, `git+ssh://` or scp-like
    /// `user@host:path`).
    pub fn is_ssh(&self) -> bool {
        let url = self.url.as_str();
        url.starts_with("ssh://")
            || url.starts_with("git+ssh://")
            || (!url.contains("://") && url.contains(':'))
    }

    /// Refuses an ssh remote when the build forwards no agent.
    fn check_transport(&self, transport: &Transport) -> Result<(), GitError> {
        if self.is_ssh() && transport.agent.is_none() {
            return Err(GitError::NeedsSsh {
                url: shown_arg(&self.url),
            });
        }
        Ok(())
    }
}

fn git(args: &[&str], dir: Option<&Path>, transport: &Transport) -> Result<String, GitError> {
    let mut cmd = crate::git_command::command(transport);
    cmd.args(args);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    let out = cmd.output().map_err(GitError::Spawn)?;
    if !out.status.success() {
        let shown: Vec<String> = args.iter().map(|a| shown_arg(a)).collect();
        return Err(GitError::Failed {
            args: shown.join(" "),
            stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
        });
    }
    Ok(String::from_utf8_lossy(&out.stdout).to_string())
}

/// An argument as it may appear in a message: URLs lose their credentials.
fn shown_arg(arg: &str) -> String {
    if arg.contains("://") {
        redact(arg)
    } else {
        arg.to_string()
    }
}

fn is_commit(r: &str) -> bool {
    r.len() == 40 && r.chars().all(|c| c.is_ascii_hexdigit())
}

/// The commit the source's reference names now (for the cache key).
pub fn resolve_commit(src: &GitSource, transport: &Transport) -> Result<String, GitError> {
    src.check_transport(transport)?;
    let r = src.reference.as_deref().unwrap_or("HEAD");
    if is_commit(r) {
        return Ok(r.to_ascii_lowercase());
    }
    let out = git(
        &["ls-remote", &src.url, r, &format!("{r}^{{}}")],
        None,
        transport,
    )?;
    let lines: Vec<(&str, &str)> = out.lines().filter_map(|l| l.split_once('\t')).collect();
    // An annotated tag's `^{}` line names the commit; prefer it, then an exact ref.
    let pick = lines
        .iter()
        .find(|(_, name)| name.ends_with("^{}"))
        .or_else(|| lines.first())
        .map(|(sha, _)| sha.to_string());
    pick.ok_or_else(|| GitError::RefNotFound {
        reference: r.to_string(),
        url: shown_arg(&src.url),
    })
}

/// Checks `commit` out into `dir` (which must not exist); returns the directory to copy.
pub fn checkout(
    src: &GitSource,
    commit: &str,
    dir: &Path,
    keep_git_dir: bool,
    transport: &Transport,
) -> Result<PathBuf, GitError> {
    src.check_transport(transport)?;
    let d = dir.to_string_lossy().to_string();
    let git = |args: &[&str], dir| git(args, dir, transport);
    git(&["init", "-q", &d], None)?;
    git(&["remote", "add", "origin", &src.url], Some(dir))?;
    let wanted = src.reference.as_deref().unwrap_or("HEAD");
    // Dumb HTTP remotes cannot fetch shallow; fall back to a full fetch.
    let shallow = git(
        &["fetch", "-q", "--depth", "1", "origin", wanted],
        Some(dir),
    );
    if shallow.is_err() {
        git(&["fetch", "-q", "--tags", "origin", wanted], Some(dir))?;
    }
    git(&["checkout", "-q", commit], Some(dir))?;
    if !keep_git_dir {
        let dot_git = dir.join(".git");
        std::fs::remove_dir_all(&dot_git).map_err(|source| GitError::Cleanup {
            path: dot_git,
            source,
        })?;
    }
    match &src.subdir {
        Some(s) => subdir_inside(dir, s),
        None => Ok(dir.to_path_buf()),
    }
}

/// `subdir` of the checkout `dir`, resolved: the repository's author chooses its symlinks
/// and the Dockerfile's author its `..`, and neither may lead out of the checkout
/// (BuildKit CVE-2026-33748). Nothing else writes the fresh checkout, so resolving it once
/// is final.
fn subdir_inside(dir: &Path, subdir: &str) -> Result<PathBuf, GitError> {
    let missing = |source| GitError::SubdirMissing {
        subdir: subdir.to_string(),
        source,
    };
    let root = dir.canonicalize().map_err(missing)?;
    let real = dir.join(subdir).canonicalize().map_err(missing)?;
    if !real.starts_with(&root) {
        return Err(GitError::SubdirOutside {
            subdir: subdir.to_string(),
        });
    }
    Ok(real)
}

#[cfg(test)]
#[path = "git_tests.rs"]
mod tests;
