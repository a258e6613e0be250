//! `OutputFile`: the one way rbuild writes a file the user named (`save -o`, `--output
//! dest=`, metadata and image id files).
//!
//! * A regular file, or nothing: written to a temp file in the same directory, synced, and
//!   renamed over the name, so a crash or error never leaves a truncated file there.
//! * A character device, FIFO or socket (`/dev/null`, `/dev/stdout`, a pipe): written
//!   straight into it, never unlinked, renamed over or truncated.
//! * A directory is refused, and so is a block device (an archive is never written over a
//!   disk by accident).
//! * Symlinks are followed, as shell redirection and the Docker CLI do: the file they point
//!   to is what gets replaced (or streamed into), the link stays. Opening a device that is
//!   not behind a link uses `O_NOFOLLOW`, the opened file is checked again with `fstat`, and
//!   the rename is refused if the name no longer holds a regular file: a destination swapped
//!   for another kind of file while we write is not replaced.

use std::fs::{self, File, OpenOptions};
use std::io::{self, BufWriter, Write};
use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};

use crate::error::{IoContext, Result, StoreError};
use crate::lock;

/// Symlink hops followed by hand (dangling links) before giving up, as the kernel's limit.
const MAX_LINKS: usize = 40;

/// What the destination is.
enum Kind {
    /// A regular file or nothing: replace `PathBuf` atomically.
    Replace(PathBuf),
    /// A character device or FIFO at this name; `true` if the name is a symlink.
    Stream(PathBuf, bool),
    /// A unix socket at this name.
    Socket(PathBuf),
}

/// Where the bytes go.
enum Sink {
    File(File),
    Socket(UnixStream),
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Sink::File(f) => f.write(buf),
            Sink::Socket(s) => s.write(buf),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            Sink::File(f) => f.flush(),
            Sink::Socket(s) => s.flush(),
        }
    }
}

/// A destination being written; [`OutputFile::finish`] completes it. Dropping it unfinished
/// removes the temp file (the destination is untouched).
pub struct OutputFile {
    path: PathBuf,
    out: Option<BufWriter<Sink>>,
    /// (temp file, final name) when replacing atomically.
    replace: Option<(PathBuf, PathBuf)>,
}

fn classify(path: &Path) -> Result<Kind> {
    let mut cur = path.to_path_buf();
    for _ in 0..MAX_LINKS {
        let link = fs::symlink_metadata(&cur).is_ok_and(|m| m.file_type().is_symlink());
        // Followed by the kernel, so /dev/stdout's magic link to a pipe resolves too.
        let meta = match fs::metadata(&cur) {
            Ok(m) => m,
            Err(e) if e.kind() == io::ErrorKind::NotFound && link => {
                let target = fs::read_link(&cur).at(&cur)?;
                cur = cur.parent().unwrap_or(Path::new("/")).join(target);
                continue;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Kind::Replace(cur)),
            Err(e) => return Err(e).at(&cur),
        };
        let ft = meta.file_type();
        return match () {
            _ if ft.is_file() && link => Ok(Kind::Replace(fs::canonicalize(&cur).at(&cur)?)),
            _ if ft.is_file() => Ok(Kind::Replace(cur)),
            _ if ft.is_dir() => Err(StoreError::OutputIsDirectory(path.to_path_buf())),
            _ if ft.is_char_device() || ft.is_fifo() => Ok(Kind::Stream(cur, link)),
            _ if ft.is_socket() => Ok(Kind::Socket(cur)),
            _ => Err(StoreError::OutputRefused {
                path: path.to_path_buf(),
                why: "it is a block device".into(),
            }),
        };
    }
    Err(io::Error::from_raw_os_error(libc::ELOOP)).at(path)
}

/// Opens a device or FIFO for writing as it is: no create, no truncate.
fn open_stream(path: &Path, through_link: bool) -> Result<File> {
    let mut flags = libc::O_NOCTTY | libc::O_CLOEXEC;
    if !through_link {
        flags |= libc::O_NOFOLLOW;
    }
    let file = OpenOptions::new()
        .write(true)
        .custom_flags(flags)
        .open(path)
        .at(path)?;
    let ft = file.metadata().at(path)?.file_type();
    if !(ft.is_char_device() || ft.is_fifo()) {
        return Err(StoreError::OutputRefused {
            path: path.to_path_buf(),
            why: "it was replaced by another kind of file while being opened".into(),
        });
    }
    Ok(file)
}

/// Creates the temp file next to `dest`.
fn create_temp(dest: &Path) -> Result<(PathBuf, File)> {
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let name = dest.file_name().unwrap_or_default().to_string_lossy();
    let tmp = dir.join(lock::unique_name(&format!(".{name}.tmp-")));
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .custom_flags(libc::O_CLOEXEC)
        .open(&tmp)
        .at(dest)?;
    Ok((tmp, file))
}

impl OutputFile {
    /// Opens the destination `path` as described in the module docs.
    pub fn create(path: &Path) -> Result<OutputFile> {
        let (sink, replace) = match classify(path)? {
            Kind::Replace(dest) => {
                let (tmp, file) = create_temp(&dest)?;
                (Sink::File(file), Some((tmp, dest)))
            }
            Kind::Stream(at, link) => (Sink::File(open_stream(&at, link)?), None),
            Kind::Socket(at) => (Sink::Socket(UnixStream::connect(&at).at(&at)?), None),
        };
        Ok(OutputFile {
            path: path.to_path_buf(),
            out: Some(BufWriter::with_capacity(1 << 20, sink)),
            replace,
        })
    }

    /// Writes `data` to `path` as one `OutputFile` (metadata and image id files).
    pub fn write_all_to(path: &Path, data: &[u8]) -> Result<()> {
        let mut out = OutputFile::create(path)?;
        out.write_all(data).at(path)?;
        out.finish()
    }

    /// Flushes; for a replaced file, syncs it and renames it into place.
    pub fn finish(mut self) -> Result<()> {
        let Some(out) = self.out.take() else {
            return Ok(());
        };
        let sink = out
            .into_inner()
            .map_err(|e| e.into_error())
            .at(&self.path)?;
        let Some((tmp, dest)) = self.replace.take() else {
            return Ok(());
        };
        let res = publish(sink, &tmp, &dest);
        if res.is_err() {
            let _ = fs::remove_file(&tmp);
        }
        res
    }
}

/// Syncs the temp file and renames it over `dest`, unless `dest` became something other
/// than a regular file meanwhile.
fn publish(sink: Sink, tmp: &Path, dest: &Path) -> Result<()> {
    if let Sink::File(file) = &sink {
        file.sync_all().at(tmp)?;
    }
    match fs::symlink_metadata(dest) {
        Ok(m) if !m.file_type().is_file() => {
            return Err(StoreError::OutputRefused {
                path: dest.to_path_buf(),
                why: "it stopped being a regular file while being written".into(),
            })
        }
        _ => {}
    }
    fs::rename(tmp, dest).at(dest)?;
    let dir = match dest.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    lock::fsync_dir(dir)
}

impl Write for OutputFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self.out.as_mut() {
            Some(w) => w.write(buf),
            None => Err(io::Error::other("output already finished")),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        self.out.as_mut().map_or(Ok(()), |w| w.flush())
    }
}

impl Drop for OutputFile {
    fn drop(&mut self) {
        if let Some((tmp, _)) = self.replace.take() {
            let _ = fs::remove_file(tmp);
        }
    }
}
