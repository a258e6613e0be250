//! `rbuild cache ls|prune|export|import`: the cache mounts `RUN --mount=type=cache` keeps in
//! the store, and moving them between stores as OCI artifacts.

pub(crate) mod transfer;

use std::process::ExitCode;

use anyhow::{bail, Context};
use rbuild_store::{CacheMountInfo, Store};

use super::images::human;
use crate::cli::CacheCommand;

/// Runs a `cache` subcommand.
pub fn run(store: &Store, command: CacheCommand) -> anyhow::Result<ExitCode> {
    match command {
        CacheCommand::Ls => ls(store),
        CacheCommand::Prune { filters } => prune(store, &filters),
        CacheCommand::Export {
            mounts: _,
            ids,
            registry,
            dest,
        } => transfer::export(store, &ids, &registry, &dest).map(|()| ExitCode::SUCCESS),
        CacheCommand::Import { ids, registry, src } => {
            transfer::import(store, &ids, &registry, &src).map(|()| ExitCode::SUCCESS)
        }
    }
}

fn ls(store: &Store) -> anyhow::Result<ExitCode> {
    crate::outln!("{:<40} {:>10}  {}", "ID", "SIZE", "LAST USED");
    for m in store.cache_mount_list()? {
        crate::outln!(
            "{:<40} {:>10}  {}",
            m.id,
            human(m.size),
            rbuild_build::time::rfc3339(m.last_used)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// What `--filter` selects for removal.
#[derive(Default)]
struct Filter {
    id: Option<String>,
    unused_for: Option<i64>,
}

impl Filter {
    fn parse(filters: &[String]) -> anyhow::Result<Filter> {
        let mut f = Filter::default();
        for spec in filters {
            match spec.split_once('=') {
                Some(("id", v)) => f.id = Some(v.to_string()),
                Some(("until", v)) => {
                    let age = rbuild_config::units::parse_duration(v)
                        .map_err(anyhow::Error::msg)
                        .with_context(|| format!("--filter {spec}"))?;
                    f.unused_for = Some(i64::try_from(age.as_secs()).unwrap_or(i64::MAX));
                }
                _ => bail!("--filter {spec:?}: expected id=ID or until=DURATION"),
            }
        }
        Ok(f)
    }

    fn removes(&self, m: &CacheMountInfo, now: i64) -> bool {
        self.id.as_ref().is_none_or(|id| *id == m.id)
            && self.unused_for.is_none_or(|age| now - m.last_used >= age)
    }
}

fn prune(store: &Store, filters: &[String]) -> anyhow::Result<ExitCode> {
    let filter = Filter::parse(filters)?;
    let now = rbuild_build::time::now_unix();
    let removed = store.prune_cache_mounts(&|m| !filter.removes(m, now))?;
    let bytes: u64 = removed.iter().map(|m| m.size).sum();
    for m in &removed {
        crate::outln!("deleted cache mount {} ({})", m.id, human(m.size));
    }
    crate::outln!("Total reclaimed space: {}", human(bytes));
    Ok(ExitCode::SUCCESS)
}
