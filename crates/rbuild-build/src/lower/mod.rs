//! Lowering: a parsed Dockerfile plus a request → a [`Plan`] of plain data.
//!
//! Split by instruction family: `stage` drives one stage, `meta` handles config-only
//! instructions, `fs` the ones that change the filesystem (RUN, COPY, ADD), `from` the
//! sources of `COPY --from` and named contexts, `args` the build arguments and platforms.

mod args;
mod base;
mod from;
mod fs;
mod history;
mod lint;
mod meta;
mod mounts;
mod named;
mod run;
mod select;
mod signal;
mod stage;
mod state;
mod workdir;

use std::collections::{BTreeMap, BTreeSet};

use rbuild_dockerfile::{Dockerfile, Lexer};
use rbuild_oci::Platform;
use rbuild_store::Store;

use crate::image::HistorySlot;
use crate::plan::{ImageSpec, OpKind, Plan, StepMeta, Vertex, VertexId};
use crate::resolve::BaseResolver;
use crate::{BuildError, BuildRequest};

pub use args::{builtin_args, dockerfile_epoch, global_args, ArgScope, PROXY_ARGS};
pub use base::DEFAULT_PATH;

/// Everything lowering reads.
pub struct LowerInput<'a> {
    /// The parsed Dockerfile.
    pub dockerfile: &'a Dockerfile,
    /// The request.
    pub request: &'a BuildRequest,
    /// Resolves FROM and `COPY --from` images.
    pub resolver: &'a dyn BaseResolver,
    /// The store images resolve into (and `oci-layout://` contexts are imported into).
    pub store: &'a Store,
    /// The platform the image is built for.
    pub platform: Platform,
}

/// The output of one lowered stage.
#[derive(Clone)]
pub(crate) struct StageOut {
    pub vertex: VertexId,
    pub config: rbuild_oci::ImageConfig,
    pub history: Vec<HistorySlot>,
    pub fs_steps: usize,
    pub base_created: Option<String>,
    /// The platform the stage runs on (`FROM --platform`, else the target's).
    pub platform: Platform,
    /// ARGs declared so far (a stage built on this one inherits them, as in BuildKit).
    pub args: state::StageArgs,
}

/// State shared by all stages while lowering.
pub(crate) struct Shared<'a> {
    pub input: &'a LowerInput<'a>,
    pub vertices: Vec<Vertex>,
    pub lexer: Lexer,
    pub globals: BTreeMap<String, String>,
    pub used_args: BTreeSet<String>,
    pub names: BTreeMap<String, usize>,
    pub outs: Vec<Option<StageOut>>,
    pub step_number: usize,
    pub warnings: Vec<String>,
    /// Platforms RUN steps execute on.
    pub run_platforms: Vec<Platform>,
    /// Images imported from `oci-layout://` contexts, by reference: each is read once.
    pub oci_images: std::collections::HashMap<String, crate::resolve::BaseImage>,
}

impl Shared<'_> {
    /// Adds a vertex of stage `stage`.
    pub fn add(
        &mut self,
        op: OpKind,
        inputs: Vec<VertexId>,
        stage: &str,
        step: StepMeta,
    ) -> VertexId {
        self.vertices.push(Vertex {
            op,
            inputs,
            stage: stage.to_string(),
            step,
        });
        VertexId(self.vertices.len() - 1)
    }
}

/// BuildKit would run a `# syntax=` frontend image (and fails when it cannot resolve it);
/// building the file as a Dockerfile instead could mean something else entirely.
fn refuse_external_frontend(df: &rbuild_dockerfile::Dockerfile) -> Result<(), BuildError> {
    match df.directives.external_frontend() {
        Some((value, line)) => Err(BuildError::at(
            line,
            format!(
                "syntax={value} names an external frontend image, and rbuild builds only with \
                 its built-in Dockerfile frontend (docker/dockerfile): remove the directive or \
                 name docker/dockerfile"
            ),
        )),
        None => Ok(()),
    }
}

/// Lowers the stages the target needs.
pub fn lower(input: &LowerInput) -> Result<Plan, BuildError> {
    let df = input.dockerfile;
    refuse_external_frontend(df)?;
    let lexer = Lexer::new(df.directives.escape);
    let mut lint = Vec::new();
    let globals = args::global_args(df, input.request, &input.platform, &lexer, &mut lint)?;
    for ins in df.stages.iter().flat_map(|s| &s.instructions) {
        from::check_copy_from(ins, &lexer)?;
    }
    let names = select::stage_names(df)?;
    let target = select::target_index(df, &names, input.request.target.as_deref())?;
    let needed = select::needed_stages(df, &names, &globals, &lexer, target);
    let mut shared = Shared {
        input,
        vertices: Vec::new(),
        lexer,
        globals,
        used_args: BTreeSet::new(),
        names,
        outs: vec![None; df.stages.len()],
        step_number: 0,
        warnings: df
            .warnings
            .iter()
            .map(|w| format!("line {}: {}", w.line, w.message))
            .chain(lint)
            .collect(),
        oci_images: Default::default(),
        run_platforms: Vec::new(),
    };
    for index in needed {
        stage::ensure_lowered(&mut shared, index)?;
    }
    let out = shared.outs[target]
        .clone()
        .ok_or_else(|| BuildError::general("target stage was not lowered"))?;
    args::warn_unused(&mut shared);
    Ok(Plan {
        vertices: shared.vertices,
        target: out.vertex,
        image: ImageSpec {
            config: out.config,
            history: out.history,
            base_created: out.base_created,
        },
        platform: input.platform.clone(),
        warnings: shared.warnings,
        run_platforms: shared.run_platforms,
    })
}
