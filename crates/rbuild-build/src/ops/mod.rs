//! Running a plan: each vertex becomes a [`Step`], the solver op that computes its cache key
//! and, on a miss, does the work (base images, RUN in a sandbox, COPY, WORKDIR's directory)
//! with the effects a [`Runtime`] provides.

pub mod agent;
mod agent_proxy;
mod copy;
mod prefetch;
mod run;
mod runtime;
mod snapshots;
mod workdir;

use rbuild_solver::{CacheKey, Components, ExecContext, KeyBuilder, Op};

pub use copy::{ContextContent, CopyStep};
pub use prefetch::Prefetch;
pub use runtime::{Contexts, Runtime};
pub use snapshots::{commit_layer, ensure_snapshots};

use crate::image::FsState;
use crate::plan::{OpKind, StepMeta, Vertex};
use crate::BuildError;

/// One vertex of a plan, ready to be solved.
pub struct Step<'a> {
    /// The vertex.
    pub vertex: &'a Vertex,
    /// The effects it may use.
    pub rt: &'a Runtime<'a>,
    /// COPY's state between its key and its exec (walk, downloads); `None` for other kinds.
    pub copy: Option<CopyStep<'a>>,
}

impl<'a> Step<'a> {
    /// The step for `vertex`.
    pub fn new(vertex: &'a Vertex, rt: &'a Runtime<'a>) -> Self {
        let copy = match &vertex.op {
            OpKind::Copy(op) => Some(CopyStep::new(op, &vertex.step, rt)),
            _ => None,
        };
        Step { vertex, rt, copy }
    }

    /// Its display and location.
    pub fn meta(&self) -> &StepMeta {
        &self.vertex.step
    }
}

impl StepMeta {
    /// An error at this step, keeping `source` as the cause.
    pub fn error(&self, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> BuildError {
        BuildError::Step {
            at: self.location.clone(),
            source: source.into(),
        }
    }
}

impl Op for Step<'_> {
    type Value = FsState;
    type Error = BuildError;

    fn identity(&self) -> String {
        self.vertex.step.identity.clone()
    }

    fn cache_key(&self, inputs: &[CacheKey]) -> Result<(CacheKey, Components), BuildError> {
        match (&self.vertex.op, &self.copy) {
            (OpKind::Base(b), _) => Ok(KeyBuilder::new("base", 1).str("image", &b.source).finish()),
            (OpKind::Run(r), _) => run::cache_key(r, &self.vertex.step, self.rt, inputs),
            (OpKind::Copy(_), Some(c)) => c.cache_key(inputs),
            (OpKind::Workdir(w), _) => Ok(workdir::cache_key(w, inputs)),
            (OpKind::Copy(_), None) => Err(self.meta().error("COPY step without its state")),
        }
    }

    fn cacheable(&self) -> bool {
        !matches!(self.vertex.op, OpKind::Base(_))
    }

    fn content_inputs(&self) -> Vec<usize> {
        match &self.vertex.op {
            OpKind::Run(r) => run::content_inputs(r),
            _ => Vec::new(),
        }
    }

    fn content_key(&self, index: usize, value: &FsState) -> Result<CacheKey, BuildError> {
        match &self.vertex.op {
            OpKind::Run(r) => Ok(run::content_key(r, self.rt, index, value)),
            _ => Err(self.meta().error("only RUN mounts are keyed by content")),
        }
    }

    fn exec(&self, inputs: &[FsState], ctx: &ExecContext) -> Result<FsState, BuildError> {
        if ctx.is_cancelled() {
            return Err(BuildError::Cancelled);
        }
        let meta = &self.vertex.step;
        match (&self.vertex.op, &self.copy) {
            (OpKind::Base(b), _) => Ok(b.fs.clone()),
            (OpKind::Run(r), _) => run::exec(r, meta, self.rt, inputs),
            (OpKind::Copy(_), Some(c)) => c.exec(inputs),
            (OpKind::Workdir(w), _) => workdir::exec(w, meta, self.rt, inputs),
            (OpKind::Copy(_), None) => Err(meta.error("COPY step without its state")),
        }
    }
}
