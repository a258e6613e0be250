//! The file a download is written to: created in the scratch directory under the URL's file
//! name, hashed as it is written (one pass), finished with Docker's mode and `Last-Modified`.

use std::fs::File;
use std::io::{self, BufWriter, Seek, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest as _, Sha256};

use super::{file_name, Download, RemoteError};

/// A download being written; fetchers stream the body into it (it implements [`Write`]).
pub struct DownloadFile {
    path: PathBuf,
    file: BufWriter<File>,
    hasher: Sha256,
    written: u64,
}

impl DownloadFile {
    /// Creates (or truncates) `dir/<file name of url>`.
    pub fn create(dir: &Path, url: &str) -> Result<DownloadFile, RemoteError> {
        let path = dir.join(file_name(url));
        let file = File::create(&path).map_err(|e| RemoteError::io(&path, "create", e))?;
        Ok(DownloadFile {
            path,
            file: BufWriter::with_capacity(1 << 20, file),
            hasher: Sha256::new(),
            written: 0,
        })
    }

    /// Where the content goes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Bytes written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Drops what was written, to start over (the server ignored a `Range`).
    pub fn restart(&mut self) -> Result<(), RemoteError> {
        let cut = self
            .file
            .flush()
            .and_then(|()| self.file.get_mut().set_len(0))
            .and_then(|()| self.file.rewind());
        cut.map_err(|e| RemoteError::io(&self.path, "truncate", e))?;
        self.hasher = Sha256::new();
        self.written = 0;
        Ok(())
    }

    /// Closes the file with mode 0600 (as Docker does) and, when the server sent
    /// `Last-Modified`, that modification time.
    pub fn finish(self, last_modified: Option<i64>) -> Result<Download, RemoteError> {
        let DownloadFile {
            path,
            file,
            hasher,
            written,
        } = self;
        file.into_inner()
            .map_err(|e| RemoteError::io(&path, "write", e.into_error()))?;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
            .map_err(|e| RemoteError::io(&path, "chmod", e))?;
        if let Some(t) = last_modified {
            set_mtime(&path, t).map_err(|e| RemoteError::io(&path, "set the time of", e))?;
        }
        Ok(Download {
            path,
            digest: format!("sha256:{}", hex::encode(hasher.finalize())),
            size: written,
            last_modified,
        })
    }
}

impl Write for DownloadFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.file.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.file.flush()
    }
}

fn set_mtime(path: &Path, secs: i64) -> io::Result<()> {
    let ts = rustix::fs::Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    let times = rustix::fs::Timestamps {
        last_access: ts,
        last_modification: ts,
    };
    rustix::fs::utimensat(rustix::fs::CWD, path, &times, rustix::fs::AtFlags::empty())
        .map_err(io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    #[test]
    fn hashes_what_it_writes_and_restarts_clean() {
        let t = tempfile::tempdir().unwrap();
        let mut f = DownloadFile::create(t.path(), "http://h/dir/a.txt?sig=1").unwrap();
        f.write_all(b"garbage").unwrap();
        f.restart().unwrap();
        f.write_all(b"hello").unwrap();
        assert_eq!(f.written(), 5);
        let d = f.finish(Some(784111777)).unwrap();
        assert_eq!(d.path, t.path().join("a.txt"));
        assert_eq!(std::fs::read(&d.path).unwrap(), b"hello");
        let want = format!("sha256:{}", hex::encode(Sha256::digest(b"hello")));
        assert_eq!((d.digest, d.size), (want, 5));
        let m = std::fs::metadata(&d.path).unwrap();
        assert_eq!((m.mode() & 0o777, m.mtime()), (0o600, 784111777));
    }
}
