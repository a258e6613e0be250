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
    /// The remote has no such branch or tag (BuildKit's text).
    #[error("repository does not contain ref {reference}, output: {output:?}")]
    RefNotFound {
        /// The branch or tag asked for.
        reference: String,
        /// What `git ls-remote` listed.
        output: String,
    },
    /// The URL's options are invalid.
    #[error(transparent)]
    Url(#[from] GitUrlError),
    /// A checksum that is not a hexadecimal commit id (BuildKit's text).
    #[error("invalid checksum {0} for Git URL, expected hex commit hash")]
    InvalidChecksum(String),
    /// The reference names another commit than the checksum (BuildKit's text).
    #[error("expected checksum to match {checksum}, got {got}")]
    ChecksumMismatch {
        /// The checksum asked for.
        checksum: String,
        /// The commit the reference names.
        got: String,
    },
    /// `fetch-by-commit` without a full commit id to fetch.
    #[error("fetch-by-commit requires a full commit SHA checksum, got {0:?}")]
    FetchByCommit(String),
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
    /// The checked-out files could not be dated (`?mtime=commit`).
    #[error("cannot set the modification times under {path}")]
    Dates {
        /// The checkout.
        path: PathBuf,
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

pub use crate::git_url::{parse, GitSource, GitUrlError, MTime};

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

pub(crate) fn git(
    args: &[&str],
    dir: Option<&Path>,
    transport: &Transport,
) -> Result<String, GitError> {
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

/// A full commit id: 40 hex digits (sha1) or 64 (sha256 repositories).
pub fn is_commit(r: &str) -> bool {
    (r.len() == 40 || r.len() == 64) && r.chars().all(|c| c.is_ascii_hexdigit())
}

/// The commit the source's reference names now (for the cache key), checked against its
/// checksum as BuildKit's git source does (`source/git/source.go`, resolveMetadata).
pub fn resolve_commit(src: &GitSource, transport: &Transport) -> Result<String, GitError> {
    src.check_transport(transport)?;
    if let Some(c) = &src.checksum {
        if c.is_empty() || !c.chars().all(|ch| ch.is_ascii_hexdigit()) {
            return Err(GitError::InvalidChecksum(c.clone()));
        }
    }
    let mismatch = |got: &str| GitError::ChecksumMismatch {
        checksum: src.checksum.clone().unwrap_or_default(),
        got: got.to_string(),
    };
    let matches = |sha: &str| src.checksum.as_deref().is_none_or(|c| sha.starts_with(c));
    if let Some(r) = src.reference.as_deref().filter(|r| is_commit(r)) {
        let r = r.to_ascii_lowercase();
        return if matches(&r) {
            Ok(r)
        } else {
            Err(mismatch(&r))
        };
    }
    if src.fetch_by_commit {
        return match src.checksum.as_deref() {
            Some(c) if is_commit(c) => Ok(c.to_ascii_lowercase()),
            other => Err(GitError::FetchByCommit(
                other.unwrap_or_default().to_string(),
            )),
        };
    }
    let r = match &src.reference {
        Some(r) => r.clone(),
        None => default_branch(src, transport)?,
    };
    let out = git(
        &["ls-remote", "--", &src.url, &r, &format!("{r}^{{}}")],
        None,
        transport,
    )?;
    let sha = pick_ref(&out, &r).ok_or_else(|| GitError::RefNotFound {
        reference: r.clone(),
        output: out.clone(),
    })?;
    if !is_commit(&sha.listed) {
        return Err(GitError::Failed {
            args: "ls-remote".into(),
            stderr: format!("invalid commit sha {:?}", sha.listed),
        });
    }
    if !matches(&sha.listed) && !sha.peeled.as_deref().is_some_and(matches) {
        return Err(mismatch(&sha.listed));
    }
    Ok(sha.peeled.unwrap_or(sha.listed))
}

/// What `ls-remote` says a reference names: the listed object, and for an annotated tag the
/// commit it points to.
struct Listed {
    listed: String,
    peeled: Option<String>,
}

/// The line `ls-remote` printed for `r`: as `refs/<r>` exactly, else a branch, else a tag
/// (git's checkout prefers branches), as BuildKit reads it.
fn pick_ref(out: &str, r: &str) -> Option<Listed> {
    let bare = r.strip_prefix("refs/").unwrap_or(r);
    let partial = format!("refs/{bare}");
    let head = format!("refs/heads/{}", r.strip_prefix("refs/heads/").unwrap_or(r));
    let tag = format!("refs/tags/{}", r.strip_prefix("refs/tags/").unwrap_or(r));
    let peeled_tag = format!("{tag}^{{}}");
    let find = |name: &str| {
        out.lines()
            .filter_map(|l| l.split_once('\t'))
            .find(|(_, n)| *n == name)
            .map(|(sha, _)| sha.to_string())
    };
    if let Some(sha) = find(&partial)
        .or_else(|| find(&head))
        .or_else(|| (r == "HEAD").then(|| find("HEAD")).flatten())
    {
        return Some(Listed {
            listed: sha,
            peeled: None,
        });
    }
    find(&tag).map(|listed| Listed {
        listed,
        peeled: find(&peeled_tag),
    })
}

/// The remote's default branch (`ls-remote --symref HEAD`); `HEAD` when it does not say.
fn default_branch(src: &GitSource, transport: &Transport) -> Result<String, GitError> {
    let out = git(
        &["ls-remote", "--symref", "--", &src.url, "HEAD"],
        None,
        transport,
    )?;
    let branch = out.lines().find_map(|l| {
        let (target, name) = l.strip_prefix("ref: ")?.split_once('\t')?;
        (name == "HEAD").then(|| target.to_string())
    });
    Ok(branch.unwrap_or_else(|| "HEAD".to_string()))
}

/// A checked-out source.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Checkout {
    /// The directory to copy (the subdirectory, when the source names one).
    pub root: PathBuf,
    /// The commit's committer time, seconds since the epoch (`SOURCE_DATE_EPOCH=context`).
    pub commit_time: i64,
}

/// Checks `commit` out into `dir` (which must not exist); returns the directory to copy.
/// `keep_git_dir` is the ADD flag's; the URL's `keep-git-dir` wins when given.
pub fn checkout(
    src: &GitSource,
    commit: &str,
    dir: &Path,
    keep_git_dir: bool,
    transport: &Transport,
) -> Result<PathBuf, GitError> {
    checkout_tree(src, commit, dir, keep_git_dir, transport).map(|c| c.root)
}

/// [`checkout`], with the commit's time.
pub fn checkout_tree(
    src: &GitSource,
    commit: &str,
    dir: &Path,
    keep_git_dir: bool,
    transport: &Transport,
) -> Result<Checkout, GitError> {
    src.check_transport(transport)?;
    let run = |args: &[&str], dir: Option<&Path>| git(args, dir, transport);
    crate::git_checkout::fetch_and_checkout(src, commit, dir, &run)?;
    if src.submodules && dir.join(".gitmodules").exists() {
        crate::git_checkout::submodules(dir, &run)?;
    }
    let out = run(&["log", "-1", "--format=%ct", commit], Some(dir))?;
    let commit_time = out.trim().parse::<i64>().map_err(|_| GitError::Failed {
        args: "log".into(),
        stderr: format!("no commit time for {commit}: {out:?}"),
    })?;
    let cleanup = |source| GitError::Cleanup {
        path: dir.to_path_buf(),
        source,
    };
    if src.mtime == MTime::Commit {
        crate::git_checkout::set_mtimes(dir, commit_time).map_err(|source| GitError::Dates {
            path: dir.to_path_buf(),
            source,
        })?;
    }
    if src.keep_git_dir.unwrap_or(keep_git_dir) {
        // The kept `.git` must not carry the URL's credentials.
        run(
            &["remote", "set-url", "origin", &redact(&src.url)],
            Some(dir),
        )?;
    } else {
        std::fs::remove_dir_all(dir.join(".git")).map_err(cleanup)?;
    }
    let root = match &src.subdir {
        Some(s) => subdir_inside(dir, s)?,
        None => dir.to_path_buf(),
    };
    Ok(Checkout { root, commit_time })
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
