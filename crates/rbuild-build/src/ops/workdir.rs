//! WORKDIR's directory, made as BuildKit's mkdir op makes it: the path and its missing parents,
//! mode 0755, owned by the USER in effect; nothing is written when it already exists, and the
//! step is an empty layer then (BuildKit's mkdir op is a layer all the same).
//!
//! Why an op and not only config: a later `RUN` as a non-root USER must be able to write
//! there, and an image whose WORKDIR is never used by a RUN or COPY still has the directory.

use rbuild_context::chown;
use rbuild_context::tree::Tree;
use rbuild_context::write::make_dirs;
use rbuild_solver::{CacheKey, Components, KeyBuilder};

use super::{commit_layer, ensure_snapshots, Runtime};
use crate::image::FsState;
use crate::plan::{StepMeta, WorkdirOp};
use crate::BuildError;

/// Parent key, path and user.
pub fn cache_key(op: &WorkdirOp, inputs: &[CacheKey]) -> (CacheKey, Components) {
    // Version 2: an existing directory gives an empty layer (version 1 gave none).
    let mut kb = KeyBuilder::new("workdir", 2);
    if let Some(parent) = inputs.first() {
        kb = kb.key("parent", parent);
    }
    kb.str("path", &op.path).str("user", &op.user).finish()
}

/// Makes the missing directories; an existing directory gives an empty layer.
pub fn exec(
    op: &WorkdirOp,
    meta: &StepMeta,
    rt: &Runtime,
    inputs: &[FsState],
) -> Result<FsState, BuildError> {
    let parent = inputs.first().cloned().unwrap_or_default();
    let store = &rt.store;
    let lower = Tree::new(ensure_snapshots(rt, &parent)?);
    let exists = lower
        .resolve(&op.path, true)
        .is_some_and(|f| f.meta.is_dir());
    let scratch = store.scratch()?;
    let upper = scratch.path().join("upper");
    std::fs::create_dir(&upper).map_err(|e| meta.error(e))?;
    if exists {
        return commit_layer(rt, &parent, Some(&upper));
    }
    let owner = owner(op, meta, &lower)?;
    make_dirs(&upper, &op.path, &lower, owner)
        .map_err(|e| meta.error(format!("mkdir {}: {e}", op.path)))?;
    commit_layer(rt, &parent, Some(&upper))
}

/// The USER's ids from the image's `/etc/passwd` and `/etc/group`; root when unset.
fn owner(op: &WorkdirOp, meta: &StepMeta, lower: &Tree) -> Result<(u32, u32), BuildError> {
    if op.user.is_empty() {
        return Ok((0, 0));
    }
    chown::resolve_in(&op.user, lower).map_err(|e| meta.error(e))
}
