//! ADD of local archives: tar, optionally compressed with gzip, bzip2, xz or zstd, recognised
//! by content (never by name), and unpacked into the destination.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::MetadataExt;

use rbuild_layer::{apply_layer, WhiteoutMode};
use rbuild_layer::{apply_layer_over, ApplyOptions, Beneath, DirMeta, LayerError, Underlay};

use super::tree::{clean_components, Tree};

/// Why an archive could not be unpacked.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    /// The archive could not be opened, or its decompressor started.
    #[error("cannot read archive {path}")]
    Open {
        /// The archive.
        path: PathBuf,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// Decompressing or unpacking failed.
    #[error("cannot unpack {path}")]
    Unpack {
        /// The archive.
        path: PathBuf,
        /// The error.
        #[source]
        source: LayerError,
    },
}

/// The compression of a recognised archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compression {
    /// A plain tar.
    None,
    /// gzip.
    Gzip,
    /// bzip2.
    Bzip2,
    /// xz.
    Xz,
    /// zstd.
    Zstd,
}

/// The compression a file's first bytes announce.
pub fn sniff(head: &[u8]) -> Compression {
    if head.starts_with(&[0x1f, 0x8b]) {
        Compression::Gzip
    } else if head.starts_with(b"BZh") {
        Compression::Bzip2
    } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
        Compression::Xz
    } else if head.starts_with(&[0x28, 0xb5, 0x2f, 0xfd]) {
        Compression::Zstd
    } else {
        Compression::None
    }
}

/// Whether a 512-byte block is a tar header (its checksum is right).
pub fn is_tar_header(block: &[u8]) -> bool {
    if block.len() < 512 || block.iter().all(|b| *b == 0) {
        return false;
    }
    let field = String::from_utf8_lossy(&block[148..156]);
    let Ok(want) = u32::from_str_radix(field.trim_matches(['\0', ' ']), 8) else {
        return false;
    };
    let sum: u32 = block[..512]
        .iter()
        .enumerate()
        .map(|(i, b)| {
            if (148..156).contains(&i) {
                32
            } else {
                *b as u32
            }
        })
        .sum();
    sum == want
}

/// A decompressing reader over `file`.
fn decoder(file: File, c: Compression) -> io::Result<Box<dyn Read>> {
    let r = BufReader::new(file);
    Ok(match c {
        Compression::None => Box::new(r),
        Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(r)),
        Compression::Bzip2 => Box::new(bzip2::read::MultiBzDecoder::new(r)),
        Compression::Xz => Box::new(liblzma::read::XzDecoder::new_multi_decoder(r)),
        Compression::Zstd => Box::new(zstd::stream::read::Decoder::new(r)?),
    })
}

/// The compression of `path` if it is a (possibly compressed) tar archive.
pub fn detect(path: &Path) -> io::Result<Option<Compression>> {
    let mut head = [0u8; 6];
    let n = File::open(path)?.read(&mut head)?;
    let c = sniff(&head[..n]);
    let mut block = vec![0u8; 512];
    let mut r = decoder(File::open(path)?, c)?;
    let mut got = 0;
    while got < block.len() {
        match r.read(&mut block[got..]) {
            Ok(0) => break,
            Ok(k) => got += k,
            // A corrupt stream is not an archive: it is copied as a file, as Docker does.
            Err(_) => return Ok(None),
        }
    }
    Ok(is_tar_header(&block[..got]).then_some(c))
}

/// The image beneath an ADD's destination, as the applier sees it: BuildKit unpacks into the
/// merged filesystem (chrooted at the destination), so the image's symlinks and directories
/// lead the archive's paths.
pub struct ImageBelow<'a> {
    tree: &'a Tree,
    base: Vec<String>,
}

impl<'a> ImageBelow<'a> {
    /// The image `tree` beneath its directory `dest` (already resolved through its symlinks).
    pub fn new(tree: &'a Tree, dest: &str) -> Self {
        ImageBelow {
            tree,
            base: clean_components(dest),
        }
    }
}

impl Underlay for ImageBelow<'_> {
    fn entry(&self, rel: &[Vec<u8>]) -> Option<Beneath> {
        let mut comps = self.base.clone();
        for c in rel {
            // The tree's paths are text: a name that is not is no entry of it.
            comps.push(std::str::from_utf8(c).ok()?.to_string());
        }
        let found = self.tree.resolve(&comps.join("/"), false)?;
        let m = &found.meta;
        Some(if m.is_dir() {
            Beneath::Dir(DirMeta {
                mode: m.mode() & 0o7777,
                uid: m.uid(),
                gid: m.gid(),
                mtime: m.mtime(),
                mtime_nsec: u32::try_from(m.mtime_nsec()).unwrap_or(0),
            })
        } else if m.file_type().is_symlink() {
            Beneath::Symlink(
                std::fs::read_link(&found.real)
                    .ok()?
                    .into_os_string()
                    .into_vec(),
            )
        } else {
            Beneath::Other
        })
    }
}

