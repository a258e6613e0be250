//! `rbuild cache import`: read the index, the manifests and configs of the selected mounts,
//! check everything (see `plan`), take each mount's lock (a mount in use is not replaced),
//! restore every mount into a fresh directory of `tmp/` (chunks the store has are read from
//! it, the others fetched), and only then swap each into place.

use std::collections::BTreeMap;
use std::io::Read;

use rbuild_oci::{media_type, Descriptor, Digest, Index, Manifest};

use super::chunker::CHUNK_LIMIT;
use super::error::{At, CacheMountError};
use super::format::{PartConfig, ANNOTATION_ID, CACHE_MOUNT_CONFIG};
use super::plan::{plan, Plan};
use super::restore::restore;
use super::swap::Claimed;
use crate::blobs::MAX_JSON_BLOB;
use crate::Store;

/// Largest manifest or index accepted (registries refuse larger ones).
const MAX_MANIFEST: u64 = 4 << 20;
/// Chunks fetched and written at once.
const WORKERS: usize = 4;

/// Why a source could not deliver something.
pub type SourceError = Box<dyn std::error::Error + Send + Sync>;

/// Where an import reads an exported artifact: a layout directory, a registry repository.
/// Whatever it returns is checked against the descriptor's digest and size.
pub trait ArtifactSource: Sync {
    /// The source, for messages.
    fn name(&self) -> String;
    /// A manifest or index document of at most `limit` bytes.
    fn manifest(&self, desc: &Descriptor, limit: u64) -> Result<Vec<u8>, SourceError>;
    /// A blob of at most `limit` bytes.
    fn blob(&self, desc: &Descriptor, limit: u64) -> Result<Vec<u8>, SourceError>;
}

/// What the import of one mount did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImportedMount {
    /// The mount's id.
    pub id: String,
    /// Its entries (the root excluded).
    pub entries: u64,
    /// Bytes of its files.
    pub bytes: u64,
    /// Distinct chunks it needed.
    pub chunks: u64,
    /// Of those, how many came from the source (the others were in the store).
    pub fetched: u64,
    /// Whether it replaced a mount of the same id.
    pub replaced: bool,
}

impl Store {
    /// Imports the cache mounts `ids` names (all when empty) of the artifact whose index is
    /// `index` (its bytes, already fetched), replacing mounts of the same ids.
    pub fn import_cache_mounts(
        &self,
        index: &[u8],
        src: &dyn ArtifactSource,
        ids: &[String],
    ) -> Result<Vec<ImportedMount>, CacheMountError> {
        let groups = select(index, src, ids)?;
        let mut plans = Vec::new();
        for (id, manifests) in &groups {
            plans.push(plan(id, fetch_parts(id, manifests, src)?)?);
        }
        let mut claimed = Vec::new();
        for p in &plans {
            claimed.push(Claimed::new(self, &p.id)?);
        }
        let mut done = Vec::new();
        for (p, c) in plans.iter().zip(&claimed) {
            let fetched = std::sync::atomic::AtomicU64::new(0);
            let fetch = |i: usize| self.chunk(src, &p.chunks[i], &fetched);
            restore(p, &c.data(), &fetch, WORKERS)?;
            done.push(summary(p, fetched.into_inner()));
        }
        for (c, d) in claimed.into_iter().zip(&mut done) {
            d.replaced = c.commit()?;
        }
        Ok(done)
    }

    /// One chunk's bytes: from the store if it has them, else from the source (counted).
    fn chunk(
        &self,
        src: &dyn ArtifactSource,
        desc: &Descriptor,
        fetched: &std::sync::atomic::AtomicU64,
    ) -> Result<Vec<u8>, CacheMountError> {
        if self.has_blob(&desc.digest) {
            let mut bytes = Vec::with_capacity(desc.size as usize);
            let path = self.blob_path(&desc.digest);
            let reader = self.blob_reader(&desc.digest, Some(desc.size))?;
            reader
                .take(CHUNK_LIMIT + 1)
                .read_to_end(&mut bytes)
                .at(&path)?;
            return Ok(bytes);
        }
        fetched.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        check(src, desc, CHUNK_LIMIT, src.blob(desc, CHUNK_LIMIT))
    }
}

