//! `rbuild store check|df`.

use std::process::ExitCode;

use rbuild_store::Store;

use super::images::human;
use crate::cli::StoreCommand;

/// Runs a store maintenance command.
pub fn run(store: &Store, command: StoreCommand) -> anyhow::Result<ExitCode> {
    match command {
        StoreCommand::Check => check(store),
        StoreCommand::Df => df(store),
    }
}

/// Hashes every blob; exits non-zero when one is corrupt or a tagged image is incomplete.
fn check(store: &Store) -> anyhow::Result<ExitCode> {
    let report = store.check()?;
    for (name, actual) in &report.corrupt {
        println!("CORRUPT {name}: content hashes to {actual}");
    }
    for (tag, digest) in &report.missing {
        println!("MISSING {digest} (needed by {tag})");
    }
    for (tag, digest, why) in &report.unreadable {
        println!("UNREADABLE {digest} (needed by {tag}): {why}");
    }
    for id in &report.unverified_snapshots {
        println!("UNVERIFIED snapshot {id}: no proof it holds the layer its chain id names");
    }
    for (id, why) in &report.damaged_snapshots {
        println!("DAMAGED snapshot {id}: {why}");
    }
    println!(
        "{} blobs checked: {} corrupt, {} missing, {} unreadable; {} snapshots checked: {} unverified, {} damaged",
        report.blobs_checked,
        report.corrupt.len(),
        report.missing.len(),
        report.unreadable.len(),
        report.snapshots_checked,
        report.unverified_snapshots.len(),
        report.damaged_snapshots.len(),
    );
    Ok(if report.is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

fn df(store: &Store) -> anyhow::Result<ExitCode> {
    let du = store.disk_usage()?;
    println!(
        "blobs:         {:>6}  {:>10}",
        du.blobs,
        human(du.blob_bytes)
    );
    println!(
        "snapshots:     {:>6}  {:>10}",
        du.snapshots,
        human(du.snapshot_bytes)
    );
    println!(
        "cache entries: {:>6}  {:>10}",
        du.cache_entries,
        human(du.db_bytes)
    );
    println!("total:                 {:>10}", human(du.total()));
    println!("reclaimable:           {:>10}", human(du.reclaimable_bytes));
    Ok(ExitCode::SUCCESS)
}
