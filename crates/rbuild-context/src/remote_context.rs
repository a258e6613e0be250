//! A build context given as a URL, as BuildKit's Dockerfile frontend takes it
//! (`frontend/dockerui/context.go`): a Git URL is checked out (with the options of
//! [`crate::git`]), an http(s) URL is downloaded and is the context when it is an archive,
//! else the Dockerfile itself. The fetched context also dates itself, for
//! `SOURCE_DATE_EPOCH=context`: the commit's committer time, the URL's `Last-Modified`, or the
//! newest file of the archive.

use std::path::{Path, PathBuf};

use crate::archive::{detect, extract, ArchiveError};
use crate::git::{self, GitError, GitSource, GitUrlError, Transport};
use crate::remote::{ProxyConfig, RemoteError, UrlFetcher};

/// A context URL, recognised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextUrl {
    /// A Git repository.
    Git(GitSource),
    /// An http(s) URL of an archive or a Dockerfile.
    Http(String),
}

/// A fetched context.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteContext {
    /// The context's root directory.
    pub root: PathBuf,
    /// The Dockerfile when the URL was one (then `-f` does not apply).
    pub dockerfile: Option<PathBuf>,
    /// When the context was made (seconds), if its source says.
    pub epoch: Option<i64>,
}

/// Why a context URL could not be fetched.
#[derive(Debug, thiserror::Error)]
pub enum RemoteContextError {
    /// The Git checkout failed.
    #[error(transparent)]
    Git(#[from] GitError),
    /// The download failed.
    #[error(transparent)]
    Http(#[from] RemoteError),
    /// The downloaded archive could not be unpacked.
    #[error(transparent)]
    Archive(#[from] ArchiveError),
    /// A local file operation failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// The operation.
        what: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

fn io(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> RemoteContextError {
    let path = path.to_path_buf();
    move |source| RemoteContextError::Io { what, path, source }
}

/// `value` as a context URL: `None` for a local path; an error for a Git URL with invalid
/// options.
pub fn classify(value: &str) -> Result<Option<ContextUrl>, GitUrlError> {
    if let Some(g) = git::parse(value)? {
        return Ok(Some(ContextUrl::Git(g)));
    }
    let http = value.starts_with("http://") || value.starts_with("https://");
    Ok(http.then(|| ContextUrl::Http(value.to_string())))
}

/// Fetches `url` into `dir` (an empty directory the caller owns and removes).
pub fn fetch(
    url: &ContextUrl,
    dir: &Path,
    transport: &Transport,
    fetcher: &dyn UrlFetcher,
    proxy: &ProxyConfig,
) -> Result<RemoteContext, RemoteContextError> {
    match url {
        ContextUrl::Git(g) => {
            let commit = git::resolve_commit(g, transport)?;
            let c = git::checkout_tree(g, &commit, &dir.join("git"), false, transport)?;
            Ok(RemoteContext {
                root: c.root,
                dockerfile: None,
                epoch: Some(c.commit_time),
            })
        }
        ContextUrl::Http(u) => fetch_http(u, dir, fetcher, proxy),
    }
}

fn fetch_http(
    url: &str,
    dir: &Path,
    fetcher: &dyn UrlFetcher,
    proxy: &ProxyConfig,
) -> Result<RemoteContext, RemoteContextError> {
    let download = dir.join("download");
    std::fs::create_dir(&download).map_err(io("create", &download))?;
    let d = fetcher.fetch(url, &download, proxy)?;
    let root = dir.join("context");
    std::fs::create_dir(&root).map_err(io("create", &root))?;
    match detect(&d.path).map_err(io("read", &d.path))? {
        Some(c) => {
            extract(&d.path, c, &root, None, None)?;
            let newest = match d.last_modified {
                Some(t) => Some(t),
                None => newest_file(&root).map_err(io("read", &root))?,
            };
            Ok(RemoteContext {
                root,
                dockerfile: None,
                epoch: newest,
            })
        }
        None => {
            let file = root.join("Dockerfile");
            std::fs::rename(&d.path, &file).map_err(io("move", &d.path))?;
            Ok(RemoteContext {
                root,
                dockerfile: Some(file),
                epoch: d.last_modified,
            })
        }
    }
}

/// The newest modification time of a regular file under `dir`.
fn newest_file(dir: &Path) -> std::io::Result<Option<i64>> {
    use std::os::unix::fs::MetadataExt;
    let mut newest = None;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        for e in std::fs::read_dir(&p)? {
            let e = e?;
            let m = e.metadata()?;
            if m.is_dir() {
                stack.push(e.path());
            } else if m.is_file() {
                newest = newest.max(Some(m.mtime()));
            }
        }
    }
    Ok(newest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_git_http_or_local() {
        let git = classify("http://h/r.git?ref=v1").unwrap();
        assert!(matches!(git, Some(ContextUrl::Git(g)) if g.reference.as_deref() == Some("v1")));
        assert_eq!(
            classify("https://h/ctx.tar").unwrap(),
            Some(ContextUrl::Http("https://h/ctx.tar".into()))
        );
        assert_eq!(classify("./dir").unwrap(), None);
        assert_eq!(classify("/abs/dir").unwrap(), None);
        assert!(classify("http://h/r.git?bogus=1").is_err());
    }

    #[test]
    fn the_newest_regular_file_dates_an_archive() {
        let d = tempfile::tempdir().unwrap();
        let set = |p: &Path, t: i64| crate::git_checkout::set_mtimes(p, t).unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("a"), "a").unwrap();
        std::fs::write(d.path().join("sub/b"), "b").unwrap();
        set(d.path(), 100);
        set(&d.path().join("sub/b"), 300);
        std::os::unix::fs::symlink("a", d.path().join("link")).unwrap();
        set(&d.path().join("link"), 900);
        assert_eq!(newest_file(d.path()).unwrap(), Some(300));
    }
}
