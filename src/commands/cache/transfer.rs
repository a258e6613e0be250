//! `rbuild cache export --mounts DEST` and `rbuild cache import SRC`: cache mounts as OCI
//! artifacts in a layout directory or a registry (format: docs/ARCHITECTURE.md, "Portable
//! cache mounts").

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use anyhow::{bail, Context};
use rbuild_oci::{media_type, Descriptor, Reference};
use rbuild_registry::{Artifact, PushEvent, RegistryError};
use rbuild_store::{
    ArtifactSource, Base, CacheExport, ExportedMount, ImportedMount, SourceError, Store,
    CACHE_MOUNTS_ARTIFACT, CACHE_MOUNT_ARTIFACT,
};

use super::super::images::human;
use crate::cli::RegistryFlags;
use crate::resolver::Remote;

/// Where an artifact goes or comes from.
#[derive(Debug, PartialEq, Eq)]
enum Place {
    /// An OCI layout directory and the tag in its `index.json`.
    Layout(PathBuf, String),
    /// A registry repository, with a tag or digest.
    Registry(Reference),
}

/// `oci:DIR[:TAG]`, a path (starting with `/` or `.`), or a registry reference.
fn place(spec: &str) -> anyhow::Result<Place> {
    if let Some(rest) = spec.strip_prefix("oci:") {
        let (dir, tag) = match rest.rsplit_once(':') {
            Some((dir, tag)) if !tag.contains('/') && !dir.is_empty() => (dir, tag),
            _ => (rest, "latest"),
        };
        return Ok(Place::Layout(dir.into(), tag.to_string()));
    }
    if spec.starts_with('/') || spec.starts_with('.') {
        return Ok(Place::Layout(spec.into(), "latest".to_string()));
    }
    let r = Reference::parse(spec).with_context(|| format!("invalid destination {spec:?}"))?;
    Ok(Place::Registry(r))
}

