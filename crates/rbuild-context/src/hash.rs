//! Content digests of COPY sources for cache keys: type, permissions, link target and data —
//! never mtime, so touching a file does not miss and changing it always does.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::Path;

use sha2::{Digest as _, Sha256};

use super::hashcache::{Digest, StatKey};
use super::select::CopyItem;

/// The digest's start: the entry's type and permission bits.
fn header(kind: &str, mode: u32) -> Sha256 {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update(format!("\0{:o}\0", mode & 0o7777).as_bytes());
    h
}

fn kind(meta: &std::fs::Metadata) -> &'static str {
    let ft = meta.file_type();
    if ft.is_dir() {
        "dir"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_file() {
        "file"
    } else if ft.is_fifo() {
        "fifo"
    } else {
        "other"
    }
}

/// The digest of one entry.
pub fn item_digest(item: &CopyItem) -> std::io::Result<Digest> {
    let meta = &item.source.meta;
    if meta.is_file() {
        return file_digest(&item.source.real, meta.mode(), StatKey::of(meta)).map(|(d, _)| d);
    }
    let mut h = header(kind(meta), meta.mode());
    let ft = meta.file_type();
    if ft.is_symlink() {
        let target = std::fs::read_link(&item.source.real)?;
        h.update(target.as_os_str().as_encoded_bytes());
    } else if ft.is_char_device() || ft.is_block_device() {
        // A device node is copied with its numbers: other numbers are another node.
        h.update(format!(
            "{}\0{}",
            if ft.is_char_device() { 'c' } else { 'b' },
            meta.rdev()
        ));
    }
    Ok(h.finalize().into())
}

/// The digest of the regular file `real` (with permission bits from `mode`), and whether it
/// was unchanged while being read (still stat key `before` after), which is when the digest
/// may be remembered.
pub fn file_digest(real: &Path, mode: u32, before: StatKey) -> std::io::Result<(Digest, bool)> {
    let mut h = header("file", mode);
    let mut f = std::fs::File::open(real)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let after = f.metadata()?;
    let stable = StatKey::of(&after) == before;
    Ok((h.finalize().into(), stable))
}
