//! Content digests of COPY sources for cache keys: type, permissions, link target and data —
//! never mtime, so touching a file does not miss and changing it always does.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use sha2::{Digest as _, Sha256};

use super::hashcache::StatKey;
use super::select::CopyItem;

fn header(meta: &std::fs::Metadata) -> Sha256 {
    let ft = meta.file_type();
    let kind = if ft.is_dir() {
        "dir"
    } else if ft.is_symlink() {
        "symlink"
    } else if ft.is_file() {
        "file"
    } else if ft.is_fifo() {
        "fifo"
    } else {
        "other"
    };
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update(format!("\0{:o}\0", meta.mode() & 0o7777).as_bytes());
    h
}

/// The digest of one entry (hex).
pub fn item_digest(item: &CopyItem) -> std::io::Result<String> {
    let meta = &item.source.meta;
    if meta.is_file() {
        return file_digest(item).map(|(d, _)| d);
    }
    let mut h = header(meta);
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(&item.source.real)?;
        h.update(target.as_os_str().as_encoded_bytes());
    }
    Ok(hex::encode(h.finalize()))
}

/// The digest of a regular file, and whether it was unchanged while being read (same stat
/// key before and after), which is when the digest may be remembered.
pub fn file_digest(item: &CopyItem) -> std::io::Result<(String, bool)> {
    let mut h = header(&item.source.meta);
    let mut f = std::fs::File::open(&item.source.real)?;
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    let after = f.metadata()?;
    let stable = StatKey::of(&after) == StatKey::of(&item.source.meta);
    Ok((hex::encode(h.finalize()), stable))
}
