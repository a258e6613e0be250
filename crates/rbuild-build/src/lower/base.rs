//! A stage's base: FROM an image, scratch, an earlier stage or a named context, on the
//! platform `FROM --platform` names (else the target's).

use std::collections::HashMap;

use rbuild_oci::Platform;

use super::state::StageState;
use super::{select, Shared, StageOut};
use crate::image::HistorySlot;
use crate::plan::{BaseOp, OpKind, StepMeta, VertexId};
use crate::resolve::BaseImage;
use crate::BuildError;

/// Docker's default PATH, set when a base image has none.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Starts stage `index`: its state with the base's config, and the base's vertex.
pub(crate) fn start(shared: &mut Shared, index: usize) -> Result<StageState, BuildError> {
    let stage = &shared.input.dockerfile.stages[index];
    let line = stage.location.start_line;
    let base = shared
        .lexer
        .expand_word(&stage.base, &shared.globals)
        .map_err(|e| BuildError::expand(Some(line), e))?;
    if base.is_empty() {
        // BuildKit's words for `FROM $UNSET`.
        let msg = format!("base name ({}) should not be blank", stage.base);
        return Err(BuildError::at(line, msg));
    }
    let platform = stage_platform(shared, stage.platform.as_deref(), line)?;
    let named = shared.input.request.named_contexts.get(&base).cloned();
    let parent = select::stage_ref(&shared.names, &base, index).filter(|_| named.is_none());
    let scratch = base.eq_ignore_ascii_case("scratch") && named.is_none();
    let image_base = parent.is_none() && !scratch;
    let mut st = StageState {
        index,
        name: stage.name.clone().unwrap_or_default(),
        total: super::stage::counted_steps(&stage.instructions, image_base),
        position: 0,
        out: empty_out(platform.clone()),
        cmd_set: false,
        env_index: HashMap::new(),
    };
    let text = format!("FROM {base}");
    let step = if image_base {
        shared.step(&mut st, line, &text)
    } else {
        shared.uncounted_step(&st, line, &text)
    };
    if let Some(named) = named {
        return super::named::named_base(shared, st, (&base, named), step, line);
    }
    if let Some(parent) = parent {
        st.out = super::stage::ensure_lowered(shared, parent)?;
        return Ok(st);
    }
    let image = resolve_image(shared, &base, &platform, line)?;
    st.out = from_image(shared, &mut st, image, step);
    Ok(st)
}

fn empty_out(platform: Platform) -> StageOut {
    StageOut {
        vertex: VertexId(0),
        config: Default::default(),
        history: Vec::new(),
        fs_steps: 0,
        base_created: None,
        platform,
        args: Default::default(),
    }
}

/// `FROM --platform=...` (expanded with the global ARGs, so `$BUILDPLATFORM` works), else
/// the platform the build targets.
fn stage_platform(
    shared: &Shared,
    flag: Option<&str>,
    line: usize,
) -> Result<Platform, BuildError> {
    let Some(flag) = flag else {
        return Ok(shared.input.platform.clone());
    };
    let spec = shared
        .lexer
        .expand_word(flag, &shared.globals)
        .map_err(|e| BuildError::expand(Some(line), e))?;
    rbuild_oci::platform::parse(&spec).map_err(|e| BuildError::at(line, e.to_string()))
}

/// `scratch` as a Dockerfile stage starts from it: BuildKit's emptyImage, whose config has
/// `WorkingDir: "/"` (PATH is added by [`from_image`], as for any image without one).
pub(crate) fn empty_image(platform: &Platform) -> BaseImage {
    let mut image = BaseImage::scratch(platform);
    image.config.config.working_dir = Some("/".to_string());
    image
}

/// Resolves an image reference or `scratch` for `platform`.
pub(crate) fn resolve_image(
    shared: &Shared,
    word: &str,
    platform: &Platform,
    line: usize,
) -> Result<BaseImage, BuildError> {
    if word.eq_ignore_ascii_case("scratch") {
        return Ok(empty_image(platform));
    }
    let input = shared.input;
    input
        .resolver
        .resolve(input.store, word, platform)
        .map_err(|e| at_line(e, word, line))?
        .ok_or_else(|| BuildError::BaseNotFound {
            line,
            image: word.to_string(),
        })
}

/// A resolver error (a failed pull) pointed at the line that names the image, as BuildKit's
/// source map points at it; errors that name a line already keep theirs.
fn at_line(e: BuildError, word: &str, line: usize) -> BuildError {
    if e.line().is_some() {
        return e;
    }
    BuildError::Step {
        at: crate::error::StepLocation {
            line: Some(line),
            instruction: format!("image {word:?}"),
        },
        source: Box::new(e),
    }
}

/// The stage output for a base image: its config (with Docker's default PATH) and a base
/// vertex whose value is the image's layers.
pub(super) fn from_image(
    shared: &mut Shared,
    st: &mut StageState,
    image: BaseImage,
    step: StepMeta,
) -> StageOut {
    let mut config = image.config.clone();
    let history = config.history.drain(..).map(HistorySlot::Base).collect();
    config.rootfs.diff_ids.clear();
    let env = config.config.env.get_or_insert_with(Vec::new);
    if !env.iter().any(|e| e.starts_with("PATH=")) {
        env.insert(0, format!("PATH={DEFAULT_PATH}"));
    }
    let source = image
        .manifest
        .as_ref()
        .map_or("scratch".to_string(), |m| m.digest.to_string());
    let op = OpKind::Base(BaseOp {
        source,
        fs: image.fs,
    });
    let vertex = shared.add(op, Vec::new(), &st.name.clone(), step);
    StageOut {
        vertex,
        config,
        history,
        fs_steps: 0,
        base_created: image.config.created.clone(),
        platform: st.out.platform.clone(),
        args: Default::default(),
    }
}
