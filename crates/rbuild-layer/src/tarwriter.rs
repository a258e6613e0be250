//! Normalized tar headers: ustar blocks plus a PAX record block only when needed (long names,
//! xattrs, huge ids or sizes). No atime/ctime, empty uname/gname, whole-second mtimes.

use std::io::{self, Read, Write};

use tar::{EntryType, Header};

/// Bytes in a tar block.
pub(crate) const BLOCK: usize = 512;
/// Largest value an 11-digit octal ustar size/mtime field holds.
const MAX_OCTAL_11: u64 = 0o77777777777;
/// Largest value a 7-digit octal ustar uid/gid field holds.
const MAX_OCTAL_7: u64 = 0o7777777;
/// Fixed name of PAX extended headers (GNU tar's spelling) so the bytes never vary.
const PAX_NAME: &[u8] = b"././@PaxHeader";
/// Copy buffer for file contents: the only per-file memory the writer needs.
const COPY_BUF: usize = 256 * 1024;

/// Everything that goes into one tar entry's header(s).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct EntryMeta {
    /// Path inside the layer, no leading `/`; directories end with `/`.
    pub path: Vec<u8>,
    /// Entry type (regular, dir, symlink, hardlink, char, block, fifo).
    pub kind: EntryType,
    /// Permission bits including setuid/setgid/sticky (`st_mode & 0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u64,
    /// Group.
    pub gid: u64,
    /// Content size (regular files only, else 0).
    pub size: u64,
    /// Seconds since the epoch (already clamped; negative times are stored as 0).
    pub mtime: u64,
    /// Symlink target or hardlink target path.
    pub link: Option<Vec<u8>>,
    /// Device major/minor for character and block devices.
    pub dev: Option<(u32, u32)>,
    /// Extended attributes, sorted by name.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Appends one PAX record (`"<len> <key>=<value>\n"`, len counting itself).
fn pax_record(out: &mut Vec<u8>, key: &[u8], value: &[u8]) {
    let body = key.len() + value.len() + 3; // ' ', '=', '\n'
    let mut len = body + 1;
    while len != body + len.to_string().len() {
        len = body + len.to_string().len();
    }
    out.extend_from_slice(len.to_string().as_bytes());
    out.push(b' ');
    out.extend_from_slice(key);
    out.push(b'=');
    out.extend_from_slice(value);
    out.push(b'\n');
}

/// The PAX records `e` needs, in a fixed order; empty when plain ustar suffices.
fn pax_records(e: &EntryMeta) -> Vec<u8> {
    let mut out = Vec::new();
    if e.path.len() > 100 {
        pax_record(&mut out, b"path", &e.path);
    }
    if let Some(link) = e.link.as_ref().filter(|l| l.len() > 100) {
        pax_record(&mut out, b"linkpath", link);
    }
    if e.size > MAX_OCTAL_11 {
        pax_record(&mut out, b"size", e.size.to_string().as_bytes());
    }
    if e.uid > MAX_OCTAL_7 {
        pax_record(&mut out, b"uid", e.uid.to_string().as_bytes());
    }
    if e.gid > MAX_OCTAL_7 {
        pax_record(&mut out, b"gid", e.gid.to_string().as_bytes());
    }
    if e.mtime > MAX_OCTAL_11 {
        pax_record(&mut out, b"mtime", e.mtime.to_string().as_bytes());
    }
    for (name, value) in &e.xattrs {
        let mut key = b"SCHILY.xattr.".to_vec();
        key.extend_from_slice(name);
        pax_record(&mut out, &key, value);
    }
    out
}

/// Copies `src` into a fixed-size field, truncating (the full value then lives in PAX).
fn put(field: &mut [u8], src: &[u8]) {
    let n = src.len().min(field.len());
    field[..n].copy_from_slice(&src[..n]);
}

/// A ustar header block with the given fields; numbers too big for octal use base-256
/// (GNU extension, read by every tar reader) besides their PAX record.
fn ustar_block(path: &[u8], kind: EntryType, e: &EntryMeta, size: u64) -> [u8; BLOCK] {
    let mut h = Header::new_ustar();
    h.set_entry_type(kind);
    h.set_mode(e.mode & 0o7777);
    h.set_uid(e.uid);
    h.set_gid(e.gid);
    h.set_size(size);
    h.set_mtime(e.mtime);
    if let Some(ustar) = h.as_ustar_mut() {
        put(&mut ustar.name, path);
        if let Some(link) = &e.link {
            put(&mut ustar.linkname, link);
        }
    }
    if let Some((major, minor)) = e.dev {
        // Cannot fail on a ustar header.
        let _ = h.set_device_major(major);
        let _ = h.set_device_minor(minor);
    }
    h.set_cksum();
    *h.as_bytes()
}

