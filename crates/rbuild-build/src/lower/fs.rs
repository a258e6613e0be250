//! Filesystem instructions: RUN, COPY and ADD become solver vertices.

use std::sync::Arc;

use rbuild_dockerfile::{AddCmd, CopyCmd, Heredoc, Instruction, RunCmd, ShellOrExec};
use rbuild_sandbox::NetworkMode;
use rbuild_solver::VertexId;

use super::args::PROXY_ARGS;
use super::meta::{join_workdir, shell_of};
use super::stage::{resolve_image, StageState};
use super::{select, Shared};
use rbuild_context::ignore::Matcher;
use rbuild_context::local::LocalContext;
use rbuild_context::{git, remote};
use crate::image::HistorySlot;
use crate::ops::{parse_chmod, AddOptions, BaseOp, BuildOp, CopyOp, CopySource, RunOp};
use crate::BuildError;
use crate::NamedContext;

/// Records a filesystem step: its history slot, and the stage's new head vertex.
pub(super) fn push_fs(st: &mut StageState, vertex: VertexId, created_by: String) {
    st.out.history.push(HistorySlot::Fs {
        created_by,
        step: st.out.fs_steps,
    });
    st.out.fs_steps += 1;
    st.out.vertex = vertex;
}

/// RUN: argv after SHELL wrapping (heredocs as BuildKit runs them), env, user, workdir.
pub(crate) fn run(
    shared: &mut Shared,
    st: &mut StageState,
    ins: &Instruction,
    run: RunCmd,
) -> Result<(), BuildError> {
    let line = ins.location.start_line;
    if !run.mounts.is_empty() {
        return Err(BuildError::at(
            line,
            "RUN --mount is not supported by this version of rbuild",
        ));
    }
    let request = shared.input.request;
    let network = run_network(run.network.as_deref(), request.network)
        .map_err(|m| BuildError::at(line, m))?;
    let limits = request.limits.clone();
    let step = shared.step(st, line, &ins.source);
    let c = &st.out.config.config;
    let argv = run_argv(&shell_of(c), run.cmd, &run.heredocs);
    let (env, key_env) = run_env(shared, st);
    let created_by = format!("RUN {} # rbuild", argv.join(" "));
    let op = RunOp {
        step,
        argv,
        env,
        key_env,
        cwd: c.working_dir.clone().unwrap_or_else(|| "/".into()),
        user: c.user.clone().unwrap_or_default(),
        network,
        limits,
        rt: shared.input.runtime.clone(),
    };
    let v = shared.add(BuildOp::Run(Box::new(op)), vec![st.out.vertex], &st.name);
    push_fs(st, v, created_by);
    Ok(())
}

/// `RUN --network=` wins over the build's `--network`; `default` means the build's mode.
fn run_network(flag: Option<&str>, build: Option<NetworkMode>) -> Result<NetworkMode, String> {
    match flag {
        None | Some("default") => Ok(build.unwrap_or_default()),
        Some("host") => Ok(NetworkMode::Host),
        Some("none") => Ok(NetworkMode::None),
        Some(other) => Err(format!(
            "unsupported network mode {other:?} (expected default, host or none)"
        )),
    }
}

/// BuildKit runs a lone heredoc as the script itself, and otherwise hands the shell the
/// command line followed by the heredoc bodies.
fn run_argv(shell: &[String], cmd: ShellOrExec, heredocs: &[Heredoc]) -> Vec<String> {
    let script = match cmd {
        ShellOrExec::Exec(v) => return v,
        ShellOrExec::Shell(s) if heredocs.is_empty() => s,
        ShellOrExec::Shell(s) => {
            let lone = heredocs.len() == 1
                && s.trim()
                    .trim_start_matches("<<")
                    .trim_start_matches('-')
                    .trim_matches(['"', '\''])
                    == heredocs[0].name;
            if lone {
                heredocs[0].content.clone()
            } else {
                let mut full = s;
                for h in heredocs {
                    full.push('\n');
                    full.push_str(&h.content);
                    full.push_str(&h.name);
                }
                full
            }
        }
    };
    let mut argv = shell.to_vec();
    argv.push(script);
    argv
}

/// The RUN environment: config env, then build args in scope that ENV does not shadow.
fn run_env(shared: &Shared, st: &StageState) -> (Vec<String>, Vec<String>) {
    let mut env: Vec<String> = st.out.config.config.env.clone().unwrap_or_default();
    let mut key_env = env.clone();
    let mut added = std::collections::BTreeSet::new();
    for (k, v) in &st.args {
        if let Some(v) = v {
            if st.env_value(k).is_none() {
                added.insert(k.as_str());
                env.push(format!("{k}={v}"));
                if !PROXY_ARGS.contains(&k.as_str()) {
                    key_env.push(format!("{k}={v}"));
                }
            }
        }
    }
    for p in PROXY_ARGS {
        if let Some(v) = shared.input.request.build_args.get(*p) {
            if st.env_value(p).is_none() && !added.contains(p) {
                env.push(format!("{p}={v}"));
            }
        }
    }
    (env, key_env)
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
    let spec = CopySpec {
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
    let spec = CopySpec {
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
        }),
    };
    add_copy(shared, st, ins, spec, None)
}

struct CopySpec {
    sources: Vec<String>,
    dest: String,
    heredocs: Vec<Heredoc>,
    chown: Option<String>,
    chmod: Option<String>,
    parents: bool,
    excludes: Vec<String>,
    add: Option<AddOptions>,
}

