//! What the applier needs from a tar header, read once per entry (PAX overrides included).

use tar::{EntryType, Header};

use crate::xattrs;

/// Ownership, permissions, time and xattrs of one entry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Attrs {
    /// Permission bits including setuid/setgid/sticky.
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Seconds since the epoch.
    pub mtime: i64,
    /// Nanoseconds part of the mtime (PAX only).
    pub mtime_nsec: u32,
    /// `SCHILY.xattr.*` records, overlay bookkeeping xattrs removed.
    pub xattrs: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Parses a PAX time such as `1700000000.5` or `-12`.
fn parse_pax_time(v: &[u8]) -> Option<(i64, u32)> {
    let s = std::str::from_utf8(v).ok()?;
    let (secs, frac) = s.split_once('.').unwrap_or((s, ""));
    let secs: i64 = secs.parse().ok()?;
    let digits: String = frac.chars().take(9).collect();
    let nsec = if digits.is_empty() {
        0
    } else {
        let n: u32 = digits.parse().ok()?;
        n * 10u32.pow(9 - digits.len() as u32)
    };
    Some((secs, nsec))
}

fn parse_u32(v: &[u8]) -> Option<u32> {
    std::str::from_utf8(v).ok()?.parse().ok()
}

/// Attrs from the ustar `header` overridden by the entry's PAX records.
pub(crate) fn attrs(header: &Header, pax: &[(Vec<u8>, Vec<u8>)]) -> Attrs {
    let mut a = header_attrs(header);
    for (key, value) in pax {
        apply_pax(&mut a, key, value);
    }
    a
}

/// Attrs from the ustar header alone.
fn header_attrs(header: &Header) -> Attrs {
    Attrs {
        mode: header.mode().unwrap_or(0o644) & 0o7777,
        uid: header
            .uid()
            .ok()
            .and_then(|u| u32::try_from(u).ok())
            .unwrap_or(0),
        gid: header
            .gid()
            .ok()
            .and_then(|g| u32::try_from(g).ok())
            .unwrap_or(0),
        mtime: header
            .mtime()
            .ok()
            .and_then(|t| i64::try_from(t).ok())
            .unwrap_or(0),
        mtime_nsec: 0,
        xattrs: Vec::new(),
    }
}

/// Overrides `a` with one PAX record (owner, time, xattr); others are ignored.
fn apply_pax(a: &mut Attrs, key: &[u8], value: &[u8]) {
    match key {
        b"uid" => a.uid = parse_u32(value).unwrap_or(a.uid),
        b"gid" => a.gid = parse_u32(value).unwrap_or(a.gid),
        b"mtime" => {
            if let Some((s, n)) = parse_pax_time(value) {
                (a.mtime, a.mtime_nsec) = (s, n);
            }
        }
        k => {
            if let Some(name) = k.strip_prefix(b"SCHILY.xattr.") {
                // An image must not plant overlay redirects/metacopy in a snapshot, nor a
                // host SELinux label (the same filter the differ applies).
                if xattrs::is_layer_xattr(name) {
                    a.xattrs.push((name.to_vec(), value.to_vec()));
                }
            }
        }
    }
}

/// Whether the applier knows how to create entries of this type.
pub(crate) fn supported(kind: EntryType) -> bool {
    matches!(
        kind,
        EntryType::Regular
            | EntryType::Continuous
            | EntryType::Directory
            | EntryType::Symlink
            | EntryType::Link
            | EntryType::Char
            | EntryType::Block
            | EntryType::Fifo
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pax_time_fraction() {
        assert_eq!(parse_pax_time(b"12.5"), Some((12, 500_000_000)));
        assert_eq!(parse_pax_time(b"-3"), Some((-3, 0)));
        assert_eq!(parse_pax_time(b"x"), None);
    }

    #[test]
    fn overlay_xattrs_from_a_tar_are_dropped() {
        let h = Header::new_ustar();
        let pax = vec![
            (
                b"SCHILY.xattr.trusted.overlay.redirect".to_vec(),
                b"/x".to_vec(),
            ),
            (b"SCHILY.xattr.user.a".to_vec(), b"1".to_vec()),
            (b"uid".to_vec(), b"3000000".to_vec()),
        ];
        let a = attrs(&h, &pax);
        assert_eq!(a.xattrs, vec![(b"user.a".to_vec(), b"1".to_vec())]);
        assert_eq!(a.uid, 3_000_000);
    }
}
