//! `rbuild prune [--all] [--keep-storage SIZE] [--filter KEY=VALUE]...`: the build cache
//! (blobs, snapshots, cache entries) and the cache mounts, as `docker buildx prune` does.

use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context};
use rbuild_config::units::{parse_duration, parse_size};
use rbuild_store::{PruneOptions, Store};

use super::images::human;

/// Record types as BuildKit names them; rbuild's records are of the first two only.
const REGULAR: &str = "regular";
const CACHE_MOUNT: &str = "exec.cachemount";
const OTHER_TYPES: &[&str] = &[
    "source.local",
    "source.git.checkout",
    "internal",
    "frontend",
];

/// What the filters select: records older than `until`, of the types every `type` selector
/// admits.
#[derive(Debug, Default, PartialEq)]
struct Filters {
    until: Option<Duration>,
    /// `(equal, type)`: `type=T` or `type!=T`.
    types: Vec<(bool, String)>,
}

impl Filters {
    /// Parses `--filter` values; each may hold several comma-separated selectors.
    fn parse(values: &[String]) -> anyhow::Result<Filters> {
        let mut f = Filters::default();
        for selector in values.iter().flat_map(|v| v.split(',')) {
            f.add(selector.trim())
                .with_context(|| format!("--filter {selector:?}"))?;
        }
        Ok(f)
    }

    fn add(&mut self, selector: &str) -> anyhow::Result<()> {
        let (key, equal, value) = match selector.split_once("!=") {
            Some((k, v)) => (k, false, v),
            None => match selector.split_once('=') {
                Some((k, v)) if !k.ends_with('~') => (k, true, v),
                _ => bail!(
                    "expected KEY=VALUE or KEY!=VALUE (regular expressions `~=` are not supported)"
                ),
            },
        };
        match key.trim() {
            "until" if equal => {
                self.until = Some(parse_duration(value).map_err(anyhow::Error::msg)?)
            }
            "until" => bail!("until takes `=`"),
            "type" => self.types.push((equal, record_type(value)?)),
            "id" | "parents" | "description" | "inuse" | "mutable" | "immutable" | "shared"
            | "private" => {
                bail!("rbuild prune does not filter by {key} (it filters by until and type)")
            }
            other => bail!("unknown filter {other:?} (rbuild prune knows until and type)"),
        }
        Ok(())
    }

    /// Whether records of type `t` are selected.
    fn admits(&self, t: &str) -> bool {
        self.types.iter().all(|(equal, want)| (want == t) == *equal)
    }
}

/// BuildKit's type name for `value` (`cache` is short for `exec.cachemount`).
fn record_type(value: &str) -> anyhow::Result<String> {
    let v = value.trim();
    match v {
        "cache" => Ok(CACHE_MOUNT.to_string()),
        REGULAR | CACHE_MOUNT => Ok(v.to_string()),
        _ if OTHER_TYPES.contains(&v) => Ok(v.to_string()),
        _ => bail!(
            "unknown type {v:?} (regular, exec.cachemount or cache, {})",
            OTHER_TYPES.join(", ")
        ),
    }
}

/// Prunes what the filters select and prints what was reclaimed.
pub fn run(
    store: &Store,
    all: bool,
    keep_storage: Option<&str>,
    filters: &[String],
) -> anyhow::Result<ExitCode> {
    let keep_storage = match keep_storage {
        Some(s) => Some(
            parse_size(s)
                .map_err(anyhow::Error::msg)
                .with_context(|| format!("--keep-storage {s:?}"))?,
        ),
        None => None,
    };
    let filters = Filters::parse(filters)?;
    let mut freed = 0;
    if filters.admits(REGULAR) {
        let report = store.prune(&PruneOptions {
            all,
            keep_storage,
            older_than: filters.until,
        })?;
        crate::outln!(
            "Deleted {} blobs, {} snapshots, {} cache entries",
            report.blobs_removed,
            report.snapshots_removed,
            report.cache_entries_removed
        );
        freed += report.bytes_freed;
    }
    if filters.admits(CACHE_MOUNT) {
        freed += prune_cache_mounts(store, filters.until)?;
    }
    crate::outln!("Total reclaimed space: {}", human(freed));
    Ok(ExitCode::SUCCESS)
}

/// Removes the cache mounts unused for longer than `until` (all without it) that no build
/// is using; returns the bytes freed.
fn prune_cache_mounts(store: &Store, until: Option<Duration>) -> anyhow::Result<u64> {
    let now = rbuild_build::time::now_unix();
    let age = until.map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    let removed =
        store.prune_cache_mounts(&|m| age.is_some_and(|a| now.saturating_sub(m.last_used) < a))?;
    let bytes = removed.iter().map(|m| m.size).sum();
    crate::outln!("Deleted {} cache mounts ({})", removed.len(), human(bytes));
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(values: &[&str]) -> anyhow::Result<Filters> {
        Filters::parse(&values.iter().map(|s| s.to_string()).collect::<Vec<_>>())
    }

    #[test]
    fn filters_combine_like_buildx() {
        let f = parse(&["until=24h,type=cache"]).unwrap();
        assert_eq!(f.until, Some(Duration::from_secs(86_400)));
        assert!(f.admits(CACHE_MOUNT) && !f.admits(REGULAR));
        let f = parse(&["type!=exec.cachemount"]).unwrap();
        assert!(f.admits(REGULAR) && !f.admits(CACHE_MOUNT));
        let f = parse(&[]).unwrap();
        assert!(f.admits(REGULAR) && f.admits(CACHE_MOUNT));
        // Repeated filters must all hold, as buildx ANDs them: two types select nothing.
        let f = parse(&["type=regular", "type=cache"]).unwrap();
        assert!(!f.admits(REGULAR) && !f.admits(CACHE_MOUNT));
        let f = parse(&["type=source.local"]).unwrap();
        assert!(!f.admits(REGULAR) && !f.admits(CACHE_MOUNT));
    }

    #[test]
    fn unknown_or_unsupported_filters_are_refused() {
        for (bad, says) in [
            ("color=red", "unknown filter"),
            ("id=abc", "does not filter by id"),
            ("type=bogus", "unknown type"),
            ("until=soon", "not a duration"),
            ("until!=1h", "until takes"),
            ("description~=go", "regular expressions"),
            ("until", "expected KEY=VALUE"),
        ] {
            let err = format!("{:#}", parse(&[bad]).unwrap_err());
            assert!(err.contains(says) && err.contains(bad), "{bad}: {err}");
        }
    }
}
