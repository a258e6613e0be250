//! RUN: execute a command in a sandbox over the parent's layers; its changes become a layer.
//! `key` computes its cache key, `mounts` prepares its `--mount`s, `materialize` builds the
//! trees bind mounts show.

mod key;
mod materialize;
mod mounts;

use rbuild_sandbox::{ExitReason, Limits, RunSpec};

use super::{commit_layer, ensure_snapshots, Runtime};
use crate::image::FsState;
use crate::plan::{RunOp, StepMeta};
use crate::progress::Event;
use crate::BuildError;

pub use key::{cache_key, content_inputs, content_key};

/// Runs the command and commits its changes.
pub fn exec(
    op: &RunOp,
    meta: &StepMeta,
    rt: &Runtime,
    inputs: &[FsState],
) -> Result<FsState, BuildError> {
    let parent = inputs.first().cloned().unwrap_or_default();
    let store = &rt.store;
    let lowers = ensure_snapshots(rt, &parent)?;
    // Everything the run needs on disk lives in one scratch dir of the store: a killed build
    // leaves nothing in /tmp, and the next Store::open sweeps it.
    let scratch = store.scratch()?;
    let [upper, work, run_dir] = ["upper", "work", "run"].map(|d| scratch.path().join(d));
    for d in [&upper, &work, &run_dir] {
        std::fs::create_dir(d).map_err(|e| meta.error(e))?;
    }
    // Held until the step ends: cache mount locks, an ssh agent.
    let prepared = mounts::prepare(op, meta, rt, inputs, &scratch.path().join("mounts"))?;
    let mut env = op.env.clone();
    env.extend(prepared.env.iter().cloned());
    let spec = RunSpec {
        lowers,
        upper: upper.clone(),
        work,
        argv: op.argv.clone(),
        env,
        cwd: op.cwd.clone(),
        user: op.user.clone(),
        hostname: op.hostname.clone().unwrap_or_else(|| "rbuild".to_string()),
        network: op.network,
        seccomp: rt.request.seccomp.clone(),
        insecure: op.insecure,
        rootfs: rt.request.rootfs,
        limits: rt.request.limits.clone(),
        extra_mounts: prepared.specs.clone(),
        hosts: None,
        resolv_conf: None,
        run_dir: Some(run_dir),
    };
    let number = meta.info.number;
    let reporter = &rt.reporter;
    let mut on_output = |_s, bytes: &[u8]| reporter.event(Event::Output(number, bytes.to_vec()));
    let outcome = rbuild_sandbox::run(&spec, &rt.request.sandbox_exe, &mut on_output)
        .map_err(|e| meta.error(e))?;
    drop(prepared);
    check(op, meta, &rt.request.limits, outcome.reason)?;
    commit_layer(rt, &parent, Some(&upper))
}

fn check(
    op: &RunOp,
    meta: &StepMeta,
    limits: &Limits,
    reason: ExitReason,
) -> Result<(), BuildError> {
    let what = format!(
        "process {:?} did not complete successfully",
        op.argv.join(" ")
    );
    let reason = match reason {
        ExitReason::Exited(0) => return Ok(()),
        ExitReason::Exited(code) => format!("{what}: exit code: {code}"),
        ExitReason::Signaled(sig) => format!("{what}: killed by signal {sig}"),
        ExitReason::OomKilled => format!(
            "{what}: killed because it ran out of memory (OOM){}",
            memory_note(limits)
        ),
    };
    Err(BuildError::StepFailed {
        at: meta.location.clone(),
        reason,
    })
}

/// Names the limit that was hit, so the user knows which flag to raise.
fn memory_note(limits: &Limits) -> String {
    limits.memory.map_or(String::new(), |m| {
        format!(" with --memory {m} bytes ({} MiB)", m / (1024 * 1024))
    })
}
