//! A layout (or docker-archive) arriving as a tar stream. A stream cannot be read twice or
//! out of order, so every regular member is hashed into the stage as it passes (a
//! `blobs/sha256/<hex>` member must hash to its name); links and special files are only
//! remembered, and count as regular files nowhere but in a docker-archive's layer paths.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use rbuild_oci::Digest;

use super::source::Source;
use super::stage::Stage;
use super::LayoutError;
use crate::{Store, StoreError};

/// Links followed at most when resolving a docker-archive member.
const MAX_LINKS: usize = 16;

/// What an archive member is.
enum Member {
    /// A regular file, staged under its content digest.
    File(Digest, u64),
    /// A symlink or hard link, to this normalized member path.
    Link(String),
    /// A device, FIFO or other special file.
    Special,
}

/// Every member of an archive, by normalized path, and the stage holding their bytes.
pub(crate) struct TarSource {
    members: BTreeMap<String, Member>,
    stage: Stage,
}

/// The member path the archive calls `archive`.
fn origin() -> &'static Path {
    Path::new("the archive")
}

/// `./a//b/` → `a/b`.
fn normalize(path: &str) -> String {
    let parts: Vec<&str> = path
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    parts.join("/")
}

/// A symlink's target as a member path, relative to the member's directory.
fn resolve_link(member: &str, target: &str) -> String {
    if target.starts_with('/') {
        return normalize(target);
    }
    let mut parts: Vec<&str> = member.split('/').collect();
    parts.pop();
    for c in target.split('/') {
        match c {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            c => parts.push(c),
        }
    }
    parts.join("/")
}

impl TarSource {
    /// Reads the whole stream into a stage of `store`.
    pub fn load(store: &Store, reader: &mut dyn Read) -> Result<TarSource, LayoutError> {
        let io = |path: &str| {
            let path = PathBuf::from(path);
            move |source| LayoutError::Io { path, source }
        };
        let mut me = TarSource {
            members: BTreeMap::new(),
            stage: Stage::new(store)?,
        };
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().map_err(io("the archive"))? {
            let mut entry = entry.map_err(io("the archive"))?;
            let raw = entry.path().map_err(io("a member name"))?;
            let path = normalize(&raw.to_string_lossy());
            let kind = entry.header().entry_type();
            let member = if kind.is_file() || kind == tar::EntryType::Continuous {
                let size = entry.size();
                me.stage_member(&path, size, &mut entry)?
            } else if kind.is_symlink() || kind.is_hard_link() {
                let target = entry.link_name().map_err(io(&path))?;
                let target = target.map(|t| t.to_string_lossy().into_owned());
                let target = target.unwrap_or_default();
                if kind.is_symlink() {
                    Member::Link(resolve_link(&path, &target))
                } else {
                    Member::Link(normalize(&target))
                }
            } else if kind.is_dir() {
                continue;
            } else {
                Member::Special
            };
            me.members.insert(path, member);
        }
        Ok(me)
    }

    /// Stages a regular member; one named as a blob must hash to its name.
    fn stage_member(
        &mut self,
        path: &str,
        size: u64,
        entry: &mut dyn Read,
    ) -> Result<Member, LayoutError> {
        let named = path
            .strip_prefix("blobs/sha256/")
            .and_then(|hex| Digest::from_hex(hex).ok());
        let expected = named.as_ref().map(|d| (d, Some(size)));
        let (digest, size) = self
            .stage
            .put(entry, Some(size), expected)
            .map_err(|e| e.at(PathBuf::from(path)))?;
        Ok(Member::File(digest, size))
    }

    /// Whether the archive has a member of that name (of any kind).
    pub fn has(&self, name: &str) -> bool {
        self.members.contains_key(name)
    }

    /// The regular member a docker-archive path leads to, following links (legacy
    /// `docker save` links duplicate layers to one another).
    pub fn follow(&self, name: &str) -> Result<(Digest, u64), LayoutError> {
        let mut path = normalize(name);
        for _ in 0..MAX_LINKS {
            match self.members.get(&path) {
                Some(Member::File(d, size)) => return Ok((d.clone(), *size)),
                Some(Member::Link(target)) => path = target.clone(),
                Some(Member::Special) => return Err(not_regular(&path)),
                None => return Err(LayoutError::MemberMissing { name: path }),
            }
        }
        Err(LayoutError::LinkLoop { name: path })
    }

    /// The staged blobs.
    pub fn stage(&self) -> &Stage {
        &self.stage
    }

    /// The regular member `name`: its digest and size; `None` if there is none.
    fn regular(&self, name: &str) -> Result<Option<(Digest, u64)>, LayoutError> {
        match self.members.get(name) {
            None => Ok(None),
            Some(Member::File(d, size)) => Ok(Some((d.clone(), *size))),
            Some(_) => Err(not_regular(name)),
        }
    }

    /// The bytes of a staged member, at most `limit` of them.
    fn bytes(
        &self,
        name: &str,
        digest: &Digest,
        size: u64,
        limit: u64,
    ) -> Result<Vec<u8>, LayoutError> {
        let path = PathBuf::from(name);
        if size > limit {
            return Err(LayoutError::TooLarge { path, limit });
        }
        match self.stage.bytes(digest) {
            Some(Ok(bytes)) => Ok(bytes),
            Some(Err(source)) => Err(LayoutError::Io { path, source }),
            None => Err(LayoutError::MemberMissing {
                name: name.to_string(),
            }),
        }
    }
}

fn not_regular(name: &str) -> LayoutError {
    LayoutError::NotRegular {
        path: PathBuf::from(name),
    }
}

fn blob_name(digest: &Digest) -> String {
    format!("blobs/sha256/{}", digest.hex())
}

impl Source for TarSource {
    fn origin(&self) -> &Path {
        origin()
    }

    fn describe(&self, name: &str) -> PathBuf {
        PathBuf::from(name)
    }

    fn file(&self, name: &str, limit: u64) -> Result<Option<Vec<u8>>, LayoutError> {
        match self.regular(name)? {
            Some((digest, size)) => self.bytes(name, &digest, size, limit).map(Some),
            None => Ok(None),
        }
    }

    fn blob_size(&self, digest: &Digest) -> Result<Option<u64>, LayoutError> {
        Ok(self.regular(&blob_name(digest))?.map(|(_, size)| size))
    }

    fn blob_bytes(&self, digest: &Digest, limit: u64) -> Result<Vec<u8>, LayoutError> {
        let name = blob_name(digest);
        let (_, size) = self.regular(&name)?.ok_or_else(|| self.missing(digest))?;
        self.bytes(&name, digest, size, limit)
    }

    /// Every member was staged as it passed: only its size is left to check.
    fn stage(&mut self, digest: &Digest, size: Option<u64>) -> Result<(), LayoutError> {
        let name = blob_name(digest);
        let (_, actual) = self.regular(&name)?.ok_or_else(|| self.missing(digest))?;
        match size {
            Some(expected) if expected != actual => Err(LayoutError::Blob {
                path: PathBuf::from(name),
                source: StoreError::SizeMismatch {
                    digest: digest.clone(),
                    expected,
                    actual,
                },
            }),
            _ => Ok(()),
        }
    }

    fn staged(&mut self) -> &mut Stage {
        &mut self.stage
    }
}
