//! Reading an archive's members: blobs stream into the store, small files stay in memory.

use std::collections::BTreeMap;
use std::io::{self, Read};

use rbuild_oci::Digest;

use super::import::{bad, io_bad};
use crate::error::{Result, StoreError};
use crate::Store;

/// Archive members up to this size stay in memory (JSON, tiny layers) while the budget
/// lasts; bigger ones are streamed straight into the store.
const SMALL: u64 = 4 << 20;

/// Total bytes of members held in memory. Small blobs wait there until the import knows it
/// needs them: an archive of 50,000 junk blobs is refused without 50,000 synced writes.
const MEMORY_BUDGET: u64 = 64 << 20;

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

impl Loaded {
    /// A `blobs/sha256/<hex>` member held in memory (verified against its name on reading).
    pub fn mem_blob(&self, digest: &Digest) -> Option<&[u8]> {
        match self.members.get(&format!("blobs/sha256/{}", digest.hex())) {
            Some(Member::Mem(data)) => Some(data),
            _ => None,
        }
    }
}

impl Store {
    pub(super) fn load_members(&self, reader: &mut dyn Read) -> Result<Loaded> {
        let mut members = BTreeMap::new();
        let mut budget = MEMORY_BUDGET;
        let mut archive = tar::Archive::new(reader);
        for entry in archive.entries().map_err(|e| io_bad("the archive", e))? {
            let mut entry = entry.map_err(|e| io_bad("the archive", e))?;
            let raw = entry.path().map_err(|e| io_bad("a member name", e))?;
            let path = normalize(&raw.to_string_lossy());
            let member = match entry.header().entry_type() {
                tar::EntryType::Regular | tar::EntryType::Continuous => {
                    let size = entry.size();
                    self.load_file(&path, size, &mut entry, &mut budget)?
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

    /// Keeps a small member in memory (a named blob verified against its name) while the
    /// budget lasts, else streams it into the store.
    fn load_file(
        &self,
        path: &str,
        size: u64,
        entry: &mut dyn Read,
        budget: &mut u64,
    ) -> Result<Member> {
        let named = path
            .strip_prefix("blobs/sha256/")
            .and_then(|hex| Digest::from_hex(hex).ok());
        if size > SMALL || size > *budget {
            return self.ingest_member(path, entry, named.as_ref(), Some(size));
        }
        let mut data = Vec::with_capacity(size as usize);
        entry
            .take(size)
            .read_to_end(&mut data)
            .map_err(|e| io_bad(path, e))?;
        *budget -= data.len() as u64;
        if let Some(expected) = named {
            let actual = Digest::of(&data);
            if actual != expected {
                return Err(StoreError::DigestMismatch { expected, actual });
            }
        }
        Ok(Member::Mem(data))
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
