//! Filesystem instructions: COPY and ADD become vertices of the plan (RUN: `run`).

use rbuild_context::chmod::Chmod;
use rbuild_context::ignore::Matcher;
use rbuild_context::{git, remote};
use rbuild_dockerfile::{AddCmd, CopyCmd, Heredoc, Instruction};

use super::from::{from_source, FromSource};
use super::meta::join_workdir;
use super::state::StageState;
use super::Shared;
use crate::image::HistorySlot;
use crate::plan::{AddOptions, CopyFrom, CopyOp, CopySource, OpKind, VertexId};
use crate::BuildError;

/// Records a filesystem step: its history slot, and the stage's new head vertex.
pub(super) fn push_fs(st: &mut StageState, vertex: VertexId, created_by: String) {
    st.out.history.push(HistorySlot::Fs {
        created_by,
        step: st.out.fs_steps,
    });
    st.out.fs_steps += 1;
    st.out.vertex = vertex;
}

/// What COPY and ADD have in common, before their sources are classified.
struct Spec {
    sources: Vec<String>,
    dest: String,
    heredocs: Vec<Heredoc>,
    chown: Option<String>,
    chmod: Option<String>,
    parents: bool,
    excludes: Vec<String>,
    add: Option<AddOptions>,
}

/// COPY from the context, a named context, a heredoc, a stage or an image.
pub(crate) fn copy(
    shared: &mut Shared,
    st: &mut StageState,
    ins: &Instruction,
    cmd: CopyCmd,
) -> Result<(), BuildError> {
    let line = ins.location.start_line;
    let from = match &cmd.from {
        Some(f) => Some(from_source(shared, st, f, line)?),
        None => None,
    };
    let spec = Spec {
        sources: cmd.sources,
        dest: cmd.dest,
        heredocs: cmd.heredocs,
        chown: cmd.chown,
        chmod: cmd.chmod,
        parents: cmd.parents,
        excludes: cmd.exclude,
        add: None,
    };
    add_copy(shared, st, ins, spec, from)
}

/// ADD: local files (archives unpacked), http(s) URLs and git repositories.
pub(crate) fn add(
    shared: &mut Shared,
    st: &mut StageState,
    ins: &Instruction,
    cmd: AddCmd,
) -> Result<(), BuildError> {
    let line = ins.location.start_line;
    if cmd.checksum.is_some() && !cmd.sources.iter().all(|s| remote::is_url(s)) {
        return Err(BuildError::at(
            line,
            "ADD --checksum can only be used with HTTP(S) sources",
        ));
    }
    let spec = Spec {
        sources: cmd.sources,
        dest: cmd.dest,
        heredocs: cmd.heredocs,
        chown: cmd.chown,
        chmod: cmd.chmod,
        parents: false,
        excludes: cmd.exclude,
        add: Some(AddOptions {
            checksum: cmd.checksum,
            keep_git_dir: cmd.keep_git_dir,
            unpack: cmd.unpack.unwrap_or(true),
            unpack_urls: cmd.unpack == Some(true),
        }),
    };
    add_copy(shared, st, ins, spec, None)
}

/// BuildKit's message for a `--chmod` that looks numeric but is no octal mode up to 07777
/// (testCopyInvalidChmod); other values name the flag.
fn chmod_error(m: &str) -> String {
    if m.starts_with(|c: char| c.is_ascii_digit()) {
        format!("invalid chmod parameter: '{m}'. it should be octal string and between 0 and 07777")
    } else {
        format!("invalid --chmod value {m:?}")
    }
}

fn add_copy(
    shared: &mut Shared,
    st: &mut StageState,
    ins: &Instruction,
    spec: Spec,
    from: Option<FromSource>,
) -> Result<(), BuildError> {
    let line = ins.location.start_line;
    let created_by = super::history::copy(&super::history::CopyText {
        add: spec.add.is_some(),
        parents: spec.parents,
        chown: spec.chown.as_deref(),
        chmod: spec.chmod.as_deref(),
        sources: &spec.sources,
        dest: &spec.dest,
    });
    let chmod = match &spec.chmod {
        Some(m) => Some(Chmod::parse(m).ok_or_else(|| BuildError::at(line, chmod_error(m)))?),
        None => None,
    };
    let exclude_matcher =
        Matcher::new(&spec.excludes).map_err(|e| BuildError::at(line, e.to_string()))?;
    let sources = sources(shared, st, &spec, line)?;
    let step = shared.step(st, line, &ins.source);
    let workdir = st.out.config.config.working_dir.clone();
    let d = &spec.dest;
    let (vertex, from) = match from {
        Some(FromSource::Vertex(v)) => (Some(v), CopyFrom::Input),
        Some(FromSource::Dir(dir)) => (None, CopyFrom::Dir(dir)),
        None => (None, CopyFrom::Context),
    };
    let op = CopyOp {
        sources,
        dest: join_workdir(workdir.as_deref(), d),
        dest_is_dir: d.ends_with('/') || d == "." || d.ends_with("/."),
        chown: spec.chown,
        chmod,
        from,
        parents: spec.parents,
        excludes: spec.excludes,
        exclude_matcher,
        add: spec.add,
    };
    let mut inputs = vec![st.out.vertex];
    inputs.extend(vertex);
    let v = shared.add(OpKind::Copy(op), inputs, &st.name, step);
    push_fs(st, v, created_by);
    Ok(())
}

/// Each source classified: git and URLs (ADD only), heredocs, paths.
fn sources(
    shared: &Shared,
    st: &StageState,
    spec: &Spec,
    line: usize,
) -> Result<Vec<CopySource>, BuildError> {
    let env = st.expansion_env();
    let is_add = spec.add.is_some();
    spec.sources
        .iter()
        .map(|s| match (is_add, git::parse(s)) {
            (true, Ok(Some(g))) => Ok(CopySource::Git(g)),
            (true, Err(e)) => Err(BuildError::at(line, e.to_string())),
            (true, Ok(None)) if remote::is_url(s) => Ok(CopySource::Url(s.clone())),
            _ => heredoc_source(shared, s, &spec.heredocs, &env, line),
        })
        .collect()
}

fn heredoc_source(
    shared: &Shared,
    word: &str,
    heredocs: &[Heredoc],
    env: &dyn rbuild_dockerfile::Env,
    line: usize,
) -> Result<CopySource, BuildError> {
    let Some(name) = word.strip_prefix("<<") else {
        return Ok(CopySource::Path(word.to_string()));
    };
    let name = name.trim_start_matches('-').trim_matches(['"', '\'']);
    let doc = heredocs
        .iter()
        .find(|h| h.name == name)
        .ok_or_else(|| BuildError::at(line, format!("heredoc {name:?} has no body")))?;
    let content = if doc.expand {
        shared
            .lexer
            .expand_heredoc(&doc.content, env)
            .map_err(|e| BuildError::expand(Some(line), e))?
    } else {
        doc.content.clone()
    };
    Ok(CopySource::Inline {
        name: name.to_string(),
        content,
    })
}
