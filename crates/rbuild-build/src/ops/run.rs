//! RUN: execute a command in a sandbox over the parent's layers; its changes become a layer.

use std::sync::Arc;

use rbuild_sandbox::{ExitReason, Limits, NetworkMode, RunSpec};
use rbuild_solver::{CacheKey, Components, KeyBuilder};

use crate::image::FsState;
use crate::ops::{commit_layer, ensure_snapshots, Runtime, StepMeta};
use crate::progress::Event;
use crate::BuildError;

/// A RUN step, fully expanded.
pub struct RunOp {
    /// Display and location.
    pub step: StepMeta,
    /// argv after SHELL wrapping.
    pub argv: Vec<String>,
    /// The process environment (config env + build args in scope).
    pub env: Vec<String>,
    /// The environment that counts for the cache key (proxy args left out).
    pub key_env: Vec<String>,
    /// Working directory.
    pub cwd: String,
    /// USER as written.
    pub user: String,
    /// Network mode.
    pub network: NetworkMode,
    /// Resource limits; left out of the cache key, as BuildKit does.
    pub limits: Limits,
    /// Shared build runtime.
    pub rt: Arc<Runtime>,
}

impl RunOp {
    /// RUN's key: parent, argv, env, workdir, user, network. Files are never hashed (BuildKit semantics).
    pub fn cache_key(&self, inputs: &[CacheKey]) -> (CacheKey, Components) {
        let mut kb = KeyBuilder::new("run", 1);
        if let Some(parent) = inputs.first() {
            kb = kb.key("parent", parent);
        }
        kb = kb.list("argv", &self.argv);
        for e in &self.key_env {
            let (k, v) = e.split_once('=').unwrap_or((e, ""));
            // Values may be tokens passed as build args: the explain record keeps a digest.
            kb = kb.hidden_str(&format!("env:{k}"), v);
        }
        kb.str("workdir", &self.cwd)
            .str("user", &self.user)
            .str("network", network_name(&self.network))
            .finish()
    }

    /// Runs the command and commits its changes.
    pub fn exec(&self, inputs: &[FsState]) -> Result<FsState, BuildError> {
        let parent = inputs.first().cloned().unwrap_or_default();
        let store = &self.rt.store;
        let lowers = ensure_snapshots(store, &parent)?;
        let scratch = store.scratch()?;
        let upper = scratch.path().join("upper");
        let work = scratch.path().join("work");
        for d in [&upper, &work] {
            std::fs::create_dir(d)
                .map_err(|e| self.step.error(format!("create {}: {e}", d.display())))?;
        }
        let spec = RunSpec {
            lowers,
            upper: upper.clone(),
            work,
            argv: self.argv.clone(),
            env: self.env.clone(),
            cwd: self.cwd.clone(),
            user: self.user.clone(),
            hostname: "rbuild".to_string(),
            network: self.network,
            limits: self.limits.clone(),
            extra_mounts: Vec::new(),
            hosts: None,
            resolv_conf: None,
        };
        let number = self.step.info.number;
        let reporter = &self.rt.reporter;
        let mut on_output =
            |_s, bytes: &[u8]| reporter.event(Event::Output(number, bytes.to_vec()));
        let outcome = rbuild_sandbox::run(&spec, &self.rt.sandbox_exe, &mut on_output)
            .map_err(|e| self.step.error(e))?;
        self.check(outcome.reason)?;
        commit_layer(&self.rt, &parent, &upper)
    }

    fn check(&self, reason: ExitReason) -> Result<(), BuildError> {
        let what = format!(
            "process {:?} did not complete successfully",
            self.argv.join(" ")
        );
        let reason = match reason {
            ExitReason::Exited(0) => return Ok(()),
            ExitReason::Exited(code) => format!("{what}: exit code: {code}"),
            ExitReason::Signaled(sig) => format!("{what}: killed by signal {sig}"),
            ExitReason::OomKilled => format!(
                "{what}: killed because it ran out of memory (OOM){}",
                memory_note(&self.limits)
            ),
        };
        Err(BuildError::StepFailed {
            at: self.step.location.clone(),
            reason,
        })
    }
}

/// Names the limit that was hit, so the user knows which flag to raise.
fn memory_note(limits: &Limits) -> String {
    limits.memory.map_or(String::new(), |m| {
        format!(" with --memory {m} bytes ({} MiB)", m / (1024 * 1024))
    })
}

fn network_name(n: &NetworkMode) -> &'static str {
    match n {
        NetworkMode::None => "none",
        _ => "host",
    }
}
