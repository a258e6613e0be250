//! ADD of an http(s) URL: the [`UrlFetcher`] the builder is given downloads into a scratch
//! directory (through the proxies of the build args), the result is verified against
//! `--checksum`, and the file's mtime is taken from `Last-Modified`.

mod date;
mod file;
mod proxy;

use std::path::{Path, PathBuf};

pub use date::parse_http_date;
pub use file::DownloadFile;
pub use proxy::ProxyConfig;

/// Any error a fetcher reports, as the source of [`RemoteError::Fetch`].
pub type FetchSource = Box<dyn std::error::Error + Send + Sync>;

/// A downloaded file.
#[derive(Debug, Clone)]
pub struct Download {
    /// Where it was written.
    pub path: PathBuf,
    /// `sha256:<hex>` of its content.
    pub digest: String,
    /// Its size in bytes.
    pub size: u64,
    /// The server's `Last-Modified`, in Unix seconds (also the file's mtime).
    pub last_modified: Option<i64>,
}

/// Downloads URLs for ADD. The builder holds one (`Arc<dyn UrlFetcher>`); the registry client
/// implements it so that downloads share its TLS roots, per-host certificates, timeouts and
/// retries.
pub trait UrlFetcher: Send + Sync {
    /// Downloads `url` into `dest_dir/<file_name(url)>` (see [`DownloadFile`], which gives
    /// the file mode 0600 and the `Last-Modified` mtime), going through the proxy `proxy`
    /// names for it.
    fn fetch(
        &self,
        url: &str,
        dest_dir: &Path,
        proxy: &ProxyConfig,
    ) -> Result<Download, RemoteError>;
}

/// Why a URL source could not be used.
#[derive(Debug, thiserror::Error)]
pub enum RemoteError {
    /// `--checksum` names an algorithm other than sha256.
    #[error("unsupported --checksum {value:?}: only sha256:<hex> is supported")]
    UnsupportedChecksum {
        /// The value given.
        value: String,
    },
    /// `--checksum` is `sha256:` but not followed by 64 hex digits.
    #[error("invalid --checksum {value:?}: expected sha256: and 64 hex digits")]
    InvalidChecksum {
        /// The value given.
        value: String,
    },
    /// The download failed (the source says how).
    #[error("failed to download {url}")]
    Fetch {
        /// The URL, without user info or query.
        url: String,
        /// What went wrong.
        #[source]
        source: FetchSource,
    },
    /// Writing the downloaded file failed.
    #[error("cannot {op} {path}")]
    Io {
        /// What was being done.
        op: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

impl RemoteError {
    /// A download failure of `url` (redacted here) caused by `source`.
    pub fn fetch(url: &str, source: impl Into<FetchSource>) -> RemoteError {
        RemoteError::Fetch {
            url: redact(url),
            source: source.into(),
        }
    }

    fn io(path: &Path, op: &'static str, source: std::io::Error) -> RemoteError {
        RemoteError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// Whether a source word is an http(s) URL.
pub fn is_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

/// The file name an URL's content gets: the last path segment, `__unnamed__` when the path
/// has none (BuildKit's Dockerfile frontend names it so).
pub fn file_name(url: &str) -> String {
    let path = url.split(['?', '#']).next().unwrap_or(url);
    let after_host = path.splitn(4, '/').nth(3).unwrap_or("");
    after_host
        .rsplit('/')
        .find(|s| !s.is_empty())
        .unwrap_or("__unnamed__")
        .to_string()
}

/// A URL fit for messages: no `user:password@`, no query or fragment (signed URLs carry
/// credentials there).
pub fn redact(url: &str) -> String {
    let base = url.split(['?', '#']).next().unwrap_or(url);
    let (scheme, rest) = match base.split_once("://") {
        Some((s, r)) => (format!("{s}://"), r),
        None => (String::new(), base),
    };
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}{}", &rest[at + 1..]),
        None => base.to_string(),
    }
}

/// Checks a `--checksum` value's form (`sha256:` and 64 hex digits); returns it lower-cased.
pub fn parse_checksum(s: &str) -> Result<String, RemoteError> {
    let Some(hex) = s.strip_prefix("sha256:") else {
        return Err(RemoteError::UnsupportedChecksum {
            value: s.to_string(),
        });
    };
    if hex.len() != 64 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(RemoteError::InvalidChecksum {
            value: s.to_string(),
        });
    }
    Ok(format!("sha256:{}", hex.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_checksums() {
        assert_eq!(file_name("https://h/a/b/file.tar.gz?x=1"), "file.tar.gz");
        assert_eq!(file_name("http://h:8080/dir/"), "dir");
        assert_eq!(file_name("http://h"), "__unnamed__");
        assert_eq!(file_name("http://h/?q=a/b"), "__unnamed__");
        let hex = "ab".repeat(32);
        let ok = parse_checksum(&format!("sha256:{}", hex.to_uppercase())).unwrap();
        assert_eq!(ok, format!("sha256:{hex}"));
        let md5 = parse_checksum("md5:00").unwrap_err();
        assert!(
            matches!(md5, RemoteError::UnsupportedChecksum { .. }),
            "{md5}"
        );
        let short = parse_checksum("sha256:zz").unwrap_err();
        assert!(
            matches!(short, RemoteError::InvalidChecksum { .. }),
            "{short}"
        );
    }

    #[test]
    fn urls_in_messages_lose_credentials_and_queries() {
        assert_eq!(
            redact("https://bob:pw@h.example/f.tgz?X-Amz-Signature=s#x"),
            "https://h.example/f.tgz"
        );
        assert_eq!(redact("http://h/a@b"), "http://h/a@b");
        let e = RemoteError::fetch("https://u:p@h/x?t=1", "boom");
        assert_eq!(e.to_string(), "failed to download https://h/x");
        let source = std::error::Error::source(&e).map(|s| s.to_string());
        assert_eq!(source.as_deref(), Some("boom"));
    }
}
