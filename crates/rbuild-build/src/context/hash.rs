//! Content digests of COPY sources for cache keys: type, permissions, link target and data —
//! never mtime, so touching a file does not miss and changing it always does.

use std::io::Read;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

use sha2::{Digest as _, Sha256};

use super::select::CopyItem;

/// The digest of one entry (hex).
pub fn item_digest(item: &CopyItem) -> std::io::Result<String> {
    let meta = &item.source.meta;
    let ft = meta.file_type();
    let mut h = Sha256::new();
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
    h.update(kind.as_bytes());
    h.update(format!("\0{:o}\0", meta.mode() & 0o7777).as_bytes());
    if ft.is_symlink() {
        let target = std::fs::read_link(&item.source.real)?;
        h.update(target.as_os_str().as_encoded_bytes());
    } else if ft.is_file() {
        let mut f = std::fs::File::open(&item.source.real)?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = f.read(&mut buf)?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    Ok(hex::encode(h.finalize()))
}
