//! The plan: what a build will do, as plain data. Lowering makes it from a Dockerfile and a
//! request; nothing in it can run anything (no store, no sandbox, no runtime): the solver
//! runs it later with a [`Runtime`](crate::ops::Runtime) handed in, and `rbuild debug plan`
//! prints it ([`show`]).

mod mounts;
mod show;

use std::path::PathBuf;

use rbuild_context::chmod::Chmod;
use rbuild_context::git::GitSource;
use rbuild_context::ignore::Matcher;
use rbuild_oci::{ImageConfig, Platform};
use rbuild_sandbox::NetworkMode;
pub use rbuild_solver::VertexId;

use crate::error::StepLocation;
use crate::image::{FsState, HistorySlot};
use crate::progress::StepInfo;

pub use mounts::{MountFrom, RunMount, Sharing};
pub use show::{show, KeyView};

/// A lowered build.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Every step of the needed stages; a vertex's inputs come before it.
    pub vertices: Vec<Vertex>,
    /// The vertex whose value is the final filesystem.
    pub target: VertexId,
    /// The image the target stage describes (history and rootfs are filled after solving).
    pub image: ImageSpec,
    /// The platform the image is for.
    pub platform: Platform,
    /// Warnings for the user (unused build args, deprecated forms).
    pub warnings: Vec<String>,
    /// The platforms the plan's RUN steps execute on (a stage's `FROM --platform`, else the
    /// target's): each must be native or emulated here.
    pub run_platforms: Vec<Platform>,
}

/// The final stage's image before its layers are known.
#[derive(Clone, Debug)]
pub struct ImageSpec {
    /// The config (history and rootfs are filled after solving).
    pub config: ImageConfig,
    /// One slot per history entry, filled with times after solving.
    pub history: Vec<HistorySlot>,
    /// Creation time of the stage's base image.
    pub base_created: Option<String>,
}

/// One step of the build graph.
#[derive(Clone, Debug)]
pub struct Vertex {
    /// What the step does.
    pub op: OpKind,
    /// The vertices whose values it reads: the parent filesystem first, then a `--from` source.
    pub inputs: Vec<VertexId>,
    /// The stage it belongs to (its name, or its index as text), for `--no-cache-filter`.
    pub stage: String,
    /// How progress shows it and where it is in the Dockerfile.
    pub step: StepMeta,
}

/// Facts about a step shared by all op kinds.
#[derive(Clone, Debug)]
pub struct StepMeta {
    /// How progress shows it.
    pub info: StepInfo,
    /// Where it is in the Dockerfile.
    pub location: StepLocation,
    /// Stable identity across builds, for explaining cache misses.
    pub identity: String,
}

/// What a vertex does.
#[derive(Clone, Debug)]
pub enum OpKind {
    /// FROM an image or scratch: its value is known without work.
    Base(BaseOp),
    /// RUN.
    Run(RunOp),
    /// COPY / ADD.
    Copy(CopyOp),
    /// WORKDIR's directory.
    Workdir(WorkdirOp),
}

impl OpKind {
    /// The kind's name as `debug plan` prints it.
    pub fn name(&self) -> &'static str {
        match self {
            OpKind::Base(_) => "base",
            OpKind::Run(_) => "run",
            OpKind::Copy(c) if c.add.is_some() => "add",
            OpKind::Copy(_) => "copy",
            OpKind::Workdir(_) => "workdir",
        }
    }
}

/// A base image (or scratch).
#[derive(Clone, Debug)]
pub struct BaseOp {
    /// Manifest digest, or `scratch`.
    pub source: String,
    /// The image's layers.
    pub fs: FsState,
}

/// A RUN step, fully expanded.
#[derive(Clone, Debug)]
pub struct RunOp {
    /// argv after SHELL wrapping.
    pub argv: Vec<String>,
    /// The process environment (config env + build args in scope).
    pub env: Vec<String>,
    /// The environment that counts for the cache key (proxy args left out).
    pub key_env: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// USER as written.
    pub user: String,
    /// Network mode (`RUN --network` over the build's `--network`).
    pub network: NetworkMode,
    /// `RUN --security=insecure` (granted by `--allow security.insecure`).
    pub insecure: bool,
    /// `RUN --mount`s, in order; a mount reading a stage or an image reads the vertex input
    /// its [`MountFrom::Input`] names (input 0 is the parent filesystem).
    pub mounts: Vec<RunMount>,
    /// The sandbox's hostname when the build sets one (BuildKit's build arg
    /// `BUILDKIT_SANDBOX_HOSTNAME`); `None` is rbuild's default.
    pub hostname: Option<String>,
}

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

