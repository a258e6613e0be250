//! Filesystem instructions: RUN, COPY and ADD become solver vertices.

use rbuild_dockerfile::{AddCmd, CopyCmd, Heredoc, Instruction, RunCmd, ShellOrExec};
use rbuild_sandbox::NetworkMode;
use rbuild_solver::VertexId;

use super::args::PROXY_ARGS;
use super::meta::{join_workdir, shell_of};
use super::stage::{resolve_image, StageState};
use super::{select, Shared};
use crate::image::HistorySlot;
use crate::ops::{parse_chmod, BaseOp, BuildOp, CopyOp, CopySource, RunOp};
use crate::BuildError;

fn push_fs(st: &mut StageState, vertex: VertexId, created_by: String) {
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
    let has = |env: &[String], k: &str| {
        env.iter()
            .any(|e| e.split_once('=').map_or(e.as_str(), |(n, _)| n) == k)
    };
    let mut key_env = env.clone();
    for (k, v) in &st.args {
        if let Some(v) = v {
            if !has(&env, k) {
                env.push(format!("{k}={v}"));
                if !PROXY_ARGS.contains(&k.as_str()) {
                    key_env.push(format!("{k}={v}"));
                }
            }
        }
    }
    for p in PROXY_ARGS {
        if let Some(v) = shared.input.request.build_args.get(*p) {
            if !has(&env, p) {
                env.push(format!("{p}={v}"));
            }
        }
    }
    (env, key_env)
}

/// COPY from the context, a heredoc, a stage or an image.
pub(crate) fn copy(
    shared: &mut Shared,
    st: &mut StageState,
    ins: &Instruction,
    cmd: CopyCmd,
) -> Result<(), BuildError> {
    let line = ins.location.start_line;
    if cmd.parents || !cmd.exclude.is_empty() {
        return Err(BuildError::at(
            line,
            "COPY --parents and --exclude are not supported by this version of rbuild",
        ));
    }
    let from = match &cmd.from {
        Some(f) => Some(from_vertex(shared, st, f, line)?),
        None => None,
    };
    let spec = CopySpec {
        sources: cmd.sources,
        dest: cmd.dest,
        heredocs: cmd.heredocs,
        chown: cmd.chown,
        chmod: cmd.chmod,
    };
    add_copy(shared, st, ins, spec, from)
}

/// ADD of local files; remote sources are refused with a clear message.
pub(crate) fn add(
    shared: &mut Shared,
    st: &mut StageState,
    ins: &Instruction,
    cmd: AddCmd,
) -> Result<(), BuildError> {
    let line = ins.location.start_line;
    if let Some(url) = cmd
        .sources
        .iter()
        .find(|s| s.contains("://") || s.starts_with("git@"))
    {
        return Err(BuildError::at(
            line,
            format!("ADD of remote source {url:?} is not supported by this version of rbuild"),
        ));
    }
    let spec = CopySpec {
        sources: cmd.sources,
        dest: cmd.dest,
        heredocs: cmd.heredocs,
        chown: cmd.chown,
        chmod: cmd.chmod,
    };
    add_copy(shared, st, ins, spec, None)
}

struct CopySpec {
    sources: Vec<String>,
    dest: String,
    heredocs: Vec<Heredoc>,
    chown: Option<String>,
    chmod: Option<String>,
}

fn add_copy(
    shared: &mut Shared,
    st: &mut StageState,
    ins: &Instruction,
    spec: CopySpec,
    from: Option<VertexId>,
) -> Result<(), BuildError> {
    let line = ins.location.start_line;
    let chmod = match &spec.chmod {
        Some(m) => Some(
            parse_chmod(m)
                .ok_or_else(|| BuildError::at(line, format!("invalid --chmod value {m:?}")))?,
        ),
        None => None,
    };
    let env = st.expansion_env();
    let sources = spec
        .sources
        .iter()
        .map(|s| heredoc_source(shared, s, &spec.heredocs, &env))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| BuildError::at(line, e))?;
    let step = shared.step(st, line, &ins.source);
    let workdir = st.out.config.config.working_dir.clone();
    let d = &spec.dest;
    let op = CopyOp {
        step,
        sources,
        dest: join_workdir(workdir.as_deref(), d),
        dest_is_dir: d.ends_with('/') || d == "." || d.ends_with("/."),
        chown: spec.chown,
        chmod,
        from_input: from.is_some(),
        exclude: shared.input.exclude.clone(),
        rt: shared.input.runtime.clone(),
    };
    let mut inputs = vec![st.out.vertex];
    inputs.extend(from);
    let created_by = format!("{} # rbuild", ins.source);
    let v = shared.add(BuildOp::Copy(Box::new(op)), inputs, &st.name);
    push_fs(st, v, created_by);
    Ok(())
}

fn heredoc_source(
    shared: &Shared,
    word: &str,
    heredocs: &[Heredoc],
    env: &std::collections::BTreeMap<String, String>,
) -> Result<CopySource, String> {
    let Some(name) = word.strip_prefix("<<") else {
        return Ok(CopySource::Path(word.to_string()));
    };
    let name = name.trim_start_matches('-').trim_matches(['"', '\'']);
    let doc = heredocs
        .iter()
        .find(|h| h.name == name)
        .ok_or_else(|| format!("heredoc {name:?} has no body"))?;
    let _ = (shared, env);
    Ok(CopySource::Inline {
        name: name.to_string(),
        content: doc.content.clone(),
    })
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
    let image = resolve_image(shared, from, line)?;
    let source = image
        .manifest
        .as_ref()
        .map_or("scratch".to_string(), |m| m.digest.to_string());
    let mut step = shared.step(st, line, &format!("FROM {from}"));
    st.position -= 1;
    step.identity = format!("image {from}");
    let op = BuildOp::Base(BaseOp {
        step,
        source,
        fs: image.fs,
    });
    Ok(shared.add(op, Vec::new(), &st.name.clone()))
}
