//! RUN: execute a command in a sandbox over the parent's layers; its changes become a layer.

use rbuild_sandbox::{ExitReason, Limits, NetworkMode, RunSpec};
use rbuild_solver::{CacheKey, Components, KeyBuilder};

use super::{commit_layer, ensure_snapshots, Runtime};
use crate::image::FsState;
use crate::plan::{RunOp, StepMeta};
use crate::progress::Event;
use crate::BuildError;

/// RUN's key: parent, argv, env, workdir, user, network. Files are never hashed (BuildKit
/// semantics); limits are left out, as BuildKit does.
pub fn cache_key(op: &RunOp, inputs: &[CacheKey]) -> (CacheKey, Components) {
    let mut kb = KeyBuilder::new("run", 1);
    if let Some(parent) = inputs.first() {
        kb = kb.key("parent", parent);
    }
    kb = kb.list("argv", &op.argv);
    for e in &op.key_env {
        let (k, v) = e.split_once('=').unwrap_or((e, ""));
        // Values may be tokens passed as build args: the explain record keeps a digest.
        kb = kb.hidden_str(&format!("env:{k}"), v);
    }
    kb.str("workdir", &op.cwd)
        .str("user", &op.user)
        .str("network", network_name(op.network))
        .finish()
}

/// Runs the command and commits its changes.
pub fn exec(
    op: &RunOp,
    meta: &StepMeta,
    rt: &Runtime,
    inputs: &[FsState],
) -> Result<FsState, BuildError> {
    let parent = inputs.first().cloned().unwrap_or_default();
    let store = &rt.store;
    let lowers = ensure_snapshots(store, &parent)?;
    // Everything the run needs on disk lives in one scratch dir of the store: a killed build
    // leaves nothing in /tmp, and the next Store::open sweeps it.
    let scratch = store.scratch()?;
    let [upper, work, run_dir] = ["upper", "work", "run"].map(|d| scratch.path().join(d));
    for d in [&upper, &work, &run_dir] {
        std::fs::create_dir(d).map_err(|e| meta.error(e))?;
    }
    let spec = RunSpec {
        lowers,
        upper: upper.clone(),
        work,
        argv: op.argv.clone(),
        env: op.env.clone(),
        cwd: op.cwd.clone(),
        user: op.user.clone(),
        hostname: "rbuild".to_string(),
        network: op.network,
        limits: rt.request.limits.clone(),
        extra_mounts: Vec::new(),
        hosts: None,
        resolv_conf: None,
        run_dir: Some(run_dir),
        ..RunSpec::default()
    };
    let number = meta.info.number;
    let reporter = &rt.reporter;
    let mut on_output = |_s, bytes: &[u8]| reporter.event(Event::Output(number, bytes.to_vec()));
    let outcome = rbuild_sandbox::run(&spec, &rt.request.sandbox_exe, &mut on_output)
        .map_err(|e| meta.error(e))?;
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

fn network_name(n: NetworkMode) -> &'static str {
    match n {
        NetworkMode::None => "none",
        _ => "host",
    }
}
