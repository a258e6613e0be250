//! RUN's cache key: parent, argv, env, workdir, user, network, and its mounts: a bind mount by
//! what it shows (the digest of every selected file of the context; of a stage or image, its
//! key, settled by the content of the mounted tree, as BuildKit keys read-only mounts), the
//! others by their options only. Files of the parent image are never hashed (BuildKit
//! semantics); limits, secret values, cache-mount contents and agents never count.

use rbuild_context::hashcache::{HashCache, Prepared};
use rbuild_context::select::{plan_map, KeepAll, PathFilter, PlanOptions};
use rbuild_context::tree::Tree;
use rbuild_sandbox::NetworkMode;
use rbuild_solver::{CacheKey, Components, KeyBuilder, KeyPart};

use crate::image::FsState;
use crate::ops::ensure_snapshots;
use crate::ops::Runtime;
use crate::plan::{CopyFrom, MountFrom, RunMount, RunOp, StepMeta};
use crate::BuildError;

/// The key of a RUN step whose inputs have keys `inputs` (the parent first).
pub fn cache_key(
    op: &RunOp,
    meta: &StepMeta,
    rt: &Runtime,
    inputs: &[CacheKey],
) -> Result<(CacheKey, Components), BuildError> {
    // Version 2: a RUN that changes nothing is an empty layer (version 1 made none).
    let mut kb = KeyBuilder::new("run", 2);
    if let Some(parent) = inputs.first() {
        kb = kb.key("parent", parent);
    }
    kb = kb.list("argv", &op.argv);
    for e in &op.key_env {
        let (k, v) = e.split_once('=').unwrap_or((e, ""));
        // Values may be tokens passed as build args: the explain record keeps a digest.
        kb = kb.hidden_str(&format!("env:{k}"), v);
    }
    kb = kb
        .str("workdir", &op.cwd)
        .str("user", &op.user)
        .str("network", network_name(op.network));
    if let Some(h) = &op.hostname {
        // Only when set: other steps' keys stay as they were. BuildKit's key has it too.
        kb = kb.str("hostname", h);
    }
    if op.insecure {
        // Only when set: the keys of sandboxed steps stay as they were.
        kb = kb.str("security", "insecure");
    }
    for m in &op.mounts {
        kb = mount_component(kb, m, meta, rt, inputs)?;
    }
    Ok(kb.finish())
}

/// The inputs a bind mount shows (never input 0, the parent): the step is keyed by what the
/// mounted tree holds once their keys are new (see `rbuild_solver::Op::content_inputs`).
pub fn content_inputs(op: &RunOp) -> Vec<usize> {
    let mut inputs: Vec<usize> = op
        .mounts
        .iter()
        .filter_map(|m| match m {
            RunMount::Bind {
                from: MountFrom::Input(n),
                ..
            } if *n > 0 => Some(*n),
            _ => None,
        })
        .collect();
    inputs.sort_unstable();
    inputs.dedup();
    inputs
}

/// A digest of every tree that the step's bind mounts show of input `index` (`fs`): each
/// entry's path, metadata and content, as a COPY of them would be keyed.
pub fn content_key(op: &RunOp, rt: &Runtime, index: usize, fs: &FsState) -> CacheKey {
    let mut kb = KeyBuilder::new("mount-content", 1);
    let sources = op.mounts.iter().filter_map(|m| match m {
        RunMount::Bind {
            from: MountFrom::Input(n),
            source,
            ..
        } if *n == index => Some(source),
        _ => None,
    });
    for source in sources {
        kb = match tree_part(rt, fs, source) {
            Ok(part) => kb.str("source", source).part(part),
            // The step runs and reports the mount's error as it would without this key.
            Err(e) => kb.str("source", source).str("unreadable", &e.to_string()),
        };
    }
    kb.finish().0
}

fn tree_part(rt: &Runtime, fs: &FsState, source: &str) -> std::io::Result<KeyPart> {
    let layers = ensure_snapshots(rt, fs).map_err(std::io::Error::other)?;
    // Snapshots never change: no stat cache to keep.
    let hashes = HashCache::new(None, std::path::Path::new("/"));
    files_part(&Tree::new(layers), &KeepAll, source, &hashes, "file:")
}

