//! COPY and ADD: files from a local context, a heredoc, another stage, an URL or a git
//! repository; ADD also unpacks local archives.
//!
//! The step's state and its `exec` live here; the cache key is in `key`, and the sources that
//! are not plain paths (heredocs, URLs, git, archives) in `sources`.

mod gitssh;
mod key;
mod sources;

use std::path::Path;
use std::sync::{Arc, Mutex};

use rbuild_context::archive;
use rbuild_context::chown;
use rbuild_context::local::LocalContext;
use rbuild_context::remote::Download;
use rbuild_context::select::{plan_with, CopyItem, KeepAll, PlanOptions};
use rbuild_context::tree::Tree;
use rbuild_context::write::{write_items, Attrs};
use rbuild_solver::KeyPart;
use rbuild_store::ScratchDir;

use super::prefetch::Prefetch;
use super::{commit_layer, ensure_snapshots, Runtime};
use crate::image::FsState;
use crate::plan::{CopyFrom, CopyOp, StepMeta};
use crate::BuildError;

/// One `file:<path>` key component per selected context entry (its content digest), in
/// selection order, in chunks encoded in parallel.
pub type ContextContent = Vec<KeyPart>;

/// A COPY/ADD being solved: the plan's op and what its key computed that `exec` reuses.
pub struct CopyStep<'a> {
    op: &'a CopyOp,
    meta: &'a StepMeta,
    rt: &'a Runtime<'a>,
    /// The local context read (`None` when the sources come from another vertex).
    ctx: Option<Arc<LocalContext>>,
    /// URL downloads made while computing the key, reused by `exec`.
    fetched: Mutex<Vec<(String, Download, Arc<ScratchDir>)>>,
    /// The local sources' key components, computed ahead of the key (see `prefetch`).
    prefetched: Prefetch<Result<ContextContent, BuildError>>,
}

impl<'a> CopyStep<'a> {
    /// The state for `op`.
    pub fn new(op: &'a CopyOp, meta: &'a StepMeta, rt: &'a Runtime<'a>) -> Self {
        CopyStep {
            op,
            meta,
            rt,
            ctx: rt.contexts.for_copy(&op.from),
            fetched: Mutex::default(),
            prefetched: Prefetch::default(),
        }
    }

    fn plan_options(&self) -> PlanOptions<'a> {
        let m = &self.op.exclude_matcher;
        PlanOptions {
            parents: self.op.parents,
            excludes: (!m.is_empty()).then_some(m),
        }
    }

    /// Copies the sources into a fresh layer on top of the parent.
    pub fn exec(&self, inputs: &[FsState]) -> Result<FsState, BuildError> {
        let parent = inputs.first().cloned().unwrap_or_default();
        let store = &self.rt.store;
        let lower = Tree::new(ensure_snapshots(self.rt, &parent)?);
        // BuildKit resolves the destination through every symlink of the image, a last or
        // dangling one too (`COPY f /link/` writes where `link` points), never outside it.
        let dest = lower
            .root_path(&self.op.dest)
            .unwrap_or_else(|| self.op.dest.clone());
        let dest_is_dir =
            self.op.dest_is_dir || lower.resolve(&dest, true).is_some_and(|f| f.meta.is_dir());
        let scratch = store.scratch()?;
        let mut items = self.select(inputs, &dest, dest_is_dir, scratch.path())?;
        items.extend(self.inline_items(scratch.path(), &dest, dest_is_dir)?);
        items.extend(self.remote_items(scratch.path(), &dest, dest_is_dir)?);
        let archives = self.split_archives(&mut items)?;
        let attrs = Attrs {
            owner: self.owner(&lower)?,
            mode: self.op.chmod.clone(),
            keep_source_owner: self.reads_input() && self.op.chown.is_none(),
        };
        let upper = scratch.path().join("upper");
        std::fs::create_dir(&upper).map_err(|e| self.meta.error(e))?;
        write_items(&items, &upper, &lower, &attrs)
            .map_err(|e| self.meta.error(format!("copy failed: {e}")))?;
        for (path, kind) in archives {
            let target = rbuild_context::write::make_dirs(&upper, &dest, &lower, attrs.owner)
                .and_then(|t| std::fs::create_dir_all(&t).map(|_| t))
                .map_err(|e| self.meta.error(format!("copy failed: {e}")))?;
            let owner = self.op.chown.is_some().then_some(attrs.owner);
            let below = archive::ImageBelow::new(&lower, &dest);
            archive::extract(&path, kind, &target, owner, Some(&below))
                .map_err(|e| self.meta.error(e))?;
        }
        commit_layer(self.rt, &parent, Some(&upper))
    }

    fn select(
        &self,
        inputs: &[FsState],
        dest: &str,
        dest_is_dir: bool,
        scratch: &Path,
    ) -> Result<Vec<CopyItem>, BuildError> {
        let paths = self.op.paths();
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let opts = self.plan_options();
        let result = match &self.ctx {
            None => {
                let src = inputs.get(1).cloned().unwrap_or_default();
                let mut layers = ensure_snapshots(self.rt, &src)?;
                if layers.is_empty() {
                    // A stage with no layer (FROM scratch, nothing added) is an empty
                    // directory to BuildKit: `COPY --from=it / /x` makes an empty `/x`.
                    let empty = scratch.join("empty-source");
                    std::fs::create_dir(&empty).map_err(|e| self.meta.error(e))?;
                    layers.push(empty);
                }
                let tree = Tree::new(layers);
                plan_with(&tree, &paths, dest, dest_is_dir, &KeepAll, opts)
            }
            Some(ctx) => {
                let tree = Tree::new(vec![ctx.dir.clone()]);
                plan_with(&tree, &paths, dest, dest_is_dir, &**ctx, opts)
            }
        };
        result.map_err(|e| self.meta.error(e))
    }

    fn owner(&self, lower: &Tree) -> Result<(u32, u32), BuildError> {
        let Some(spec) = &self.op.chown else {
            return Ok((0, 0));
        };
        chown::resolve_in(spec, lower).map_err(|e| self.meta.error(e))
    }

    /// Whether path sources are read from another vertex (a stage or an image).
    fn reads_input(&self) -> bool {
        self.op.from == CopyFrom::Input
    }
}
