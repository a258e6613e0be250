//! The COPY/ADD sources that are not plain paths: heredocs, URL downloads, git checkouts,
//! and the local archives ADD unpacks instead of copying.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::CopyStep;
use crate::plan::CopySource;
use crate::BuildError;
use rbuild_context::archive;
use rbuild_context::git;
use rbuild_context::remote::{self, Download};
use rbuild_context::select::{plan, CopyItem, KeepAll};
use rbuild_context::tree::Tree;

impl CopyStep<'_> {
    /// Downloads `url` once per op: the key and `exec` share the file.
    pub(super) fn download(&self, url: &str) -> Result<Download, BuildError> {
        let mut fetched = self.fetched.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((_, d, _)) = fetched.iter().find(|(u, _, _)| u == url) {
            return Ok(d.clone());
        }
        let dir = Arc::new(self.rt.store.scratch()?);
        let d = self
            .rt
            .fetcher
            .fetch(url, dir.path(), &self.rt.proxy())
            .map_err(|e| self.meta.error(e))?;
        fetched.push((url.to_string(), d.clone(), dir));
        Ok(d)
    }

    /// ADD: top-level local sources that are archives are unpacked instead of copied.
    pub(super) fn split_archives(
        &self,
        items: &mut Vec<CopyItem>,
    ) -> Result<Vec<(PathBuf, archive::Compression)>, BuildError> {
        if !self.op.add.as_ref().is_some_and(|a| a.unpack) || self.reads_input() {
            return Ok(Vec::new());
        }
        // Downloads are unpacked only with `--unpack=true` (BuildKit's AttemptUnpack).
        let downloads: Vec<PathBuf> = if self.op.add.as_ref().is_some_and(|a| a.unpack_urls) {
            let fetched = self.fetched.lock().unwrap_or_else(|p| p.into_inner());
            fetched.iter().map(|(_, d, _)| d.path.clone()).collect()
        } else {
            Vec::new()
        };
        let mut archives = Vec::new();
        let mut keep = Vec::with_capacity(items.len());
        for item in items.drain(..) {
            let local = self
                .ctx
                .as_ref()
                .is_some_and(|c| item.source.real.starts_with(&c.dir));
            let downloaded = downloads.contains(&item.source.real);
            let kind = if item.top && (local || downloaded) && item.source.meta.is_file() {
                archive::detect(&item.source.real).map_err(|e| self.meta.error(e))?
            } else {
                None
            };
            match kind {
                Some(k) => archives.push((item.source.real.clone(), k)),
                None => keep.push(item),
            }
        }
        *items = keep;
        Ok(archives)
    }

    /// Heredocs, written to files in `scratch` and planned like a COPY from there.
    pub(super) fn inline_items(
        &self,
        scratch: &Path,
        dest: &str,
        dest_is_dir: bool,
    ) -> Result<Vec<CopyItem>, BuildError> {
        let dir = scratch.join("heredocs");
        let mut names = Vec::new();
        for s in &self.op.sources {
            if let CopySource::Inline { name, content } = s {
                std::fs::create_dir_all(&dir).map_err(|e| self.meta.error(e))?;
                std::fs::write(dir.join(name), content).map_err(|e| self.meta.error(e))?;
                names.push(name.clone());
            }
        }
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let tree = Tree::new(vec![dir]);
        plan(&tree, &names, dest, dest_is_dir, &KeepAll).map_err(|e| self.meta.error(e))
    }

    /// Downloads and checkouts, each planned like a COPY from its own directory.
    pub(super) fn remote_items(
        &self,
        scratch: &Path,
        dest: &str,
        dest_is_dir: bool,
    ) -> Result<Vec<CopyItem>, BuildError> {
        let mut items = Vec::new();
        for (i, s) in self.op.sources.iter().enumerate() {
            let (root, sources) = match s {
                CopySource::Url(url) => {
                    let d = self.download(url)?;
                    self.verify(url, &d)?;
                    let dir = d.path.parent().unwrap_or(scratch).to_path_buf();
                    (dir, vec![remote::file_name(url)])
                }
                CopySource::Git(g) => {
                    let g = &self.git_source(g)?;
                    let keep = self.op.add.as_ref().is_some_and(|a| a.keep_git_dir);
                    let dir = scratch.join(format!("git-{i}"));
                    let root = self.with_git_transport(g, |t| {
                        let commit = git::resolve_commit(g, t)?;
                        git::checkout(g, &commit, &dir, keep, t)
                    })?;
                    (root, vec![".".to_string()])
                }
                _ => continue,
            };
            let tree = Tree::new(vec![root]);
            let dir = dest_is_dir || matches!(s, CopySource::Git(_));
            items.extend(
                plan(&tree, &sources, dest, dir, &KeepAll).map_err(|e| self.meta.error(e))?,
            );
        }
        Ok(items)
    }

    fn verify(&self, url: &str, d: &Download) -> Result<(), BuildError> {
        let Some(c) = self.op.add.as_ref().and_then(|a| a.checksum.as_deref()) else {
            return Ok(());
        };
        let want = remote::parse_checksum(c).map_err(|e| self.meta.error(e))?;
        if want != d.digest {
            return Err(self.meta.error(format!(
                "checksum mismatch for {url}: expected {want}, got {}",
                d.digest
            )));
        }
        Ok(())
    }
}