/// Zero bytes needed to pad `len` to a whole block.
pub(crate) fn padding(len: u64) -> usize {
    ((BLOCK as u64 - len % BLOCK as u64) % BLOCK as u64) as usize
}

/// The header bytes (optional PAX header + its records + ustar block) for `e`.
pub(crate) fn header_bytes(e: &EntryMeta) -> Vec<u8> {
    let records = pax_records(e);
    let mut out = Vec::with_capacity(BLOCK * 2 + records.len());
    if !records.is_empty() {
        let pax = EntryMeta {
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: 0,
            link: None,
            dev: None,
            ..e.clone()
        };
        out.extend_from_slice(&ustar_block(
            PAX_NAME,
            EntryType::XHeader,
            &pax,
            records.len() as u64,
        ));
        out.extend_from_slice(&records);
        out.resize(out.len() + padding(records.len() as u64), 0);
    }
    out.extend_from_slice(&ustar_block(&e.path, e.kind, e, e.size));
    out
}

/// Writes tar entries to `out` and counts them.
pub(crate) struct TarWriter<W: Write> {
    out: W,
    buf: Vec<u8>,
    entries: u64,
}

impl<W: Write> TarWriter<W> {
    /// A writer over `out`.
    pub(crate) fn new(out: W) -> Self {
        TarWriter {
            out,
            buf: vec![0; COPY_BUF],
            entries: 0,
        }
    }

    /// Writes an entry without data (everything but regular files).
    pub(crate) fn entry(&mut self, e: &EntryMeta) -> io::Result<()> {
        self.out.write_all(&header_bytes(e))?;
        self.entries += 1;
        Ok(())
    }

    /// Writes a regular file entry streaming exactly `e.size` bytes from `data`.
    /// Returns `Ok(false)` (after padding with zeros) if `data` ended early.
    pub(crate) fn file(&mut self, e: &EntryMeta, data: &mut dyn Read) -> io::Result<bool> {
        self.entry(e)?;
        let mut left = e.size;
        while left > 0 {
            let want = left.min(self.buf.len() as u64) as usize;
            let n = match data.read(&mut self.buf[..want]) {
                Ok(0) => break,
                Ok(n) => n,
                Err(err) if err.kind() == io::ErrorKind::Interrupted => continue,
                Err(err) => return Err(err),
            };
            self.out.write_all(&self.buf[..n])?;
            left -= n as u64;
        }
        let complete = left == 0;
        if !complete {
            self.zeros(left)?;
        }
        self.zeros(padding(e.size) as u64)?;
        Ok(complete)
    }

    fn zeros(&mut self, mut n: u64) -> io::Result<()> {
        // Only the bytes written are cleared: padding is under one block, and clearing the
        // whole copy buffer per file was a tenth of a 20,000-file COPY's time.
        let fill = n.min(self.buf.len() as u64) as usize;
        self.buf[..fill].fill(0);
        while n > 0 {
            let k = n.min(fill as u64) as usize;
            self.out.write_all(&self.buf[..k])?;
            n -= k as u64;
        }
        Ok(())
    }

    /// Writes the end-of-archive marker (two zero blocks) and returns the writer and entry count.
    pub(crate) fn finish(mut self) -> io::Result<(W, u64)> {
        self.zeros(2 * BLOCK as u64)?;
        Ok((self.out, self.entries))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_record_length_counts_itself() {
        let mut out = Vec::new();
        pax_record(&mut out, b"path", &[b'a'; 95]);
        let text = String::from_utf8(out.clone()).unwrap();
        let (len, _) = text.split_once(' ').unwrap();
        assert_eq!(len.parse::<usize>().unwrap(), out.len());
    }

    #[test]
    fn short_entries_have_no_pax_header() {
        let e = EntryMeta {
            path: b"etc/passwd".to_vec(),
            kind: EntryType::Regular,
            mode: 0o4755,
            uid: 1,
            gid: 2,
            size: 3,
            mtime: 4,
            link: None,
            dev: None,
            xattrs: vec![],
        };
        let bytes = header_bytes(&e);
        assert_eq!(bytes.len(), BLOCK);
        let h = Header::from_byte_slice(&bytes);
        assert_eq!(h.mode().unwrap(), 0o4755);
        assert_eq!(h.username_bytes(), Some(&b""[..]));
    }
}