/// Where `COPY --from` reads.
enum FromSource {
    /// A stage or image vertex.
    Vertex(VertexId),
    /// A named local context (`--build-context name=DIR`).
    Local(Arc<LocalContext>),
}

fn add_copy(
    shared: &mut Shared,
    st: &mut StageState,
    ins: &Instruction,
    spec: CopySpec,
    from: Option<FromSource>,
) -> Result<(), BuildError> {
    let line = ins.location.start_line;
    let chmod = match &spec.chmod {
        Some(m) => Some(
            parse_chmod(m)
                .ok_or_else(|| BuildError::at(line, format!("invalid --chmod value {m:?}")))?,
        ),
        None => None,
    };
    Matcher::new(&spec.excludes).map_err(|e| BuildError::at(line, e.to_string()))?;
    let env = st.expansion_env();
    let is_add = spec.add.is_some();
    let sources = spec
        .sources
        .iter()
        .map(|s| match (is_add, git::parse(s)) {
            (true, Some(g)) => Ok(CopySource::Git(g)),
            (true, None) if remote::is_url(s) => Ok(CopySource::Url(s.clone())),
            _ => heredoc_source(shared, s, &spec.heredocs, &env),
        })
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| BuildError::at(line, e))?;
    let step = shared.step(st, line, &ins.source);
    let workdir = st.out.config.config.working_dir.clone();
    let d = &spec.dest;
    let (vertex, context) = match from {
        Some(FromSource::Vertex(v)) => (Some(v), shared.input.exclude.clone()),
        Some(FromSource::Local(c)) => (None, c),
        None => (None, shared.input.exclude.clone()),
    };
    let op = CopyOp {
        step,
        sources,
        dest: join_workdir(workdir.as_deref(), d),
        dest_is_dir: d.ends_with('/') || d == "." || d.ends_with("/."),
        chown: spec.chown,
        chmod,
        from_input: vertex.is_some(),
        exclude: context,
        parents: spec.parents,
        excludes: spec.excludes,
        add: spec.add,
        rt: shared.input.runtime.clone(),
        fetched: Default::default(),
        prefetched: Default::default(),
    };
    let mut inputs = vec![st.out.vertex];
    inputs.extend(vertex);
    let created_by = format!("{} # rbuild", ins.source);
    let v = shared.add(BuildOp::Copy(Box::new(op)), inputs, &st.name);
    push_fs(st, v, created_by);
    Ok(())
}

fn heredoc_source(
    shared: &Shared,
    word: &str,
    heredocs: &[Heredoc],
    env: &dyn rbuild_dockerfile::Env,
) -> Result<CopySource, String> {
    let Some(name) = word.strip_prefix("<<") else {
        return Ok(CopySource::Path(word.to_string()));
    };
    let name = name.trim_start_matches('-').trim_matches(['"', '\'']);
    let doc = heredocs
        .iter()
        .find(|h| h.name == name)
        .ok_or_else(|| format!("heredoc {name:?} has no body"))?;
    let content = if doc.expand {
        shared
            .lexer
            .expand_heredoc(&doc.content, env)
            .map_err(|e| e.to_string())?
    } else {
        doc.content.clone()
    };
    Ok(CopySource::Inline {
        name: name.to_string(),
        content,
    })
}

/// `--from`: a named context (which overrides a stage of the same name, as in BuildKit), a
/// stage (by name or index) or an image reference.
fn from_source(
    shared: &mut Shared,
    st: &mut StageState,
    from: &str,
    line: usize,
) -> Result<FromSource, BuildError> {
    match shared.input.request.named_contexts.get(from).cloned() {
        Some(NamedContext::Local(dir)) => {
            let store = Some(shared.input.runtime.store.clone());
            Ok(FromSource::Local(Arc::new(LocalContext::plain(dir, store))))
        }
        Some(named) => {
            let shown = match &named {
                NamedContext::Image(r) => r.clone(),
                NamedContext::OciLayout(r) => r.to_string(),
                NamedContext::Local(_) => "scratch".to_string(),
            };
            let image = super::named::named_image(shared, from, &named, line)?;
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
        return shared.outs[i]
            .as_ref()
            .map(|o| o.vertex)
            .ok_or_else(|| BuildError::at(line, format!("stage {from:?} is not built")));
    }
    image_vertex(shared, st, from, line)
}

/// A base vertex for an image from the store.
fn image_vertex(
    shared: &mut Shared,
    st: &mut StageState,
    from: &str,
    line: usize,
) -> Result<VertexId, BuildError> {
    let image = resolve_image(shared, from, line)?;
    Ok(base_vertex(shared, st, image, from, line))
}

/// A base vertex for a resolved image, shown as `FROM {shown}`; its cache key is the manifest.
fn base_vertex(
    shared: &mut Shared,
    st: &mut StageState,
    image: crate::resolve::BaseImage,
    shown: &str,
    line: usize,
) -> VertexId {
    let source = image
        .manifest
        .as_ref()
        .map_or("scratch".to_string(), |m| m.digest.to_string());
    let mut step = shared.step(st, line, &format!("FROM {shown}"));
    st.position -= 1;
    step.identity = format!("image {shown}");
    let op = BuildOp::Base(BaseOp {
        step,
        source,
        fs: image.fs,
    });
    shared.add(op, Vec::new(), &st.name.clone())
}
