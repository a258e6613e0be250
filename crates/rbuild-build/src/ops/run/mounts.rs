//! Preparing a RUN's `--mount`s: the sandbox mounts they become, the environment they add
//! (`env=` secrets, `SSH_AUTH_SOCK`), and what must stay alive while the step runs (cache
//! mount locks, an agent serving `--ssh` keys).

use std::path::{Path, PathBuf};

use rbuild_context::local::LocalContext;
use rbuild_context::select::KeepAll;
use rbuild_context::tree::Tree;
use rbuild_sandbox::{BeneathDir, MountSpec, SecretBytes};
use rbuild_store::CacheMount;

use super::materialize::materialize;
use crate::image::FsState;
use crate::ops::agent_proxy::AgentProxy;
use crate::ops::{ensure_snapshots, Runtime};
use crate::plan::{CopyFrom, MountFrom, RunMount, RunOp, StepMeta};
use crate::secrets::{read_secret, SshSource};
use crate::BuildError;

/// The prepared mounts of one step; dropping it releases the cache mounts and stops agents.
#[derive(Default)]
pub struct Prepared {
    /// What the sandbox mounts, in order.
    pub specs: Vec<MountSpec>,
    /// `K=V` entries added to the step's environment.
    pub env: Vec<String>,
    caches: Vec<CacheMount>,
    /// Cache subdirectories held open: their `/proc/<pid>/fd/<n>` links are bind sources.
    subdirs: Vec<BeneathDir>,
    /// The sockets steps see, in front of `agents` or the forwarded ones (dropped first).
    proxies: Vec<AgentProxy>,
    agents: Vec<super::super::agent::Agent>,
}

/// Prepares `op`'s mounts; `scratch` is an empty directory of the step's scratch area.
pub fn prepare(
    op: &RunOp,
    meta: &StepMeta,
    rt: &Runtime,
    inputs: &[FsState],
    scratch: &Path,
) -> Result<Prepared, BuildError> {
    let mut p = Prepared::default();
    for (i, m) in op.mounts.iter().enumerate() {
        let dir = scratch.join(i.to_string());
        match m {
            RunMount::Bind {
                target,
                source,
                from,
                readonly,
            } => {
                let shown = view(rt, inputs, from, source, &dir, *readonly)
                    .map_err(|e| meta.error(format!("mount {target}: {e}")))?;
                p.specs.push(bind(shown, target, *readonly));
            }
            RunMount::Cache { .. } => cache(&mut p, m, meta, rt, inputs, &dir)?,
            RunMount::Tmpfs { target, size } => p.specs.push(MountSpec::Tmpfs {
                target: target.clone(),
                size: *size,
            }),
            RunMount::Secret { .. } => secret(&mut p, m, meta, rt)?,
            RunMount::Inline {
                target,
                name,
                content,
                mode,
            } => {
                let shown = inline(&dir, name, content, *mode)
                    .map_err(|e| meta.error(format!("mount {target}: {e}")))?;
                // Writable: the sandbox remounts read-only binds noexec, and the file must
                // run. Writes land in this step's scratch dir and are dropped with it.
                p.specs.push(bind(shown, target, false));
            }
            RunMount::Ssh { .. } => ssh(&mut p, &op.env, m, meta, rt, &dir)?,
        }
    }
    Ok(p)
}

/// `dir` holding one file `name`: what an inline mount shows.
fn inline(dir: &Path, name: &str, content: &str, mode: u32) -> std::io::Result<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir)?;
    let file = dir.join(name);
    std::fs::write(&file, content)?;
    std::fs::set_permissions(&file, std::fs::Permissions::from_mode(mode))?;
    Ok(dir.to_path_buf())
}

fn bind(source: PathBuf, target: &str, readonly: bool) -> MountSpec {
    MountSpec::Bind {
        source,
        target: target.to_string(),
        readonly,
    }
}

/// Builds in `dir` the tree `source` names in what `from` reads; returns the path to bind.
fn view(
    rt: &Runtime,
    inputs: &[FsState],
    from: &MountFrom,
    source: &str,
    dir: &Path,
    readonly: bool,
) -> std::io::Result<PathBuf> {
    let local = |from: CopyFrom| -> std::io::Result<std::sync::Arc<LocalContext>> {
        rt.contexts
            .for_copy(&from)
            .ok_or_else(|| std::io::Error::other("no such context"))
    };
    match from {
        MountFrom::Context | MountFrom::Dir(_) => {
            let from = match from {
                MountFrom::Dir(d) => CopyFrom::Dir(d.clone()),
                _ => CopyFrom::Context,
            };
            let ctx = local(from)?;
            let tree = Tree::new(vec![ctx.dir.clone()]);
            // The user's own files are never hard-linked: a writable view must not reach them.
            materialize(&tree, &*ctx, source, dir, false)
        }
        MountFrom::Input(n) => {
            let fs = inputs.get(*n).cloned().unwrap_or_default();
            let layers = ensure_snapshots(rt, &fs).map_err(std::io::Error::other)?;
            materialize(&Tree::new(layers), &KeepAll, source, dir, readonly)
        }
    }
}

