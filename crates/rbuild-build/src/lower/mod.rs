//! Lowering: a parsed Dockerfile plus a request → a graph of ops and the final image config.
//!
//! Split by instruction family: `stage` drives one stage, `meta` handles config-only
//! instructions, `fs` the ones that change the filesystem (RUN, COPY, ADD).

mod args;
mod fs;
mod meta;
mod named;
mod select;
mod stage;
mod workdir;

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rbuild_dockerfile::{Dockerfile, Lexer};
use rbuild_oci::ImageConfig;
use rbuild_solver::{Graph, VertexId};

use crate::image::HistorySlot;
use crate::ops::{BuildOp, ExcludeFn, Runtime};
use crate::resolve::BaseResolver;
use crate::{BuildError, BuildRequest};

pub use args::{builtin_args, PROXY_ARGS};

/// The lowered build.
pub struct Plan {
    /// All ops of the needed stages.
    pub graph: Graph<BuildOp>,
    /// The vertex whose value is the final filesystem.
    pub target: VertexId,
    /// The final config (history and rootfs are filled after solving).
    pub config: ImageConfig,
    /// History slots of the final stage.
    pub history: Vec<HistorySlot>,
    /// Creation time of the final stage's base image.
    pub base_created: Option<String>,
    /// Stage name of each vertex (for `--no-cache-filter`).
    pub vertex_stage: Vec<String>,
    /// Warnings for the user.
    pub warnings: Vec<String>,
}

/// Everything lowering reads.
pub struct LowerInput<'a> {
    /// The parsed Dockerfile.
    pub dockerfile: &'a Dockerfile,
    /// The request.
    pub request: &'a BuildRequest,
    /// Resolves FROM and `COPY --from` images.
    pub resolver: &'a dyn BaseResolver,
    /// Runtime handed to ops.
    pub runtime: Arc<Runtime>,
    /// Context exclusions.
    pub exclude: ExcludeFn,
}

/// The output of one lowered stage.
#[derive(Clone)]
pub(crate) struct StageOut {
    pub vertex: VertexId,
    pub config: ImageConfig,
    pub history: Vec<HistorySlot>,
    pub fs_steps: usize,
    pub base_created: Option<String>,
}

/// State shared by all stages while lowering.
pub(crate) struct Shared<'a> {
    pub input: &'a LowerInput<'a>,
    pub graph: Graph<BuildOp>,
    pub lexer: Lexer,
    pub globals: BTreeMap<String, String>,
    pub used_args: BTreeSet<String>,
    pub names: BTreeMap<String, usize>,
    pub outs: Vec<Option<StageOut>>,
    pub step_number: usize,
    pub vertex_stage: Vec<String>,
    pub warnings: Vec<String>,
    /// Images imported from `oci-layout://` contexts, by reference: each is read once.
    pub oci_images: std::collections::HashMap<String, crate::resolve::BaseImage>,
}

/// Lowers the stages the target needs.
pub fn lower(input: &LowerInput) -> Result<Plan, BuildError> {
    let df = input.dockerfile;
    let lexer = Lexer::new(df.directives.escape);
    let globals = args::global_args(df, input.request, &lexer)?;
    let names = select::stage_names(df)?;
    let target = select::target_index(df, &names, input.request.target.as_deref())?;
    let needed = select::needed_stages(df, &names, &globals, &lexer, target);
    let mut shared = Shared {
        input,
        graph: Graph::new(),
        lexer,
        globals,
        used_args: BTreeSet::new(),
        names,
        outs: vec![None; df.stages.len()],
        step_number: 0,
        vertex_stage: Vec::new(),
        warnings: df
            .warnings
            .iter()
            .map(|w| format!("line {}: {}", w.line, w.message))
            .collect(),
        oci_images: Default::default(),
    };
    for index in needed {
        let out = stage::lower_stage(&mut shared, index)?;
        shared.outs[index] = Some(out);
    }
    let out = shared.outs[target]
        .clone()
        .ok_or_else(|| BuildError::at(0, "target stage was not lowered"))?;
    args::warn_unused(&mut shared);
    Ok(Plan {
        graph: shared.graph,
        target: out.vertex,
        config: out.config,
        history: out.history,
        base_created: out.base_created,
        vertex_stage: shared.vertex_stage,
        warnings: shared.warnings,
    })
}
