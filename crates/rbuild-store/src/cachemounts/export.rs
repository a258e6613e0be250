//! `rbuild cache export --mounts`: each selected mount, read under its shared lock, becomes
//! packs (only of the pieces the destination lacks), one config and one manifest per part in
//! the store, and one index lists every part. Writing them to a layout directory or a
//! registry is the caller's next step.

use rbuild_oci::{media_type, to_canonical_json, Descriptor};

use super::base::Base;
use super::error::CacheMountError;
use super::format::{
    part_annotations, Doc, PartConfig, RootMeta, CACHE_MOUNTS_ARTIFACT, CACHE_MOUNT_ARTIFACT,
    CACHE_MOUNT_CONFIG,
};
use super::pack::{PackStats, Packer};
use super::parts::{split, Part};
use super::walk::walk;
use super::{key_of, Store};

/// One part of an exported mount, as the index lists it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportedPart {
    /// The mount's id.
    pub id: String,
    /// The part's number, from 0.
    pub part: u32,
    /// Its manifest (in the store), annotated with id and number as the index lists it.
    pub manifest: Descriptor,
    /// Its config (in the store).
    pub config: Descriptor,
    /// Its layers: the packs its entries use (those this export made are in the store, the
    /// others at the destination).
    pub chunks: Vec<Descriptor>,
}

/// What the export of one mount found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportedMount {
    /// The mount's id.
    pub id: String,
    /// Files, bytes, packs, and what was new or reused.
    pub stats: PackStats,
    /// Sockets and devices left out.
    pub skipped: u64,
}

/// The result of [`Store::export_cache_mounts`]: the store has everything it names but the
/// packs it reuses from the destination.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CacheExport {
    /// The index over every part of every mount.
    pub index: Descriptor,
    /// Every part, in the index's order.
    pub parts: Vec<ExportedPart>,
    /// Every mount, in the index's order.
    pub mounts: Vec<ExportedMount>,
}

impl Store {
    /// Exports the cache mounts `ids` names (all when empty) into the store as an OCI
    /// artifact, reusing the pieces `base` (what the destination holds) has; see
    /// docs/ARCHITECTURE.md, "Portable cache mounts".
    pub fn export_cache_mounts(
        &self,
        ids: &[String],
        base: &Base,
    ) -> Result<CacheExport, CacheMountError> {
        let mut parts = Vec::new();
        let mut mounts = Vec::new();
        for id in self.select_mounts(ids)? {
            let (mount, mut mount_parts) = self.export_mount(&id, base)?;
            mounts.push(mount);
            parts.append(&mut mount_parts);
        }
        let manifests: Vec<Descriptor> = parts.iter().map(|p| p.manifest.clone()).collect();
        let doc = Doc {
            schema_version: 2,
            media_type: media_type::OCI_INDEX,
            artifact_type: CACHE_MOUNTS_ARTIFACT,
            config: None,
            layers: None,
            manifests: Some(&manifests),
            annotations: &Default::default(),
        };
        let index = self.put_document(media_type::OCI_INDEX, &to_canonical_json(&doc))?;
        Ok(CacheExport {
            index,
            parts,
            mounts,
        })
    }

    /// The ids to export: those asked for (each must exist), else every mount's.
    fn select_mounts(&self, ids: &[String]) -> Result<Vec<String>, CacheMountError> {
        let mut have: Vec<String> = self
            .cache_mount_list()?
            .into_iter()
            .filter(|m| m.key == key_of(&m.id))
            .map(|m| m.id)
            .collect();
        if ids.is_empty() {
            return Ok(have);
        }
        let mut out: Vec<String> = Vec::new();
        for id in ids {
            if !have.contains(id) {
                return Err(CacheMountError::NoSuchMount(id.clone()));
            }
            if !out.contains(id) {
                out.push(id.clone());
            }
        }
        have.retain(|h| out.contains(h));
        Ok(have)
    }

    /// Chunks, configs and manifests of one mount, read under its shared lock.
    fn export_mount(
        &self,
        id: &str,
        base: &Base,
    ) -> Result<(ExportedMount, Vec<ExportedPart>), CacheMountError> {
        let key = key_of(id);
        let dir = self.cache_mounts_dir();
        let _lock = crate::lock::lock_shared(&dir.join(format!("{key}.lock")))?;
        let data = dir.join(&key).join("data");
        if !data.is_dir() {
            return Err(CacheMountError::NoSuchMount(id.to_string()));
        }
        let mut packer = Packer::new(self, &data, base);
        let (root, skipped) = walk(&data, &mut |node| packer.visit(node))?;
        packer.compact()?;
        packer.finish()?;
        let stats = packer.stats.clone();
        let split = split(std::mem::take(&mut packer.entries), &packer.chunks);
        let count = split.len() as u32;
        let mut parts = Vec::with_capacity(split.len());
        for (n, part) in split.into_iter().enumerate() {
            parts.push(self.store_part(id, &root, n as u32, count, part)?);
        }
        let mount = ExportedMount {
            id: id.to_string(),
            stats,
            skipped,
        };
        Ok((mount, parts))
    }

    /// Stores one part's config and manifest.
    fn store_part(
        &self,
        id: &str,
        root: &RootMeta,
        part: u32,
        parts: u32,
        (entries, chunks): Part,
    ) -> Result<ExportedPart, CacheMountError> {
        let config = PartConfig {
            id: id.to_string(),
            part,
            parts,
            root: root.clone(),
            entries,
        };
        let config = self.put_document(CACHE_MOUNT_CONFIG, &to_canonical_json(&config))?;
        let doc = Doc {
            schema_version: 2,
            media_type: media_type::OCI_MANIFEST,
            artifact_type: CACHE_MOUNT_ARTIFACT,
            config: Some(&config),
            layers: Some(&chunks),
            manifests: None,
            annotations: &Default::default(),
        };
        let mut manifest = self.put_document(media_type::OCI_MANIFEST, &to_canonical_json(&doc))?;
        manifest.annotations = Some(part_annotations(id, part));
        Ok(ExportedPart {
            id: id.to_string(),
            part,
            manifest,
            config,
            chunks,
        })
    }

    /// Stores a JSON document; its descriptor.
    fn put_document(&self, media_type: &str, json: &[u8]) -> Result<Descriptor, CacheMountError> {
        let digest = self.put_blob(json)?;
        Ok(Descriptor::new(media_type, digest, json.len() as u64))
    }
}
