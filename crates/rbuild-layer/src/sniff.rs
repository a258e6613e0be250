//! What a blob or file is, from its first bytes: a tar, or a tar compressed with gzip, zstd,
//! bzip2 or xz. The one place rbuild recognises compression (layers, `load`, ADD archives).

use rbuild_oci::media_type;

/// How many leading bytes [`detect`] needs to recognise everything (a whole tar header).
pub const SNIFF_LEN: usize = 512;

const GZIP_MAGIC: &[u8] = &[0x1f, 0x8b];
const ZSTD_MAGIC: &[u8] = &[0x28, 0xb5, 0x2f, 0xfd];
const BZIP2_MAGIC: &[u8] = b"BZh";
const XZ_MAGIC: &[u8] = &[0xfd, b'7', b'z', b'X', b'Z', 0];

/// What a blob's first bytes announce.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// An uncompressed tar (its first header's checksum is right).
    Tar,
    /// gzip magic `1f 8b`.
    Gzip,
    /// zstd frame magic `28 b5 2f fd`.
    Zstd,
    /// bzip2 magic `BZh`.
    Bzip2,
    /// xz magic `fd 37 7a 58 5a 00`.
    Xz,
    /// None of these: not an archive, or a tar that starts with zero blocks (an empty layer).
    Unknown,
}

impl Detected {
    /// The OCI layer media type of a blob of this kind, for those images can carry
    /// (an `Unknown` blob can only be a plain tar, e.g. the all-zero empty layer).
    pub fn layer_media_type(self) -> Option<&'static str> {
        match self {
            Detected::Tar | Detected::Unknown => Some(media_type::OCI_LAYER_TAR),
            Detected::Gzip => Some(media_type::OCI_LAYER_GZIP),
            Detected::Zstd => Some(media_type::OCI_LAYER_ZSTD),
            Detected::Bzip2 | Detected::Xz => None,
        }
    }

    /// A short name for messages (`gzip`, `tar`, ...).
    pub fn name(self) -> &'static str {
        match self {
            Detected::Tar => "tar",
            Detected::Gzip => "gzip",
            Detected::Zstd => "zstd",
            Detected::Bzip2 => "bzip2",
            Detected::Xz => "xz",
            Detected::Unknown => "unknown",
        }
    }
}

/// Classifies a blob by its first bytes (up to [`SNIFF_LEN`]; fewer only at its end).
pub fn detect(head: &[u8]) -> Detected {
    if head.starts_with(GZIP_MAGIC) {
        Detected::Gzip
    } else if head.starts_with(ZSTD_MAGIC) {
        Detected::Zstd
    } else if head.starts_with(BZIP2_MAGIC) {
        Detected::Bzip2
    } else if head.starts_with(XZ_MAGIC) {
        Detected::Xz
    } else if is_tar_header(head) {
        Detected::Tar
    } else {
        Detected::Unknown
    }
}

/// Whether a 512-byte block is a tar header: not all zero, and its checksum (the byte sum
/// with the checksum field read as spaces) is the octal number that field holds.
pub fn is_tar_header(block: &[u8]) -> bool {
    let Some(block) = block.get(..512) else {
        return false;
    };
    if block.iter().all(|b| *b == 0) {
        return false;
    }
    let field = String::from_utf8_lossy(&block[148..156]);
    let Ok(want) = u32::from_str_radix(field.trim_matches(['\0', ' ']), 8) else {
        return false;
    };
    let sum: u32 = block
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                u32::from(*b)
            }
        })
        .sum();
    sum == want
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tar() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(2);
        h.set_mode(0o644);
        h.set_cksum();
        b.append_data(&mut h, "hi", &b"hi"[..]).unwrap();
        b.into_inner().unwrap()
    }

    #[test]
    fn recognises_every_format_by_content() {
        let tar = tar();
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        let gz = gz.finish().unwrap();
        assert_eq!(detect(&tar[..SNIFF_LEN]), Detected::Tar);
        assert_eq!(detect(&gz), Detected::Gzip);
        assert_eq!(
            detect(&zstd::encode_all(&tar[..], 1).unwrap()),
            Detected::Zstd
        );
        assert_eq!(detect(b"BZh91AY&SY"), Detected::Bzip2);
        assert_eq!(
            detect(&[0xfd, b'7', b'z', b'X', b'Z', 0, 0, 4]),
            Detected::Xz
        );
    }

    #[test]
    fn anything_else_is_unknown() {
        assert_eq!(detect(b""), Detected::Unknown);
        assert_eq!(detect(&[0x1f]), Detected::Unknown);
        assert_eq!(detect(b"usr/"), Detected::Unknown);
        assert_eq!(
            detect(&[0u8; 1024]),
            Detected::Unknown,
            "zero blocks end a tar"
        );
        let mut bad = tar();
        bad[0] ^= 1;
        assert_eq!(detect(&bad), Detected::Unknown, "a wrong checksum");
        assert_eq!(detect(&tar()[..511]), Detected::Unknown, "a short header");
    }

    #[test]
    fn layer_media_types() {
        assert_eq!(
            Detected::Gzip.layer_media_type(),
            Some(media_type::OCI_LAYER_GZIP)
        );
        assert_eq!(
            Detected::Unknown.layer_media_type(),
            Some(media_type::OCI_LAYER_TAR)
        );
        assert_eq!(Detected::Xz.layer_media_type(), None);
        assert_eq!(Detected::Bzip2.name(), "bzip2");
    }
}
