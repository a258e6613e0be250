//! The store's garbage collection after a successful build, as rbuild.toml's `[gc]` asks
//! (BuildKit's daemon collects on its own; rbuild has no daemon, so each build does it).

use std::sync::Arc;

use anyhow::Context;
use rbuild_build::progress::{Event, Reporter};
use rbuild_config::Config;
use rbuild_store::Store;

use super::images::human;
use crate::cli::ProgressMode;

/// Applies the configured policy, if any, and says in the build's progress what it freed.
pub fn after_build(
    store: &Store,
    config: &Config,
    quiet: bool,
    progress: ProgressMode,
) -> anyhow::Result<()> {
    let Some(policy) = config.gc_policy() else {
        return Ok(());
    };
    let report = store
        .collect_garbage(policy.keep_duration, policy.keep_storage)
        .context("garbage collection after the build (rbuild.toml [gc])")?;
    let mut limits = Vec::new();
    if let Some(d) = policy.keep_duration {
        limits.push(format!("keep-duration {}s", d.as_secs()));
    }
    if let Some(bytes) = policy.keep_storage {
        limits.push(format!("keep-storage {}", human(bytes)));
    }
    let message = format!(
        "gc ({}): removed {} blobs, {} snapshots, {} cache entries, freed {}",
        limits.join(", "),
        report.blobs_removed,
        report.snapshots_removed,
        report.cache_entries_removed,
        human(report.bytes_freed)
    );
    let reporter: Arc<dyn Reporter> = match quiet {
        true => Arc::new(crate::render_json::Quiet),
        false => crate::render::reporter(progress),
    };
    reporter.event(Event::Note(message));
    Ok(())
}
