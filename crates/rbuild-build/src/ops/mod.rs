//! The build's solver ops: base images, RUN in a sandbox, COPY from the context or a stage,
//! WORKDIR's directory.

mod copy;
mod prefetch;
mod run;
mod snapshots;
mod workdir;

use std::path::PathBuf;
use std::sync::Arc;

use rbuild_layer::WriteOptions;
use rbuild_solver::{CacheKey, Components, ExecContext, KeyBuilder, Op};
use rbuild_store::Store;

pub use copy::{parse_chmod, AddOptions, ContextContent, CopyOp, CopySource, ExcludeFn};
pub use prefetch::Prefetch;
pub use run::RunOp;
pub use snapshots::{commit_layer, ensure_snapshots};
pub use workdir::WorkdirOp;

use crate::error::StepLocation;
use crate::image::FsState;
use crate::progress::{Reporter, StepInfo};
use crate::BuildError;

/// What every op needs from the running build.
pub struct Runtime {
    /// The store.
    pub store: Arc<Store>,
    /// The build context directory.
    pub context: PathBuf,
    /// Where progress goes.
    pub reporter: Arc<dyn Reporter>,
    /// The executable re-run as sandbox init.
    pub sandbox_exe: PathBuf,
    /// How layers are written.
    pub layer_options: WriteOptions,
    /// SOURCE_DATE_EPOCH, which also stands in for "now" in history.
    pub source_date_epoch: Option<i64>,
}

impl Runtime {
    /// The time recorded for a step that runs now.
    pub fn step_time(&self) -> i64 {
        let now = crate::time::now_unix();
        self.source_date_epoch.map_or(now, |e| e.min(now))
    }
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

impl StepMeta {
    /// An error at this step.
    pub fn error(&self, message: impl std::fmt::Display) -> BuildError {
        BuildError::Step {
            at: self.location.clone(),
            message: message.to_string(),
        }
    }
}

/// A base image (or scratch): its value is known without work.
#[derive(Clone, Debug)]
pub struct BaseOp {
    /// Step display.
    pub step: StepMeta,
    /// Manifest digest, or `scratch`.
    pub source: String,
    /// The image's layers.
    pub fs: FsState,
}

/// One vertex of the build graph.
pub enum BuildOp {
    /// FROM an image or scratch.
    Base(BaseOp),
    /// RUN.
    Run(Box<RunOp>),
    /// COPY / ADD.
    Copy(Box<CopyOp>),
    /// WORKDIR's directory.
    Workdir(Box<WorkdirOp>),
}

impl BuildOp {
    /// The step's display and location.
    pub fn step(&self) -> &StepMeta {
        match self {
            BuildOp::Base(b) => &b.step,
            BuildOp::Run(r) => &r.step,
            BuildOp::Copy(c) => &c.step,
            BuildOp::Workdir(w) => &w.step,
        }
    }
}

impl Op for BuildOp {
    type Value = FsState;
    type Error = BuildError;

    fn identity(&self) -> String {
        self.step().identity.clone()
    }

    fn cache_key(&self, inputs: &[CacheKey]) -> Result<(CacheKey, Components), BuildError> {
        match self {
            BuildOp::Base(b) => Ok(KeyBuilder::new("base", 1).str("image", &b.source).finish()),
            BuildOp::Run(r) => Ok(r.cache_key(inputs)),
            BuildOp::Copy(c) => c.cache_key(inputs),
            BuildOp::Workdir(w) => Ok(w.cache_key(inputs)),
        }
    }

    fn cacheable(&self) -> bool {
        !matches!(self, BuildOp::Base(_))
    }

    fn exec(&self, inputs: &[FsState], ctx: &ExecContext) -> Result<FsState, BuildError> {
        if ctx.is_cancelled() {
            return Err(BuildError::Cancelled);
        }
        match self {
            BuildOp::Base(b) => Ok(b.fs.clone()),
            BuildOp::Run(r) => r.exec(inputs),
            BuildOp::Copy(c) => c.exec(inputs),
            BuildOp::Workdir(w) => w.exec(inputs),
        }
    }
}
