//! A local directory used as a build context: where it is, what `.dockerignore` hides, and
//! the stat cache of its digests.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rbuild_store::Store;

use super::hashcache::HashCache;
use super::ignore::{parse_ignore_file, IgnoreError, Matcher};
use super::select::PathFilter;

/// Why a context cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ContextError {
    /// The ignore file exists but cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The ignore file has a bad pattern.
    #[error("{path}: {source}")]
    Ignore {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        source: IgnoreError,
    },
}

/// A local context directory.
pub struct LocalContext {
    /// Its root.
    pub dir: PathBuf,
    /// Its `.dockerignore` (empty when there is none).
    pub ignore: Matcher,
    /// Digests of its files, remembered across builds.
    pub hashes: HashCache,
}

/// The ignore file a build uses: `<Dockerfile>.dockerignore` next to the Dockerfile if it
/// exists, else `.dockerignore` at the context root (if it exists).
pub fn ignore_file_for(context: &Path, dockerfile: Option<&Path>) -> Option<PathBuf> {
    let specific = dockerfile.and_then(|df| {
        let name = df.file_name()?.to_string_lossy().to_string();
        Some(df.with_file_name(format!("{name}.dockerignore")))
    });
    specific
        .into_iter()
        .chain(std::iter::once(context.join(".dockerignore")))
        .find(|p| p.is_file())
}

/// Reads and compiles an ignore file.
pub fn read_ignore_file(path: &Path) -> Result<Matcher, ContextError> {
    let text = std::fs::read_to_string(path).map_err(|source| ContextError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    Matcher::new(&parse_ignore_file(&text)).map_err(|source| ContextError::Ignore {
        path: path.to_path_buf(),
        source,
    })
}

impl LocalContext {
    /// The main build context, with its ignore file.
    pub fn open(
        dir: PathBuf,
        dockerfile: Option<&Path>,
        store: Option<Arc<Store>>,
    ) -> Result<LocalContext, ContextError> {
        let ignore = match ignore_file_for(&dir, dockerfile) {
            Some(path) => read_ignore_file(&path)?,
            None => Matcher::default(),
        };
        Ok(LocalContext {
            hashes: HashCache::new(store, &dir),
            dir,
            ignore,
        })
    }

    /// A context that hides nothing (tests, a directory no ignore file applies to).
    pub fn plain(dir: PathBuf, store: Option<Arc<Store>>) -> LocalContext {
        LocalContext {
            hashes: HashCache::new(store, &dir),
            dir,
            ignore: Matcher::default(),
        }
    }
}

impl PathFilter for LocalContext {
    fn excluded(&self, rel: &str) -> bool {
        !self.ignore.is_empty() && self.ignore.excluded(rel)
    }
    fn descend(&self, rel: &str) -> bool {
        self.ignore.may_include_under(rel)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfile_specific_ignore_file_wins() {
        let t = tempfile::tempdir().unwrap();
        let df = t.path().join("sub/app.Dockerfile");
        std::fs::create_dir_all(df.parent().unwrap()).unwrap();
        assert_eq!(ignore_file_for(t.path(), Some(&df)), None);
        std::fs::write(t.path().join(".dockerignore"), "a\n").unwrap();
        assert_eq!(
            ignore_file_for(t.path(), Some(&df)),
            Some(t.path().join(".dockerignore"))
        );
        let specific = t.path().join("sub/app.Dockerfile.dockerignore");
        std::fs::write(&specific, "b\n").unwrap();
        assert_eq!(ignore_file_for(t.path(), Some(&df)), Some(specific));
        let ctx = LocalContext::open(t.path().into(), Some(&df), None).unwrap();
        assert!(ctx.excluded("b/x") && !ctx.excluded("a"));
    }

    #[test]
    fn bad_pattern_names_file_and_pattern() {
        let t = tempfile::tempdir().unwrap();
        std::fs::write(t.path().join(".dockerignore"), "ok\nsrc/[a-\n").unwrap();
        let err = LocalContext::open(t.path().into(), None, None)
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.contains(".dockerignore") && err.contains("src/[a-"),
            "{err}"
        );
    }
}
