//! `rbuild store check [--repair]|df`.

use std::process::ExitCode;

use rbuild_store::{CheckReport, Store};

use super::images::human;
use crate::cli::StoreCommand;

/// Runs a store maintenance command.
pub fn run(store: &Store, command: StoreCommand) -> anyhow::Result<ExitCode> {
    match command {
        StoreCommand::Check { repair } => check(store, repair),
        StoreCommand::Df => df(store),
    }
}

/// With `repair`, first drops what cannot be verified, printing one line per thing done.
/// Then checks everything; exits non-zero when anything is damaged or incomplete.
fn check(store: &Store, repair: bool) -> anyhow::Result<ExitCode> {
    if repair {
        let done = store.repair()?;
        for item in &done {
            crate::outln!("REPAIRED {item}");
        }
        if done.is_empty() {
            crate::outln!("nothing to repair");
        }
    }
    let report = store.check()?;
    print_report(&report);
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        if !repair {
            crate::outln!("run `rbuild store check --repair` to drop what cannot be verified");
        }
        ExitCode::FAILURE
    })
}

fn print_report(report: &CheckReport) {
    if let Some(why) = &report.db_error {
        crate::outln!("DAMAGED cache.db: {why}");
    }
    if let Some(why) = &report.index_error {
        crate::outln!("DAMAGED index.json (tags not checked): {why}");
    }
    for (name, actual) in &report.corrupt {
        crate::outln!("CORRUPT {name}: content hashes to {actual}");
    }
    for (tag, digest) in &report.missing {
        crate::outln!("MISSING {digest} (needed by {tag})");
    }
    for (tag, digest, why) in &report.unreadable {
        crate::outln!("UNREADABLE {digest} (needed by {tag}): {why}");
    }
    for id in &report.unverified_snapshots {
        crate::outln!("UNVERIFIED snapshot {id}: no proof it holds the layer its chain id names");
    }
    for (id, why) in &report.damaged_snapshots {
        crate::outln!("DAMAGED snapshot {id}: {why}");
    }
    crate::outln!(
        "{} blobs checked: {} corrupt, {} missing, {} unreadable; \
         {} snapshots checked: {} unverified, {} damaged",
        report.blobs_checked,
        report.corrupt.len(),
        report.missing.len(),
        report.unreadable.len(),
        report.snapshots_checked,
        report.unverified_snapshots.len(),
        report.damaged_snapshots.len(),
    );
}

fn df(store: &Store) -> anyhow::Result<ExitCode> {
    let du = store.disk_usage()?;
    crate::outln!(
        "blobs:         {:>6}  {:>10}",
        du.blobs,
        human(du.blob_bytes)
    );
    crate::outln!(
        "snapshots:     {:>6}  {:>10}",
        du.snapshots,
        human(du.snapshot_bytes)
    );
    crate::outln!(
        "cache entries: {:>6}  {:>10}",
        du.cache_entries,
        human(du.db_bytes)
    );
    crate::outln!(
        "cache mounts:  {:>6}  {:>10}",
        du.cache_mounts,
        human(du.cache_mount_bytes)
    );
    crate::outln!("total:                 {:>10}", human(du.total()));
    crate::outln!("reclaimable:           {:>10}", human(du.reclaimable_bytes));
    Ok(ExitCode::SUCCESS)
}
