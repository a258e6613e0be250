//! COPY (and the local part of ADD): files from the context, a heredoc, or another stage.

use std::path::Path;
use std::sync::Arc;

use rbuild_solver::{CacheKey, Components, KeyBuilder};

use crate::context::chown::{self, parse_octal_mode};
use crate::context::hash::item_digest;
use crate::context::select::{plan, CopyItem};
use crate::context::tree::Tree;
use crate::context::write::{write_items, Attrs};
use crate::image::FsState;
use crate::ops::{commit_layer, ensure_snapshots, Runtime, StepMeta};
use crate::BuildError;

/// One COPY source.
#[derive(Clone, Debug)]
pub enum CopySource {
    /// A path or glob, relative to the context or the source stage's root.
    Path(String),
    /// A heredoc: a file `name` with `content`.
    Inline {
        /// File name.
        name: String,
        /// Its content.
        content: String,
    },
}

/// Excludes paths of the context (`.dockerignore`).
pub type ExcludeFn = Arc<dyn Fn(&str) -> bool + Send + Sync>;

/// A COPY step, fully expanded.
pub struct CopyOp {
    /// Display and location.
    pub step: StepMeta,
    /// Sources in order.
    pub sources: Vec<CopySource>,
    /// Absolute destination (WORKDIR applied).
    pub dest: String,
    /// Whether the destination was written with a trailing `/`.
    pub dest_is_dir: bool,
    /// `--chown`.
    pub chown: Option<String>,
    /// `--chmod` (octal).
    pub chmod: Option<u32>,
    /// Whether `inputs[1]` is the source (a stage or image); otherwise the context.
    pub from_input: bool,
    /// Context exclusions.
    pub exclude: ExcludeFn,
    /// Shared build runtime.
    pub rt: Arc<Runtime>,
}

impl CopyOp {
    fn paths(&self) -> Vec<String> {
        self.sources
            .iter()
            .filter_map(|s| match s {
                CopySource::Path(p) => Some(p.clone()),
                CopySource::Inline { .. } => None,
            })
            .collect()
    }

    /// COPY's key: parent, the op, and (for the context) a digest of each selected entry.
    pub fn cache_key(&self, inputs: &[CacheKey]) -> Result<(CacheKey, Components), BuildError> {
        let mut kb = KeyBuilder::new("copy", 1);
        if let Some(parent) = inputs.first() {
            kb = kb.key("parent", parent);
        }
        kb = kb
            .list("sources", &self.paths())
            .str("dest", &self.dest)
            .str("dest_is_dir", if self.dest_is_dir { "1" } else { "0" })
            .opt_str("chown", self.chown.as_deref())
            .opt_str("chmod", self.chmod.map(|m| format!("{m:o}")).as_deref());
        for s in &self.sources {
            if let CopySource::Inline { name, content } = s {
                kb = kb.str(&format!("heredoc:{name}"), content);
            }
        }
        if self.from_input {
            if let Some(src) = inputs.get(1) {
                kb = kb.key("from", src);
            }
        } else if !self.paths().is_empty() {
            let tree = Tree::new(vec![self.rt.context.clone()]);
            let items = plan(&tree, &self.paths(), &self.dest, true, &*self.exclude)
                .map_err(|e| self.step.error(e))?;
            for item in &items {
                let digest = item_digest(item)
                    .map_err(|e| self.step.error(format!("{}: {e}", item.source.rel)))?;
                kb = kb.str(&format!("file:{}", item.source.rel), &digest);
            }
        }
        Ok(kb.finish())
    }

    /// Copies the sources into a fresh layer on top of the parent.
    pub fn exec(&self, inputs: &[FsState]) -> Result<FsState, BuildError> {
        let parent = inputs.first().cloned().unwrap_or_default();
        let store = &self.rt.store;
        let lower = Tree::new(ensure_snapshots(store, &parent)?);
        let dest_is_dir = self.dest_is_dir
            || lower
                .resolve(&self.dest, true)
                .is_some_and(|f| f.meta.is_dir());
        let scratch = store.scratch()?;
        let mut items = self.select(inputs, dest_is_dir)?;
        items.extend(self.inline_items(scratch.path(), dest_is_dir)?);
        let attrs = Attrs {
            owner: self.owner(&lower)?,
            mode: self.chmod,
        };
        let upper = scratch.path().join("upper");
        std::fs::create_dir(&upper).map_err(|e| self.step.error(e))?;
        write_items(&items, &upper, &lower, attrs)
            .map_err(|e| self.step.error(format!("copy failed: {e}")))?;
        commit_layer(&self.rt, &parent, &upper)
    }

    fn select(&self, inputs: &[FsState], dest_is_dir: bool) -> Result<Vec<CopyItem>, BuildError> {
        let paths = self.paths();
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let dest_is_dir = dest_is_dir || self.sources.len() > 1;
        let (tree, exclude): (Tree, &(dyn Fn(&str) -> bool + Sync)) = if self.from_input {
            let src = inputs.get(1).cloned().unwrap_or_default();
            (Tree::new(ensure_snapshots(&self.rt.store, &src)?), &|_| {
                false
            })
        } else {
            (Tree::new(vec![self.rt.context.clone()]), &*self.exclude)
        };
        plan(&tree, &paths, &self.dest, dest_is_dir, exclude).map_err(|e| self.step.error(e))
    }

    fn inline_items(&self, scratch: &Path, dest_is_dir: bool) -> Result<Vec<CopyItem>, BuildError> {
        let dir = scratch.join("heredocs");
        let mut names = Vec::new();
        for s in &self.sources {
            if let CopySource::Inline { name, content } = s {
                std::fs::create_dir_all(&dir).map_err(|e| self.step.error(e))?;
                std::fs::write(dir.join(name), content).map_err(|e| self.step.error(e))?;
                names.push(name.clone());
            }
        }
        if names.is_empty() {
            return Ok(Vec::new());
        }
        let tree = Tree::new(vec![dir]);
        let dest_is_dir = dest_is_dir || self.sources.len() > 1;
        plan(&tree, &names, &self.dest, dest_is_dir, &|_| false).map_err(|e| self.step.error(e))
    }

    fn owner(&self, lower: &Tree) -> Result<(u32, u32), BuildError> {
        let Some(spec) = &self.chown else {
            return Ok((0, 0));
        };
        let read = |p: &str| {
            lower
                .resolve(p, true)
                .and_then(|f| std::fs::read_to_string(f.real).ok())
                .unwrap_or_default()
        };
        chown::resolve(spec, &read("etc/passwd"), &read("etc/group"))
            .map_err(|e| self.step.error(e))
    }
}

/// Parses `--chmod`; symbolic modes are not supported yet.
pub fn parse_chmod(value: &str) -> Option<u32> {
    parse_octal_mode(value)
}
