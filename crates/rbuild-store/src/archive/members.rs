//! Reading an archive's members: blobs stream into the store, small files stay in memory.

use std::collections::BTreeMap;
use std::io::{self, Read};

use rbuild_oci::Digest;

use super::import::{bad, io_bad};
use crate::error::{Result, StoreError};
use crate::Store;

/// Archive members up to this size that are not `blobs/sha256/*` stay in memory (JSON,
/// tiny layers); bigger ones are streamed straight into the store.
const SMALL: u64 = 4 << 20;

/// Where an archive member's bytes ended up.
pub(super) enum Member {
    Blob(Digest, u64),
    Mem(Vec<u8>),
    Link(String),
}

/// `./a//b/` → `a/b`.
fn normalize(path: &str) -> String {
    path.split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect::<Vec<_>>()
        .join("/")
}

/// Resolves a symlink target relative to the member's directory.
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

/// Every member of an archive, by normalized path.
pub(super) struct Loaded {
    pub members: BTreeMap<String, Member>,
}

impl Store {
    pub(super) fn load_members(&self, reader: &mut dyn Read) -> Result<Loaded> {
        let mut members = BTreeMap::new();
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().map_err(|e| io_bad("the archive", e))? {
            let mut entry = entry.map_err(|e| io_bad("the archive", e))?;
            let raw = entry.path().map_err(|e| io_bad("a member name", e))?;
            let path = normalize(&raw.to_string_lossy());
            let member = match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let size = entry.size();
                    self.load_file(&path, size, &mut entry)?
                }
                kind @ (tar::EntryType::Symlink | tar::EntryType::Link) => {
                    let target = entry
                        .link_name()
                        .map_err(|e| io_bad(&path, e))?
                        .map(|t| t.to_string_lossy().into_owned())
                        .unwrap_or_default();
                    match kind {
                        tar::EntryType::Symlink => Member::Link(resolve_link(&path, &target)),
                        _ => Member::Link(normalize(&target)),
                    }
                }
                _ => continue,
            };
            members.insert(path, member);
        }
        Ok(Loaded { members })
    }

    fn load_file(&self, path: &str, size: u64, entry: &mut dyn Read) -> Result<Member> {
        let named = path
            .strip_prefix("blobs/sha256/")
            .and_then(|hex| Digest::from_hex(hex).ok());
        if named.is_none() {
            let mut data = Vec::new();
            entry
                .take(SMALL + 1)
                .read_to_end(&mut data)
                .map_err(|e| io_bad(path, e))?;
            if data.len() as u64 <= SMALL {
                return Ok(Member::Mem(data));
            }
            // Too big for memory: what was read goes first, the rest streams after it.
            let mut chained = io::Cursor::new(data).chain(entry);
            return self.ingest_member(path, &mut chained, None, Some(size));
        }
        self.ingest_member(path, entry, named.as_ref(), Some(size))
    }

    fn ingest_member(
        &self,
        path: &str,
        reader: &mut dyn Read,
        expected: Option<&Digest>,
        size: Option<u64>,
    ) -> Result<Member> {
        let mut ingest = self.ingest()?;
        io::copy(reader, &mut ingest).map_err(|e| io_bad(path, e))?;
        let (digest, n) = ingest.commit(expected, size)?;
        Ok(Member::Blob(digest, n))
    }

    /// Follows links to the member holding the bytes.
    fn member<'a>(&self, loaded: &'a Loaded, path: &str) -> Result<&'a Member> {
        let mut path = normalize(path);
        for _ in 0..16 {
            match loaded.members.get(&path) {
                Some(Member::Link(target)) => path = target.clone(),
                Some(m) => return Ok(m),
                None => return Err(bad(format!("archive lacks {path}"))),
            }
        }
        Err(bad(format!("too many links resolving {path}")))
    }

    /// Makes sure a member is a blob in the store.
    pub(super) fn materialize(&self, loaded: &Loaded, path: &str) -> Result<(Digest, u64)> {
        match self.member(loaded, path)? {
            Member::Blob(d, n) => Ok((d.clone(), *n)),
            Member::Mem(data) => Ok((self.put_blob(data)?, data.len() as u64)),
            Member::Link(_) => Err(bad(format!("unresolved link {path}"))),
        }
    }

    pub(super) fn small_json<T: serde::de::DeserializeOwned>(
        &self,
        loaded: &Loaded,
        path: &str,
    ) -> Result<T> {
        let data = match self.member(loaded, path)? {
            Member::Mem(data) => data.clone(),
            Member::Blob(d, _) => self.read_blob(d)?,
            Member::Link(_) => return Err(bad(format!("unresolved link {path}"))),
        };
        serde_json::from_slice(&data).map_err(|source| StoreError::Json {
            what: path.to_string(),
            source,
        })
    }
}