fn cache(
    p: &mut Prepared,
    m: &RunMount,
    meta: &StepMeta,
    rt: &Runtime,
    inputs: &[FsState],
    dir: &Path,
) -> Result<(), BuildError> {
    let RunMount::Cache {
        target,
        id,
        sharing,
        seed,
        readonly,
        mode,
        uid,
        gid,
        subpath,
        own_base,
    } = m
    else {
        return Ok(());
    };
    let store_id = cache_id(id, *own_base && rt.request.no_cache);
    // Seed, mode and owner are set on the new mount before it appears (`cache_mount_init`),
    // so a concurrent `sharing=shared` step never sees it empty or with the default mode.
    let init = |data: &Path| -> std::io::Result<()> {
        if let Some((from, source)) = seed {
            let seeded = view(rt, inputs, from, source, dir, true)?;
            copy_tree(&seeded, data)?;
        }
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(data, std::fs::Permissions::from_mode(*mode))?;
        std::os::unix::fs::lchown(data, Some(*uid), Some(*gid))
    };
    let mount = rt
        .store
        .cache_mount_init(&store_id, *sharing, &init)
        .map_err(|e| meta.error(format!("cache mount {id}: {}", crate::error::chain(&e))))?;
    let source = match subpath {
        None => mount.data.clone(),
        Some(sub) => {
            // Steps sharing the cache may have made `sub` a symlink: it is resolved inside
            // the cache and bound through the open directory, never through its path.
            let dir = BeneathDir::open(&mount.data, sub).map_err(|e| {
                let why = &e.source;
                meta.error(format!("cache mount {id}, source={sub}: {e}: {why}"))
            })?;
            let source = dir.path().to_path_buf();
            p.subdirs.push(dir);
            source
        }
    };
    p.specs.push(bind(source, target, *readonly));
    p.caches.push(mount);
    Ok(())
}

/// The store id of cache `id`. A `--no-cache` build gives a cache with a base of its own a
/// cache of its own, as BuildKit does (testCacheMountModeNoCache): the base op runs again and
/// a cache is keyed by id and base. Later cached builds use the old one again; the new one is
/// left for `rbuild prune` like any unused cache.
fn cache_id(id: &str, fresh: bool) -> String {
    static BUILD: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    if !fresh {
        return id.to_string();
    }
    let build = BUILD.get_or_init(|| {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        format!("{}-{t}", std::process::id())
    });
    format!("{id}\0no-cache build {build}")
}

/// Copies the contents of `from` into `to` (a cache mount's seed).
fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    let tree = Tree::new(vec![from.to_path_buf()]);
    let staged = materialize(&tree, &KeepAll, "/", &to.join(".seed"), false)?;
    for e in std::fs::read_dir(&staged)? {
        let e = e?;
        std::fs::rename(e.path(), to.join(e.file_name()))?;
    }
    std::fs::remove_dir(staged)
}

fn secret(p: &mut Prepared, m: &RunMount, meta: &StepMeta, rt: &Runtime) -> Result<(), BuildError> {
    let RunMount::Secret {
        id,
        target,
        env,
        required,
        mode,
        uid,
        gid,
    } = m
    else {
        return Ok(());
    };
    let Some(source) = rt.request.secrets.get(id) else {
        if *required {
            // BuildKit's words; the id is not secret, the value never appears.
            return Err(meta.error(format!("secret {id}: not found")));
        }
        return Ok(());
    };
    let value = read_secret(id, source).map_err(|e| meta.error(e))?;
    if let Some(var) = env {
        p.env
            .push(format!("{var}={}", String::from_utf8_lossy(&value)));
    }
    if let Some(target) = target {
        p.specs.push(MountSpec::Secret {
            target: target.clone(),
            data: SecretBytes(value),
            mode: *mode,
            uid: *uid,
            gid: *gid,
        });
    }
    Ok(())
}

fn ssh(
    p: &mut Prepared,
    op_env: &[String],
    m: &RunMount,
    meta: &StepMeta,
    rt: &Runtime,
    dir: &Path,
) -> Result<(), BuildError> {
    let RunMount::Ssh {
        id,
        target,
        required,
        mode,
        uid,
        gid,
    } = m
    else {
        return Ok(());
    };
    let Some(source) = rt.request.ssh.get(id) else {
        if *required {
            return Err(meta.error(format!(
                "no SSH key {id:?} forwarded from the client: give --ssh {id}[=SOCKET|KEY]"
            )));
        }
        return Ok(());
    };
    let socket = match source {
        SshSource::Agent(sock) => sock.clone(),
        SshSource::Keys(keys) => {
            let agent = super::super::agent::Agent::start(dir, keys)
                .map_err(|e| meta.error(format!("ssh {id}: {e}")))?;
            let sock = agent.socket().to_path_buf();
            p.agents.push(agent);
            sock
        }
    };
    // The step gets a socket of its own with the mount's owner and mode, as in BuildKit.
    let proxy = AgentProxy::start(&socket, *uid, *gid, *mode)
        .map_err(|e| meta.error(format!("ssh {id}: cannot serve the agent to the step: {e}")))?;
    let set = |e: &String| e.starts_with("SSH_AUTH_SOCK=");
    if !p.env.iter().any(set) && !op_env.iter().any(set) {
        p.env.push(format!("SSH_AUTH_SOCK={target}"));
    }
    p.specs
        .push(bind(proxy.socket().to_path_buf(), target, false));
    p.proxies.push(proxy);
    Ok(())
}