/// Fetches and checks the manifests of one mount's parts and their configs.
pub(crate) fn fetch_parts(
    id: &str,
    manifests: &[Descriptor],
    src: &dyn ArtifactSource,
) -> Result<Vec<(PartConfig, Vec<Descriptor>)>, CacheMountError> {
    let mut parts = Vec::new();
    for desc in manifests {
        let what = format!("manifest {} of cache mount {id:?}", desc.digest);
        if desc.media_type != media_type::OCI_MANIFEST {
            return Err(invalid(what, format!("media type {:?}", desc.media_type)));
        }
        let bytes = check(src, desc, MAX_MANIFEST, src.manifest(desc, MAX_MANIFEST))?;
        let m: Manifest = parse(&bytes, &what)?;
        if m.config.media_type != CACHE_MOUNT_CONFIG || m.config.size > MAX_JSON_BLOB {
            return Err(invalid(
                what,
                "its config is not a cache-mount config".into(),
            ));
        }
        let got = src.blob(&m.config, MAX_JSON_BLOB);
        let config = check(src, &m.config, MAX_JSON_BLOB, got)?;
        let what = format!("config {} of cache mount {id:?}", m.config.digest);
        parts.push((parse::<PartConfig>(&config, &what)?, m.layers));
    }
    Ok(parts)
}

/// The index's parts grouped by mount id (in index order), only the ids asked for.
pub(crate) fn select(
    index: &[u8],
    src: &dyn ArtifactSource,
    ids: &[String],
) -> Result<BTreeMap<String, Vec<Descriptor>>, CacheMountError> {
    let what = format!("the index of {}", src.name());
    let index: Index = parse(index, &what)?;
    let mut groups: BTreeMap<String, Vec<Descriptor>> = BTreeMap::new();
    for m in index.manifests {
        let Some(id) = m.annotations.as_ref().and_then(|a| a.get(ANNOTATION_ID)) else {
            return Err(invalid(
                what,
                format!("entry {} names no cache mount", m.digest),
            ));
        };
        if ids.is_empty() || ids.contains(id) {
            groups.entry(id.clone()).or_default().push(m);
        }
    }
    if let Some(id) = ids.iter().find(|id| !groups.contains_key(*id)) {
        let source_name = src.name();
        return Err(CacheMountError::NotInArtifact {
            id: id.clone(),
            source_name,
        });
    }
    Ok(groups)
}

/// Checks fetched bytes against their descriptor.
pub(crate) fn check(
    src: &dyn ArtifactSource,
    desc: &Descriptor,
    limit: u64,
    got: Result<Vec<u8>, SourceError>,
) -> Result<Vec<u8>, CacheMountError> {
    let source_name = src.name();
    let bytes = got.map_err(|source| CacheMountError::Fetch {
        what: format!("{} {}", desc.media_type, desc.digest),
        source_name: source_name.clone(),
        source,
    })?;
    let actual = Digest::of(&bytes);
    let why = if desc.size > limit {
        format!("{} bytes, more than the {limit} accepted", desc.size)
    } else if bytes.len() as u64 != desc.size {
        format!("{} bytes, not {}", bytes.len(), desc.size)
    } else if actual != desc.digest {
        format!("its content hashes to {actual}")
    } else {
        return Ok(bytes);
    };
    Err(CacheMountError::Mismatch {
        digest: desc.digest.clone(),
        source_name,
        why,
    })
}

fn parse<T: serde::de::DeserializeOwned>(bytes: &[u8], what: &str) -> Result<T, CacheMountError> {
    serde_json::from_slice(bytes).map_err(|e| invalid(what.to_string(), e.to_string()))
}

fn invalid(what: String, why: String) -> CacheMountError {
    CacheMountError::Invalid { what, why }
}

fn summary(p: &Plan, fetched: u64) -> ImportedMount {
    ImportedMount {
        id: p.id.clone(),
        entries: p.entries.len() as u64,
        bytes: p.entries.iter().map(|e| e.size).sum(),
        chunks: p.chunks.len() as u64,
        fetched,
        replaced: false,
    }
}
