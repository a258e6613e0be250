//! WORKDIR's directory, made as BuildKit's mkdir op makes it: the path and its missing parents,
//! mode 0755, owned by the USER in effect; nothing is written when it already exists.
//!
//! Why an op and not only config: a later `RUN` as a non-root USER must be able to write
//! there, and an image whose WORKDIR is never used by a RUN or COPY still has the directory.

use std::sync::Arc;

use rbuild_solver::{CacheKey, Components, KeyBuilder};

use super::{commit_layer, ensure_snapshots, Runtime, StepMeta};
use rbuild_context::chown;
use rbuild_context::tree::Tree;
use rbuild_context::write::make_dirs;
use crate::image::FsState;
use crate::BuildError;

/// Creates the working directory in the image.
pub struct WorkdirOp {
    /// Display and location.
    pub step: StepMeta,
    /// The absolute, cleaned working directory.
    pub path: String,
    /// The USER in effect (`user[:group]`, names or ids); empty for root.
    pub user: String,
    /// Shared build runtime.
    pub rt: Arc<Runtime>,
}

impl WorkdirOp {
    /// Parent key, path and user.
    pub fn cache_key(&self, inputs: &[CacheKey]) -> (CacheKey, Components) {
        let mut kb = KeyBuilder::new("workdir", 1);
        if let Some(parent) = inputs.first() {
            kb = kb.key("parent", parent);
        }
        kb.str("path", &self.path).str("user", &self.user).finish()
    }

    /// Makes the missing directories; an existing directory gives no layer.
    pub fn exec(&self, inputs: &[FsState]) -> Result<FsState, BuildError> {
        let parent = inputs.first().cloned().unwrap_or_default();
        let store = &self.rt.store;
        let lower = Tree::new(ensure_snapshots(store, &parent)?);
        let scratch = store.scratch()?;
        let upper = scratch.path().join("upper");
        std::fs::create_dir(&upper).map_err(|e| self.step.error(e))?;
        let exists = lower
            .resolve(&self.path, true)
            .is_some_and(|f| f.meta.is_dir());
        if !exists {
            let owner = self.owner(&lower)?;
            make_dirs(&upper, &self.path, &lower, owner)
                .map_err(|e| self.step.error(format!("mkdir {}: {e}", self.path)))?;
        }
        commit_layer(&self.rt, &parent, &upper)
    }

    /// The USER's ids from the image's `/etc/passwd` and `/etc/group`; root when unset.
    fn owner(&self, lower: &Tree) -> Result<(u32, u32), BuildError> {
        if self.user.is_empty() {
            return Ok((0, 0));
        }
        chown::resolve_in(&self.user, lower).map_err(|e| self.step.error(e))
    }
}
