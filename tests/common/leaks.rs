//! Looking for a secret's value everywhere a build leaves bytes: every file of a directory
//! tree, decompressing gzip and zstd files (layer blobs) on the way, and tar archives (the
//! `-o type=oci|docker` outputs) unpacked first.

use std::path::{Path, PathBuf};
use std::process::Command;

use rbuild_testkit::require_tool;

use super::text;

const GZIP: &[u8] = &[0x1f, 0x8b];
const ZSTD: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];

/// Whether `needle` occurs in `hay`.
pub fn contains(hay: &[u8], needle: &str) -> bool {
    let n = needle.as_bytes();
    !n.is_empty() && hay.windows(n.len()).any(|w| w == n)
}

/// The files under `root` (not following symlinks) whose bytes, or decompressed bytes, hold
/// `needle`. Also returns how many files were searched, so a test can see it searched some.
pub fn files_holding(root: &Path, needle: &str) -> (Vec<PathBuf>, usize) {
    let mut hits = Vec::new();
    let mut searched = 0;
    let mut todo = vec![root.to_path_buf()];
    while let Some(dir) = todo.pop() {
        for e in std::fs::read_dir(&dir).unwrap().flatten() {
            let ty = e.file_type().unwrap();
            if ty.is_dir() {
                todo.push(e.path());
            } else if ty.is_file() {
                searched += 1;
                if file_holds(&e.path(), needle) {
                    hits.push(e.path());
                }
            } else if ty.is_symlink() {
                let target = std::fs::read_link(e.path()).unwrap();
                if contains(target.as_os_str().as_encoded_bytes(), needle) {
                    hits.push(e.path());
                }
            }
        }
    }
    (hits, searched)
}

/// Whether the file, as stored or decompressed, holds `needle`.
pub fn file_holds(path: &Path, needle: &str) -> bool {
    let Ok(bytes) = std::fs::read(path) else {
        return false;
    };
    if contains(&bytes, needle) {
        return true;
    }
    let tool = if bytes.starts_with(GZIP) {
        ("gzip", "gzip")
    } else if bytes.starts_with(ZSTD) {
        ("zstd", "zstd")
    } else {
        return false;
    };
    let out = Command::new(require_tool(tool.0, tool.1))
        .arg("-dc")
        .arg(path)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{} -dc {} failed: {}",
        tool.0,
        path.display(),
        text(&out)
    );
    contains(&out.stdout, needle)
}

/// Unpacks the tar archive `tar` into `into` (then [`files_holding`] searches it, layers
/// decompressed).
pub fn unpack(tar: &Path, into: &Path) {
    std::fs::create_dir_all(into).unwrap();
    let out = Command::new(require_tool("tar", "tar"))
        .arg("-xf")
        .arg(tar)
        .arg("-C")
        .arg(into)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "tar -xf {}: {}",
        tar.display(),
        text(&out)
    );
}
