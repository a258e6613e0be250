//! `RUN --mount`s lowered: targets joined to the WORKDIR as BuildKit joins them, BuildKit's
//! defaults per type, and `from` resolved like `COPY --from` (a stage or image becomes one of
//! the step's inputs).

use rbuild_dockerfile::{MountKind, RunMount as Parsed};

use super::from::{from_source, FromSource};
use super::state::StageState;
use super::Shared;
use crate::plan::{MountFrom, RunMount, Sharing, VertexId};
use crate::BuildError;

/// The mounts of a RUN at `line`; inputs they read are appended to `inputs`.
pub(super) fn lower_mounts(
    shared: &mut Shared,
    st: &mut StageState,
    parsed: &[Parsed],
    line: usize,
    inputs: &mut Vec<VertexId>,
) -> Result<Vec<RunMount>, BuildError> {
    let mut out = Vec::with_capacity(parsed.len());
    let mut ssh = 0;
    for m in parsed {
        let mount = match m.kind {
            MountKind::Bind => bind(shared, st, m, line, inputs)?,
            MountKind::Cache => cache(shared, st, m, line, inputs)?,
            MountKind::Tmpfs => RunMount::Tmpfs {
                target: target(st, m, line)?,
                size: m.size,
            },
            MountKind::Secret => secret(m),
            MountKind::Ssh => {
                ssh += 1;
                ssh_mount(m, ssh - 1, line)?
            }
        };
        out.push(mount);
    }
    Ok(out)
}

/// A bind, cache or tmpfs target made absolute against the WORKDIR, as BuildKit makes it.
fn target(st: &StageState, m: &Parsed, line: usize) -> Result<String, BuildError> {
    let workdir = st.out.config.config.working_dir.as_deref().unwrap_or("/");
    m.target_in(workdir)
        .map_err(|e| BuildError::at(line, e.to_string()))
}

/// `from=`: the build context when absent, else what `COPY --from` would read.
fn mount_from(
    shared: &mut Shared,
    st: &mut StageState,
    from: Option<&str>,
    line: usize,
    inputs: &mut Vec<VertexId>,
) -> Result<MountFrom, BuildError> {
    let Some(from) = from else {
        return Ok(MountFrom::Context);
    };
    // A named context overrides a stage of the same name.
    let later = !shared.input.request.named_contexts.contains_key(from)
        && shared
            .names
            .get(&from.to_lowercase())
            .is_some_and(|i| *i >= st.index);
    if later {
        let to = st.name.clone();
        return Err(BuildError::at(
            line,
            format!("cannot mount from stage {from:?} to {to:?}, stage needs to be defined before current command"),
        ));
    }
    Ok(match from_source(shared, st, from, line)? {
        FromSource::Dir(dir) => MountFrom::Dir(dir),
        FromSource::Vertex(v) => {
            inputs.push(v);
            MountFrom::Input(inputs.len() - 1)
        }
    })
}

fn bind(
    shared: &mut Shared,
    st: &mut StageState,
    m: &Parsed,
    line: usize,
    inputs: &mut Vec<VertexId>,
) -> Result<RunMount, BuildError> {
    Ok(RunMount::Bind {
        target: target(st, m, line)?,
        source: m.source_path(),
        from: mount_from(shared, st, m.from.as_deref(), line, inputs)?,
        readonly: m.readonly,
    })
}

fn cache(
    shared: &mut Shared,
    st: &mut StageState,
    m: &Parsed,
    line: usize,
    inputs: &mut Vec<VertexId>,
) -> Result<RunMount, BuildError> {
    let sharing = match m.cache_sharing() {
        "private" => Sharing::Private,
        "locked" => Sharing::Locked,
        _ => Sharing::Shared,
    };
    // BuildKit mounts `path.Join("/", source)` of the cache (llb.SourcePath); with `from=`
    // rbuild seeds a new cache with that path of the stage instead, which shows the same.
    let subpath = match (&m.from, m.source.as_deref()) {
        (None, Some(s)) => Some(rbuild_sandbox::clean_subpath(s)).filter(|s| !s.is_empty()),
        _ => None,
    };
    let seed = match &m.from {
        Some(f) => {
            let from = mount_from(shared, st, Some(f), line, inputs)?;
            Some((from, m.source_path()))
        }
        None => None,
    };
    // BuildKit sets the cache root's owner and mode only when no `source` selects a path in
    // it (convert_runmount.go: setCacheUIDGID in the `src == "/"` branch); say so, as they
    // would otherwise be ignored silently.
    let has_source = m.source.as_deref().map(rbuild_sandbox::clean_subpath);
    let owner_given = m.mode.is_some() || m.uid.is_some() || m.gid.is_some();
    let ignore_owner = has_source.is_some_and(|s| !s.is_empty());
    if ignore_owner && owner_given {
        shared.warnings.push(format!(
            "Dockerfile:{line}: cache mount {}: mode, uid and gid do not apply with source= \
             (as in BuildKit)",
            m.cache_id()
        ));
    }
    let pick = |v: Option<u32>, default: u32| v.filter(|_| !ignore_owner).unwrap_or(default);
    Ok(RunMount::Cache {
        target: target(st, m, line)?,
        id: m.cache_id(),
        sharing,
        seed,
        readonly: m.readonly,
        mode: pick(m.mode, 0o755),
        uid: pick(m.uid, 0),
        gid: pick(m.gid, 0),
        subpath,
        own_base: (owner_given && !ignore_owner) || m.from.is_some(),
    })
}

fn secret(m: &Parsed) -> RunMount {
    RunMount::Secret {
        id: m.secret_id(),
        target: m.secret_target(),
        env: m.env.clone(),
        required: m.required,
        mode: m.mode.unwrap_or(0o400),
        uid: m.uid.unwrap_or(0),
        gid: m.gid.unwrap_or(0),
    }
}

fn ssh_mount(m: &Parsed, index: usize, line: usize) -> Result<RunMount, BuildError> {
    let id = m
        .ssh_id()
        .map_err(|e| BuildError::at(line, e.to_string()))?;
    Ok(RunMount::Ssh {
        id: id.to_string(),
        target: m.ssh_target(index),
        required: m.required,
        mode: m.mode.unwrap_or(0o600),
        uid: m.uid.unwrap_or(0),
        gid: m.gid.unwrap_or(0),
    })
}
