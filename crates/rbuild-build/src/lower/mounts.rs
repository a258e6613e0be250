//! `RUN --mount`s lowered: targets joined to the WORKDIR as BuildKit joins them, BuildKit's
//! defaults per type, and `from` resolved like `COPY --from` (a stage or image becomes one of
//! the step's inputs).

use rbuild_dockerfile::{MountKind, RunMount as Parsed};

use super::from::{from_source, FromSource};
use super::meta::join_workdir;
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
                target: target(st, m.target.as_deref()),
                size: m.size,
            },
            MountKind::Secret => secret(st, m),
            MountKind::Ssh => {
                ssh += 1;
                ssh_mount(st, m, ssh)
            }
        };
        out.push(mount);
    }
    Ok(out)
}

/// A target made absolute against the WORKDIR (a missing one is the WORKDIR itself).
fn target(st: &StageState, t: Option<&str>) -> String {
    let workdir = st.out.config.config.working_dir.as_deref();
    join_workdir(workdir, t.unwrap_or(""))
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
        target: target(st, m.target.as_deref()),
        source: m.source.clone().unwrap_or_else(|| "/".into()),
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
    let target = target(st, m.target.as_deref());
    let sharing = match m.sharing.as_deref() {
        None | Some("shared") => Sharing::Shared,
        Some("private") => Sharing::Private,
        Some("locked") => Sharing::Locked,
        Some(other) => {
            return Err(BuildError::at(
                line,
                format!("unsupported sharing value {other:?}"),
            ))
        }
    };
    let seed = match &m.from {
        Some(f) => {
            let from = mount_from(shared, st, Some(f), line, inputs)?;
            Some((from, m.source.clone().unwrap_or_else(|| "/".into())))
        }
        None => None,
    };
    Ok(RunMount::Cache {
        id: m.id.clone().unwrap_or_else(|| target.clone()),
        target,
        sharing,
        seed,
        readonly: m.readonly,
        mode: m.mode.unwrap_or(0o755),
        uid: m.uid.unwrap_or(0),
        gid: m.gid.unwrap_or(0),
    })
}

fn secret(st: &StageState, m: &Parsed) -> RunMount {
    let base = |t: &str| t.rsplit('/').next().unwrap_or(t).to_string();
    let id = m
        .id
        .clone()
        .or_else(|| m.target.as_deref().map(base))
        .unwrap_or_default();
    // With only env= the secret is a variable, not a file.
    let path = match (&m.target, &m.env) {
        (None, Some(_)) => None,
        (None, None) => Some(format!("/run/secrets/{id}")),
        (Some(t), _) => Some(target(st, Some(t))),
    };
    RunMount::Secret {
        id,
        target: path,
        env: m.env.clone(),
        required: m.required,
        mode: m.mode.unwrap_or(0o400),
        uid: m.uid.unwrap_or(0),
        gid: m.gid.unwrap_or(0),
    }
}

fn ssh_mount(st: &StageState, m: &Parsed, n: usize) -> RunMount {
    let path = match &m.target {
        Some(t) => target(st, Some(t)),
        None => format!("/run/buildkit/ssh_agent.{}", n - 1),
    };
    RunMount::Ssh {
        id: m.id.clone().unwrap_or_else(|| "default".into()),
        target: path,
        required: m.required,
        mode: m.mode.unwrap_or(0o600),
        uid: m.uid.unwrap_or(0),
        gid: m.gid.unwrap_or(0),
    }
}