/// Where a COPY reads its path sources.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CopyFrom {
    /// The build context (with its `.dockerignore`).
    Context,
    /// A named local context (`--build-context name=DIR`), with its own `.dockerignore`.
    Dir(PathBuf),
    /// The vertex `inputs[1]`: a stage or an image.
    Input,
}

/// What only ADD does.
#[derive(Clone, Debug, Default)]
pub struct AddOptions {
    /// `--checksum` of an URL source (`sha256:<hex>`).
    pub checksum: Option<String>,
    /// `--keep-git-dir`.
    pub keep_git_dir: bool,
    /// Whether local archives are unpacked (`--unpack`, default true).
    pub unpack: bool,
    /// Whether downloaded archives are unpacked too: only with `--unpack=true`, as in BuildKit.
    pub unpack_urls: bool,
}

/// A COPY or ADD step, fully expanded.
#[derive(Clone, Debug)]
pub struct CopyOp {
    /// Sources in order.
    pub sources: Vec<CopySource>,
    /// Absolute destination (WORKDIR applied).
    pub dest: String,
    /// Whether the destination was written as a directory (trailing `/`, `.`).
    pub dest_is_dir: bool,
    /// `--chown`.
    pub chown: Option<String>,
    /// `--chmod`.
    pub chmod: Option<Chmod>,
    /// Where path sources are read.
    pub from: CopyFrom,
    /// `--parents`.
    pub parents: bool,
    /// `--exclude` patterns as written.
    pub excludes: Vec<String>,
    /// `--exclude` compiled once, when the step is lowered.
    pub exclude_matcher: Matcher,
    /// ADD's options (`None` for COPY).
    pub add: Option<AddOptions>,
}

impl CopyOp {
    /// The path (and glob) sources, in order.
    pub fn paths(&self) -> Vec<String> {
        self.sources
            .iter()
            .filter_map(|s| match s {
                CopySource::Path(p) => Some(p.clone()),
                _ => None,
            })
            .collect()
    }
}

/// WORKDIR's directory, made as BuildKit's mkdir op makes it.
#[derive(Clone, Debug)]
pub struct WorkdirOp {
    /// The absolute, cleaned working directory.
    pub path: String,
    /// The USER in effect (`user[:group]`, names or ids); empty for root.
    pub user: String,
}

impl Plan {
    /// The vertex `id`.
    pub fn vertex(&self, id: VertexId) -> Option<&Vertex> {
        self.vertices.get(id.0)
    }

    /// The identities of the steps whose results start the image: the target and, through
    /// each one's parent filesystem (its first input), every step below it down to the base.
    pub fn image_chain(&self) -> Vec<&str> {
        let mut out = Vec::new();
        let mut at = Some(self.target);
        // A parent is always an earlier vertex; the bound keeps a malformed plan finite.
        while let Some(v) = at
            .and_then(|id| self.vertex(id))
            .filter(|_| out.len() <= self.vertices.len())
        {
            out.push(v.step.identity.as_str());
            at = v.inputs.first().copied();
        }
        out
    }

    /// The vertices the target needs, inputs first.
    pub fn needed(&self) -> Vec<VertexId> {
        let mut seen = vec![false; self.vertices.len()];
        let mut todo = vec![self.target];
        while let Some(v) = todo.pop() {
            if seen.get(v.0).copied().unwrap_or(true) {
                continue;
            }
            seen[v.0] = true;
            todo.extend(self.vertices[v.0].inputs.iter().copied());
        }
        (0..self.vertices.len())
            .filter(|i| seen[*i])
            .map(VertexId)
            .collect()
    }

    /// The ids of the cache mounts the steps the target needs use (`mounts=true` exports).
    pub fn cache_mount_ids(&self) -> std::collections::BTreeSet<String> {
        let runs = self
            .needed()
            .into_iter()
            .filter_map(|v| match &self.vertex(v)?.op {
                OpKind::Run(run) => Some(run),
                _ => None,
            });
        runs.flat_map(|r| &r.mounts)
            .filter_map(|m| match m {
                RunMount::Cache { id, .. } => Some(id.clone()),
                _ => None,
            })
            .collect()
    }
}
