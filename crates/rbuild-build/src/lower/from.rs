//! `COPY --from`: a named context (which overrides a stage of the same name, as in BuildKit),
//! an earlier stage (by name or index) or an image reference.

use std::path::PathBuf;

use super::base::resolve_image;
use super::state::StageState;
use super::{select, Shared};
use crate::plan::{BaseOp, OpKind, VertexId};
use crate::resolve::BaseImage;
use crate::{BuildError, NamedContext};

/// BuildKit's words (dockerfile2llb toCommand) for a `--from` that expansion would change.
pub(super) const FROM_EXPANSION: &str = "variable expansion is not supported for --from, \
define a new stage with FROM using ARG from global scope as a workaround";

/// Refuses a `COPY --from` value that holds variables, quotes or escapes: BuildKit expands it
/// with no variables at all and refuses it if that changes it, in every stage of the file
/// (not only the ones the target needs), so `--from=$STAGE` never names an empty image.
pub(super) fn check_copy_from(
    ins: &rbuild_dockerfile::Instruction,
    lexer: &rbuild_dockerfile::Lexer,
) -> Result<(), BuildError> {
    let rbuild_dockerfile::Command::Copy(copy) = &ins.command else {
        return Ok(());
    };
    let Some(from) = copy.from.as_deref().filter(|f| !f.is_empty()) else {
        return Ok(());
    };
    let line = ins.location.start_line;
    let plain = lexer
        .expand_word(from, &rbuild_dockerfile::EmptyEnv)
        .map_err(|e| BuildError::expand(Some(line), e))?;
    if plain != from {
        return Err(BuildError::at(line, FROM_EXPANSION));
    }
    Ok(())
}

/// Where `COPY --from` reads.
pub(super) enum FromSource {
    /// A stage or image vertex.
    Vertex(VertexId),
    /// A named local context (`--build-context name=DIR`).
    Dir(PathBuf),
}

/// Resolves the `--from` value `from` of a COPY in stage `st`.
pub(super) fn from_source(
    shared: &mut Shared,
    st: &mut StageState,
    from: &str,
    line: usize,
) -> Result<FromSource, BuildError> {
    match shared.input.request.named_contexts.get(from).cloned() {
        Some(NamedContext::Local(dir)) => Ok(FromSource::Dir(dir)),
        Some(named) => {
            let shown = match &named {
                NamedContext::Image(r) => r.clone(),
                NamedContext::OciLayout(r) => r.to_string(),
                NamedContext::Local(_) => "scratch".to_string(),
            };
            let platform = st.out.platform.clone();
            let image = super::named::named_image(shared, from, &named, &platform, line)?;
            Ok(FromSource::Vertex(base_vertex(
                shared, st, image, &shown, line,
            )))
        }
        None => from_vertex(shared, st, from, line).map(FromSource::Vertex),
    }
}

/// `--from`: a stage (by name or index) or an image reference.
fn from_vertex(
    shared: &mut Shared,
    st: &mut StageState,
    from: &str,
    line: usize,
) -> Result<VertexId, BuildError> {
    if let Some(i) = select::stage_ref(&shared.names, from, st.index) {
        return super::stage::ensure_lowered(shared, i).map(|o| o.vertex);
    }
    later_stage(shared, st, from, line)?;
    let platform = st.out.platform.clone();
    let image = resolve_image(shared, from, &platform, line)?;
    Ok(base_vertex(shared, st, image, from, line))
}

/// BuildKit refuses `--from` naming a stage defined at or after the current one (or an index
/// past the last stage) rather than reading it as an image name.
fn later_stage(
    shared: &Shared,
    st: &StageState,
    from: &str,
    line: usize,
) -> Result<(), BuildError> {
    let stages = shared.input.dockerfile.stages.len();
    let index = match from.parse::<usize>() {
        Ok(i) if i >= stages => {
            return Err(BuildError::at(line, format!("invalid stage index {i}")));
        }
        Ok(i) => Some(i),
        Err(_) => shared.names.get(&from.to_lowercase()).copied(),
    };
    match index {
        Some(i) if i >= st.index => Err(BuildError::at(
            line,
            format!(
                "cannot copy from stage {from:?}, it needs to be defined before current stage {:?}",
                select::stage_label(shared.input.dockerfile, st.index)
            ),
        )),
        _ => Ok(()),
    }
}

/// A base vertex for a resolved image, shown as `FROM {shown}`; its cache key is the manifest.
fn base_vertex(
    shared: &mut Shared,
    st: &mut StageState,
    image: BaseImage,
    shown: &str,
    line: usize,
) -> VertexId {
    let source = image
        .manifest
        .as_ref()
        .map_or("scratch".to_string(), |m| m.digest.to_string());
    let mut step = shared.uncounted_step(st, line, &format!("FROM {shown}"));
    step.identity = format!("image {shown}");
    let op = OpKind::Base(BaseOp {
        source,
        fs: image.fs,
    });
    shared.add(op, Vec::new(), &st.name.clone(), step)
}
