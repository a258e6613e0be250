//! Host canaries for escape tests: files a hostile build aims at, watched with inotify from the
//! moment they are made. inotify follows the inode, not a path, so an open through any mount
//! or namespace (a bind mount inside a build's sandbox included) is seen: "never read" is an
//! observation, not an inference from the content staying the same. Their directory is watched
//! for entries made, removed or renamed.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

/// Events that mean the file was touched at all (read, written, renamed, deleted, chmod'ed).
const FILE_EVENTS: u32 = libc::IN_OPEN
    | libc::IN_ACCESS
    | libc::IN_MODIFY
    | libc::IN_ATTRIB
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF;

/// Events of a directory: an entry made, removed or renamed in it, or the directory itself
/// removed, moved or chmod'ed. Not its opening: anything on the machine that walks /tmp (a
/// `du`, a `find`) lists it, while a step's escape would read or delete the files, which are
/// watched for that.
const DIR_EVENTS: u32 = libc::IN_CREATE
    | libc::IN_DELETE
    | libc::IN_MOVED_FROM
    | libc::IN_MOVED_TO
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_ATTRIB;

/// A directory (on the host, outside any store) holding canary files, all watched.
pub struct Canary {
    dir: tempfile::TempDir,
    files: Vec<(String, String)>,
    empty_dirs: Vec<String>,
    inotify: OwnedFd,
}

impl Canary {
    /// Makes a fresh directory under `parent` with one file per name, each holding a unique
    /// text, and starts watching the directory and the files.
    pub fn new(parent: &Path, names: &[&str]) -> io::Result<Canary> {
        Canary::with_stubs(parent, names, &[], &[])
    }

    /// Like [`Canary::new`], plus empty files and empty directories: what a builder's cleanup
    /// of mount-point stubs would take for its own and delete (BuildKit CVE-2024-23652).
    pub fn with_stubs(
        parent: &Path,
        names: &[&str],
        empty_files: &[&str],
        empty_dirs: &[&str],
    ) -> io::Result<Canary> {
        let dir = tempfile::Builder::new()
            .prefix("rbuild-canary-")
            .tempdir_in(parent)?;
        let mut files = Vec::new();
        for name in names {
            let body = format!("CANARY-{}-{name}-{}", std::process::id(), nanos());
            fs::write(dir.path().join(name), &body)?;
            files.push((name.to_string(), body));
        }
        for name in empty_files {
            fs::write(dir.path().join(name), "")?;
            files.push((name.to_string(), String::new()));
        }
        for name in empty_dirs {
            fs::create_dir(dir.path().join(name))?;
        }
        let empty_dirs: Vec<String> = empty_dirs.iter().map(|d| d.to_string()).collect();
        // SAFETY: plain syscall; the descriptor is owned by the OwnedFd below.
        let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        // SAFETY: fd is a fresh descriptor nobody else owns.
        let inotify = unsafe { OwnedFd::from_raw_fd(fd) };
        let canary = Canary {
            dir,
            files,
            empty_dirs,
            inotify,
        };
        canary.watch(canary.dir.path(), DIR_EVENTS)?;
        for (name, _) in &canary.files {
            canary.watch(&canary.dir.path().join(name), FILE_EVENTS)?;
        }
        for name in &canary.empty_dirs {
            canary.watch(&canary.dir.path().join(name), DIR_EVENTS)?;
        }
        Ok(canary)
    }

    fn watch(&self, path: &Path, mask: u32) -> io::Result<()> {
        let c = std::ffi::CString::new(path.as_os_str().as_encoded_bytes())
            .map_err(io::Error::other)?;
        // SAFETY: valid descriptor and NUL-terminated path.
        let wd = unsafe { libc::inotify_add_watch(self.inotify.as_raw_fd(), c.as_ptr(), mask) };
        if wd < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// The watched directory, as a hostile Dockerfile names it.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// The path of the canary file `name`.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// The unique text of the canary file `name` (grep a build's output for it).
    pub fn body(&self, name: &str) -> &str {
        self.files
            .iter()
            .find(|(n, _)| n == name)
            .map_or("", |(_, b)| b.as_str())
    }

    /// Every text the canaries hold (empty ones aside).
    pub fn bodies(&self) -> Vec<&str> {
        let texts = self.files.iter().map(|(_, b)| b.as_str());
        texts.filter(|b| !b.is_empty()).collect()
    }

    /// The inotify events seen since the last call, as `mask` values (empty: untouched).
    pub fn events(&self) -> io::Result<Vec<u32>> {
        let mut out = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            // SAFETY: reading into a buffer we own, of the length given.
            let n =
                unsafe { libc::read(self.inotify.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
            if n < 0 {
                let e = io::Error::last_os_error();
                if e.kind() == io::ErrorKind::WouldBlock {
                    return Ok(out);
                }
                return Err(e);
            }
            out.extend(parse_events(&buf[..n as usize]));
        }
    }

    /// Panics unless no canary was opened, read, changed or removed and nothing appeared
    /// next to them since they were made; then checks each file still holds its text.
    pub fn assert_untouched(&self, what: &str) {
        let events = self.events().expect("reading the canary's inotify events");
        assert!(
            events.is_empty(),
            "{what}: the host canary in {} was touched (inotify masks {events:x?})",
            self.dir.path().display()
        );
        let mut names: Vec<String> = fs::read_dir(self.dir.path())
            .expect("listing the canary directory")
            .map(|e| {
                e.expect("canary entry")
                    .file_name()
                    .to_string_lossy()
                    .to_string()
            })
            .collect();
        names.sort();
        let mut want: Vec<String> = self.files.iter().map(|(n, _)| n.clone()).collect();
        want.extend(self.empty_dirs.iter().cloned());
        want.sort();
        assert_eq!(names, want, "{what}: the canary directory changed");
        for (name, body) in &self.files {
            let now = fs::read_to_string(self.dir.path().join(name)).unwrap_or_default();
            assert_eq!(&now, body, "{what}: canary {name} changed");
        }
        for name in &self.empty_dirs {
            let entries = fs::read_dir(self.dir.path().join(name)).map(|d| d.count());
            assert_eq!(entries.ok(), Some(0), "{what}: canary dir {name} changed");
        }
        // Our own checks above were events too: start clean for the next phase.
        let _ = self.events();
    }
}

/// The masks of the `struct inotify_event`s in `buf`.
fn parse_events(buf: &[u8]) -> Vec<u32> {
    let head = std::mem::size_of::<libc::inotify_event>();
    let mut out = Vec::new();
    let mut at = 0;
    while at + head <= buf.len() {
        let mask = u32::from_ne_bytes(buf[at + 4..at + 8].try_into().unwrap_or([0; 4]));
        let len = u32::from_ne_bytes(buf[at + 12..at + 16].try_into().unwrap_or([0; 4]));
        out.push(mask);
        at += head + len as usize;
    }
    out
}

fn nanos() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}