/// Unpacks the archive at `path` into `target` (an existing directory); whiteouts in it delete.
/// `owner` (from `--chown`) replaces every entry's owner, as BuildKit does since v0.23. With
/// `below`, `target` is an upper layer over that image.
pub fn extract(
    path: &Path,
    c: Compression,
    target: &Path,
    owner: Option<(u32, u32)>,
    below: Option<&dyn Underlay>,
) -> Result<(), ArchiveError> {
    let open = |source| ArchiveError::Open {
        path: path.to_path_buf(),
        source,
    };
    let mut r = File::open(path)
        .and_then(|file| decoder(file, c))
        .map_err(open)?;
    let opts = ApplyOptions {
        whiteouts: WhiteoutMode::Apply,
        owner,
    };
    let applied = match below {
        Some(b) => apply_layer_over(&mut r, target, &opts, b),
        None => apply_layer(&mut r, target, &opts),
    };
    applied.map(|_| ()).map_err(|source| ArchiveError::Unpack {
        path: path.to_path_buf(),
        source,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn tar_bytes() -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_gnu();
        h.set_size(3);
        h.set_mode(0o640);
        h.set_cksum();
        b.append_data(&mut h, "dir/f.txt", &b"abc"[..]).unwrap();
        b.into_inner().unwrap()
    }

    fn check(bytes: &[u8], want: Option<Compression>) {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("a");
        std::fs::write(&p, bytes).unwrap();
        assert_eq!(detect(&p).unwrap(), want);
        if let Some(c) = want {
            let out = t.path().join("out");
            std::fs::create_dir(&out).unwrap();
            extract(&p, c, &out, None, None).unwrap();
            assert_eq!(std::fs::read(out.join("dir/f.txt")).unwrap(), b"abc");
        }
    }

    #[test]
    fn every_compression_is_recognised_by_content() {
        let tar = tar_bytes();
        check(&tar, Some(Compression::None));
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar).unwrap();
        check(&gz.finish().unwrap(), Some(Compression::Gzip));
        let mut bz = bzip2::write::BzEncoder::new(Vec::new(), bzip2::Compression::fast());
        bz.write_all(&tar).unwrap();
        check(&bz.finish().unwrap(), Some(Compression::Bzip2));
        let mut xz = liblzma::write::XzEncoder::new(Vec::new(), 1);
        xz.write_all(&tar).unwrap();
        check(&xz.finish().unwrap(), Some(Compression::Xz));
        check(
            &zstd::encode_all(&tar[..], 1).unwrap(),
            Some(Compression::Zstd),
        );
    }

    #[test]
    fn chown_replaces_every_entry_owner() {
        use std::os::unix::fs::MetadataExt;
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("a.tar");
        std::fs::write(&p, tar_bytes()).unwrap();
        let out = t.path().join("out");
        std::fs::create_dir(&out).unwrap();
        extract(&p, Compression::None, &out, Some((4321, 8765)), None).unwrap();
        // `dir` has no entry of its own in this archive: only the entries take the owner.
        let m = std::fs::symlink_metadata(out.join("dir/f.txt")).unwrap();
        assert_eq!((m.uid(), m.gid()), (4321, 8765));
    }

    #[test]
    fn a_broken_archive_names_itself_and_keeps_the_cause_as_source() {
        let t = tempfile::tempdir().unwrap();
        let p = t.path().join("bad.tar.gz");
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&tar_bytes()[..600]).unwrap();
        std::fs::write(&p, gz.finish().unwrap()).unwrap();
        let err = extract(&p, Compression::Gzip, t.path(), None, None).unwrap_err();
        assert_eq!(err.to_string(), format!("cannot unpack {}", p.display()));
        assert!(std::error::Error::source(&err).is_some());
        let missing = extract(
            &t.path().join("nope"),
            Compression::None,
            t.path(),
            None,
            None,
        );
        assert!(matches!(missing, Err(ArchiveError::Open { .. })));
    }

    #[test]
    fn other_files_are_not_archives() {
        check(b"just text\n", None);
        check(&[0x1f, 0x8b, 0, 0], None);
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&[7u8; 600]).unwrap();
        check(&gz.finish().unwrap(), None);
        check(&[], None);
    }
}