/// Exports the mounts `ids` names (all when empty) to `dest`, on top of what it holds.
pub fn export(
    store: &Store,
    ids: &[String],
    flags: &RegistryFlags,
    dest: &str,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let (sent, bytes, present) = match place(dest)? {
        Place::Layout(dir, tag) => {
            let base = Base::from_layout(&dir, &tag).unwrap_or_else(|e| {
                eprintln!(
                    "warning: cannot reuse what {} holds ({e:#}): sending everything",
                    dir.display()
                );
                Base::empty()
            });
            let export = export_into(store, ids, &base)?;
            let r = store
                .write_cache_layout(&export, &dir, &tag)
                .with_context(|| format!("cannot write {}", dir.display()))?;
            (r.copied, r.copied_bytes, r.present)
        }
        Place::Registry(r) => {
            let remote = Remote::new(flags)?;
            let (base, warning) = registry_base(&remote, &r);
            if let Some(why) = warning {
                eprintln!("warning: {why}");
            }
            let export = export_into(store, ids, &base)?;
            push(store, &export, &remote, &r)?
        }
    };
    crate::outln!(
        "sent {sent} blobs ({bytes} bytes, {}), {present} already there, to {dest} in {:.1}s",
        human(bytes),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Exports into the store, saying per mount what is new and what is reused.
fn export_into(store: &Store, ids: &[String], base: &Base) -> anyhow::Result<CacheExport> {
    let export = store
        .export_cache_mounts(ids, base)
        .context("cannot export the cache mounts")?;
    export.mounts.iter().for_each(report_export);
    Ok(export)
}

fn report_export(m: &ExportedMount) {
    let s = &m.stats;
    crate::outln!(
        "cache mount {}: {} files, {}: {} in {} new packs, {} already at the destination{}",
        m.id,
        s.files,
        human(s.bytes),
        human(s.new_bytes),
        s.new_chunks,
        human(s.reused_bytes),
        match s.compacted {
            0 => String::new(),
            n => format!(" ({n} mostly unused packs left behind)"),
        }
    );
}

/// What the registry holds under the target's tag, to build on; nothing when the tag does
/// not exist or cannot be read as a cache-mount export (then everything is sent, and the
/// warning says why, for the caller to show where its output goes).
pub(crate) fn registry_base(remote: &Remote, target: &Reference) -> (Base, Option<String>) {
    let index = match remote.block_on(|c| c.fetch_manifest(target)) {
        Ok(Ok(doc)) => doc,
        Ok(Err(RegistryError::NotFound { .. })) => return (Base::empty(), None),
        Ok(Err(e)) => return no_base(target, &e),
        Err(e) => return no_base(target, &*e),
    };
    let src = RegistrySource {
        remote,
        repository: target.clone(),
    };
    match Base::load(&index.bytes, &src) {
        Ok(base) => (base, None),
        Err(e) => no_base(target, &e),
    }
}

fn no_base(target: &Reference, e: &dyn std::fmt::Display) -> (Base, Option<String>) {
    let why = format!("cannot reuse what {target} holds ({e}): sending everything");
    (Base::empty(), Some(why))
}

/// Pushes every part, then the index under the reference's tag; (uploaded blobs, their
/// bytes, blobs already there).
pub(crate) fn push(
    store: &Store,
    export: &CacheExport,
    remote: &Remote,
    target: &Reference,
) -> anyhow::Result<(u64, u64, u64)> {
    if target.digest.is_some() {
        bail!("{target}: give a tag, not a digest, to export to");
    }
    let tag = target.tag.clone().unwrap_or_else(|| "latest".to_string());
    let (sent, bytes, present) = (AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0));
    let count = |event: PushEvent| match event {
        PushEvent::Uploaded { size, .. } => {
            sent.fetch_add(1, Ordering::Relaxed);
            bytes.fetch_add(size, Ordering::Relaxed);
        }
        PushEvent::Exists { .. } | PushEvent::Mounted { .. } => {
            present.fetch_add(1, Ordering::Relaxed);
        }
        _ => {}
    };
    let mut entries = Vec::new();
    for part in &export.parts {
        let artifact = Artifact {
            artifact_type: Some(CACHE_MOUNT_ARTIFACT.to_string()),
            ..Artifact::manifest(part.config.clone(), part.chunks.clone())
        };
        let mut pushed = remote
            .block_on(|c| c.push_artifact(store, &artifact, target, None, &count))?
            .with_context(|| format!("cannot push cache mount {} to {target}", part.id))?;
        pushed.annotations = part.manifest.annotations.clone();
        entries.push(pushed);
    }
    push_index(remote, store, entries, target, &tag)?;
    let total = |a: &AtomicU64| a.load(Ordering::Relaxed);
    Ok((total(&sent), total(&bytes), total(&present)))
}

/// Pushes the index over the parts under `tag`.
fn push_index(
    remote: &Remote,
    store: &Store,
    entries: Vec<Descriptor>,
    target: &Reference,
    tag: &str,
) -> anyhow::Result<()> {
    let index = Artifact {
        artifact_type: Some(CACHE_MOUNTS_ARTIFACT.to_string()),
        ..Artifact::index(entries)
    };
    remote
        .block_on(|c| c.push_artifact(store, &index, target, Some(tag), &|_| {}))?
        .with_context(|| format!("cannot push the index of the cache mounts to {target}"))?;
    Ok(())
}

/// Imports the mounts `ids` names (all when empty) from `src`.
pub fn import(
    store: &Store,
    ids: &[String],
    flags: &RegistryFlags,
    src: &str,
) -> anyhow::Result<()> {
    let started = Instant::now();
    let done = match place(src)? {
        Place::Layout(dir, tag) => store.import_cache_layout(&dir, &tag, ids),
        Place::Registry(r) => {
            let remote = Remote::new(flags)?;
            match import_registry(store, &remote, &r, ids)? {
                Some(done) => Ok(done),
                None => bail!("cannot import cache mounts from {src}: {r} does not exist"),
            }
        }
    }
    .with_context(|| format!("cannot import cache mounts from {src}"))?;
    for m in &done {
        report(m);
    }
    crate::outln!(
        "imported {} cache mounts in {:.1}s",
        done.len(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

/// Imports the mounts `ids` names (all when empty) of the export `r` names; `None` when the
/// registry has nothing under that name.
pub(crate) fn import_registry(
    store: &Store,
    remote: &Remote,
    r: &Reference,
    ids: &[String],
) -> anyhow::Result<Option<Vec<ImportedMount>>> {
    let index = match remote.block_on(|c| c.fetch_manifest(r))? {
        Ok(index) => index,
        Err(RegistryError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e).with_context(|| format!("cannot fetch {r}")),
    };
    if !media_type::is_index(&index.descriptor.media_type) {
        bail!(
            "{r} is not a cache-mount export (it is a {})",
            index.descriptor.media_type
        );
    }
    let source = RegistrySource {
        remote,
        repository: r.clone(),
    };
    Ok(Some(store.import_cache_mounts(
        &index.bytes,
        &source,
        ids,
    )?))
}

fn report(m: &ImportedMount) {
    crate::outln!(
        "cache mount {}: {} entries, {} ({} of {} chunks fetched){}",
        m.id,
        m.entries,
        human(m.bytes),
        m.fetched,
        m.chunks,
        if m.replaced {
            ", replaced the old one"
        } else {
            ""
        }
    );
}

/// A registry repository as an import's (or a base's) source.
struct RegistrySource<'a> {
    remote: &'a Remote,
    repository: Reference,
}

impl ArtifactSource for RegistrySource<'_> {
    fn name(&self) -> String {
        self.repository.name()
    }

    fn manifest(&self, desc: &Descriptor, _limit: u64) -> Result<Vec<u8>, SourceError> {
        let pinned = Reference {
            tag: None,
            digest: Some(desc.digest.clone()),
            ..self.repository.clone()
        };
        // Capped (4 MiB) and checked against the digest by the client.
        Ok(self.remote.block_on(|c| c.fetch_manifest(&pinned))??.bytes)
    }

    fn blob(&self, desc: &Descriptor, limit: u64) -> Result<Vec<u8>, SourceError> {
        let r = &self.repository;
        Ok(self.remote.block_on(|c| c.blob_bytes(r, desc, limit))??)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn destinations_are_layouts_or_registry_references() {
        let layout = |d: &str, t: &str| Place::Layout(d.into(), t.into());
        assert_eq!(place("oci:/tmp/c").unwrap(), layout("/tmp/c", "latest"));
        assert_eq!(place("oci:/tmp/c:v2").unwrap(), layout("/tmp/c", "v2"));
        assert_eq!(place("oci:rel/dir").unwrap(), layout("rel/dir", "latest"));
        assert_eq!(place("./c").unwrap(), layout("./c", "latest"));
        assert_eq!(place("/abs/c").unwrap(), layout("/abs/c", "latest"));
        let Place::Registry(r) = place("127.0.0.1:5000/cache:ci").unwrap() else {
            panic!("not a registry reference");
        };
        assert_eq!(
            (r.registry.as_str(), r.repository.as_str()),
            ("127.0.0.1:5000", "cache")
        );
        assert_eq!(r.tag.as_deref(), Some("ci"));
        assert!(place("UPPER/case").is_err());
    }
}
