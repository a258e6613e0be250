//! COPY and ADD: files from a local context, a heredoc, another stage, an URL or a git
//! repository; ADD also unpacks local archives.
//!
//! The op's types and its `exec` live here; the cache key is in `key`, and the sources that
//! are not plain paths (heredocs, URLs, git, archives) in `sources`.

mod key;
mod sources;

use std::sync::{Arc, Mutex};

use rbuild_solver::KeyPart;
use rbuild_store::ScratchDir;

use rbuild_context::archive;
use rbuild_context::chmod::Chmod;
use rbuild_context::chown;
use rbuild_context::git::GitSource;
use rbuild_context::ignore::Matcher;
use rbuild_context::local::LocalContext;
use rbuild_context::remote::Download;
use rbuild_context::select::{plan_with, CopyItem, KeepAll, PlanOptions};
use rbuild_context::tree::Tree;
use rbuild_context::write::{write_items, Attrs};
use crate::image::FsState;
use crate::ops::prefetch::Prefetch;
use crate::ops::{commit_layer, ensure_snapshots, Runtime, StepMeta};
use crate::BuildError;

/// One COPY/ADD source.
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
    /// ADD of an http(s) URL.
    Url(String),
    /// ADD of a git repository.
    Git(GitSource),
}

/// The local context a COPY reads (its directory, `.dockerignore` and digest cache).
///
/// The name is historical: it started as the exclusion function only.
pub type ExcludeFn = Arc<LocalContext>;

/// What only ADD does.
#[derive(Clone, Debug, Default)]
pub struct AddOptions {
    /// `--checksum` of an URL source (`sha256:<hex>`).
    pub checksum: Option<String>,
    /// `--keep-git-dir`.
    pub keep_git_dir: bool,
    /// Whether local archives are unpacked (`--unpack`, default true).
    pub unpack: bool,
}

/// A COPY or ADD step, fully expanded.
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
    /// `--chmod`.
    pub chmod: Option<Chmod>,
    /// Whether `inputs[1]` is the source (a stage or image); otherwise the local context.
    pub from_input: bool,
    /// The local context read when not `from_input`.
    pub exclude: ExcludeFn,
    /// `--parents`.
    pub parents: bool,
    /// `--exclude` patterns.
    pub excludes: Vec<String>,
    /// ADD's options (`None` for COPY).
    pub add: Option<AddOptions>,
    /// Shared build runtime.
    pub rt: Arc<Runtime>,
    /// URL downloads made while computing the key, reused by `exec`.
    pub fetched: Mutex<Vec<(String, Download, Arc<ScratchDir>)>>,
    /// The local sources' key components, computed ahead of the key (see [`CopyOp::prefetch`]).
    pub prefetched: Prefetch<Result<ContextContent, BuildError>>,
}

/// One `file:<path>` key component per selected context entry (its content digest), in
/// selection order, in chunks encoded in parallel.
pub type ContextContent = Vec<KeyPart>;

impl CopyOp {
    fn paths(&self) -> Vec<String> {
        self.sources
            .iter()
            .filter_map(|s| match s {
                CopySource::Path(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }

    fn exclude_matcher(&self) -> Result<Matcher, BuildError> {
        Matcher::new(&self.excludes).map_err(|e| self.step.error(e))
    }

    fn plan_options<'a>(&self, m: &'a Matcher) -> PlanOptions<'a> {
        PlanOptions {
            parents: self.parents,
            excludes: (!m.is_empty()).then_some(m),
        }
    }

    /// Copies the sources into a fresh layer on top of the parent.
    pub fn exec(&self, inputs: &[FsState]) -> Result<FsState, BuildError> {
        let parent = inputs.first().cloned().unwrap_or_default();
        let store = &self.rt.store;
        let lower = Tree::new(ensure_snapshots(store, &parent)?);
        let dest_is_dir = self.dest_is_dir
            || self.sources.len() > 1
            || lower
                .resolve(&self.dest, true)
                .is_some_and(|f| f.meta.is_dir());
        let scratch = store.scratch()?;
        let mut items = self.select(inputs, dest_is_dir)?;
        items.extend(self.inline_items(scratch.path(), dest_is_dir)?);
        items.extend(self.remote_items(scratch.path(), dest_is_dir)?);
        let archives = self.split_archives(&mut items)?;
        let attrs = Attrs {
            owner: self.owner(&lower)?,
            mode: self.chmod.clone(),
        };
        let upper = scratch.path().join("upper");
        std::fs::create_dir(&upper).map_err(|e| self.step.error(e))?;
        write_items(&items, &upper, &lower, &attrs)
            .map_err(|e| self.step.error(format!("copy failed: {e}")))?;
        for (path, kind) in archives {
            let target = rbuild_context::write::make_dirs(&upper, &self.dest, &lower, attrs.owner)
                .and_then(|t| std::fs::create_dir_all(&t).map(|_| t))
                .map_err(|e| self.step.error(format!("copy failed: {e}")))?;
            let owner = self.chown.is_some().then_some(attrs.owner);
            archive::extract(&path, kind, &target, owner).map_err(|e| self.step.error(e))?;
        }
        commit_layer(&self.rt, &parent, &upper)
    }

    fn select(&self, inputs: &[FsState], dest_is_dir: bool) -> Result<Vec<CopyItem>, BuildError> {
        let paths = self.paths();
        if paths.is_empty() {
            return Ok(Vec::new());
        }
        let m = self.exclude_matcher()?;
        let opts = self.plan_options(&m);
        let result = if self.from_input {
            let src = inputs.get(1).cloned().unwrap_or_default();
            let tree = Tree::new(ensure_snapshots(&self.rt.store, &src)?);
            plan_with(&tree, &paths, &self.dest, dest_is_dir, &KeepAll, opts)
        } else {
            let tree = Tree::new(vec![self.exclude.dir.clone()]);
            plan_with(&tree, &paths, &self.dest, dest_is_dir, &*self.exclude, opts)
        };
        result.map_err(|e| self.step.error(e))
    }

    fn owner(&self, lower: &Tree) -> Result<(u32, u32), BuildError> {
        let Some(spec) = &self.chown else {
            return Ok((0, 0));
        };
        chown::resolve_in(spec, lower).map_err(|e| self.step.error(e))
    }
}

/// Parses `--chmod`: octal or symbolic (`u+x,g-w`).
pub fn parse_chmod(value: &str) -> Option<Chmod> {
    Chmod::parse(value)
}