fn mount_component(
    kb: KeyBuilder,
    m: &RunMount,
    meta: &StepMeta,
    rt: &Runtime,
    inputs: &[CacheKey],
) -> Result<KeyBuilder, BuildError> {
    let name = format!("mount:{}", m.target().unwrap_or("(env)"));
    Ok(match m {
        RunMount::Bind {
            source,
            from,
            readonly,
            ..
        } => {
            let kb = kb.str(&name, &format!("bind source={source} ro={readonly}"));
            bind_from_component(kb, &name, from, source, meta, rt, inputs)?
        }
        RunMount::Cache {
            id,
            sharing,
            readonly,
            subpath,
            ..
        } => {
            // Keys of mounts without a subpath stay what they were before it existed.
            let sub = subpath.as_ref().map(|s| format!(" source={s}"));
            let sub = sub.unwrap_or_default();
            kb.str(
                &name,
                &format!("cache id={id} sharing={sharing:?} ro={readonly}{sub}"),
            )
        }
        RunMount::Tmpfs { size, .. } => kb.str(&name, &format!("tmpfs size={size:?}")),
        RunMount::Inline {
            name: file,
            content,
            mode,
            ..
        } => kb
            .str(&name, &format!("inline {file} mode={mode:o}"))
            .str(&format!("{name}:content"), content),
        RunMount::Secret {
            id, env, required, ..
        } => kb.str(
            &name,
            &format!("secret id={id} env={env:?} required={required}"),
        ),
        RunMount::Ssh { id, required, .. } => {
            kb.str(&name, &format!("ssh id={id} required={required}"))
        }
    })
}

/// What a bind mount shows: the key of the input it reads (settled by its content, see
/// [`content_key`]), or the selected files of a local context.
fn bind_from_component(
    kb: KeyBuilder,
    name: &str,
    from: &MountFrom,
    source: &str,
    meta: &StepMeta,
    rt: &Runtime,
    inputs: &[CacheKey],
) -> Result<KeyBuilder, BuildError> {
    Ok(match from {
        MountFrom::Input(n) => match inputs.get(*n) {
            Some(k) => kb.key(&format!("{name}:from"), k),
            None => return Err(meta.error("a mount's input has no key")),
        },
        MountFrom::Context => kb.part(context_part(rt, &CopyFrom::Context, source, name, meta)?),
        MountFrom::Dir(d) => {
            let from = CopyFrom::Dir(d.clone());
            kb.part(context_part(rt, &from, source, name, meta)?)
        }
    })
}

/// One `<name>:file:<path>` component per selected file of a bind mount of a local context.
fn context_part(
    rt: &Runtime,
    from: &CopyFrom,
    source: &str,
    name: &str,
    meta: &StepMeta,
) -> Result<KeyPart, BuildError> {
    let Some(ctx) = rt.contexts.for_copy(from) else {
        return Ok(KeyPart::default());
    };
    let tree = Tree::new(vec![ctx.dir.clone()]);
    let prefix = format!("{name}:file:");
    files_part(&tree, &*ctx, source, &ctx.hashes, &prefix).map_err(|e| meta.error(e))
}

/// One `<prefix><path>` component per entry `source` selects in `tree`, with its digest.
fn files_part(
    tree: &Tree,
    filter: &dyn PathFilter,
    source: &str,
    hashes: &HashCache,
    prefix: &str,
) -> std::io::Result<KeyPart> {
    let prepared = plan_map(
        tree,
        &[source.to_string()],
        "/",
        true,
        filter,
        PlanOptions::default(),
        &Prepared::of,
    )
    .map_err(std::io::Error::other)?;
    let digests = hashes
        .digests(&prepared)
        .map_err(|(rel, e)| std::io::Error::new(e.kind(), format!("{rel}: {e}")))?;
    let mut part = KeyPart::with_capacity(prepared.len());
    for (p, d) in prepared.iter().zip(&digests) {
        part.str_prefixed(prefix, p.rel(), &hex::encode(d));
    }
    Ok(part)
}

/// Each mode is its own key: a step that reached the host's services is not the step that
/// could not.
fn network_name(n: NetworkMode) -> &'static str {
    match n {
        NetworkMode::None => "none",
        NetworkMode::Host => "host",
        NetworkMode::Private => "private",
    }
}
