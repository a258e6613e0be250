//! `rbuild prune [--all] [--keep-storage SIZE]`.

use std::process::ExitCode;

use anyhow::Context;
use rbuild_store::{PruneOptions, Store};

use super::images::human;

/// Prunes and prints what was reclaimed.
pub fn run(store: &Store, all: bool, keep_storage: Option<&str>) -> anyhow::Result<ExitCode> {
    let keep_storage = match keep_storage {
        Some(s) => Some(parse_size(s).with_context(|| format!("--keep-storage {s:?}"))?),
        None => None,
    };
    let report = store.prune(&PruneOptions { all, keep_storage })?;
    crate::outln!(
        "Deleted {} blobs, {} snapshots, {} cache entries",
        report.blobs_removed,
        report.snapshots_removed,
        report.cache_entries_removed
    );
    crate::outln!("Total reclaimed space: {}", human(report.bytes_freed));
    Ok(ExitCode::SUCCESS)
}

/// `512`, `10k`, `1.5GB`, `2GiB`, `100mb`: binary multiples whatever the spelling, as
/// docker's `--keep-storage` reads them.
pub fn parse_size(text: &str) -> anyhow::Result<u64> {
    let t = text.trim().to_ascii_lowercase();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .context("expected a number with an optional unit")?;
    let unit = unit.trim();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(unit);
    let mult: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        other => anyhow::bail!("unknown unit {other:?} (use k, m, g or t)"),
    };
    let bytes = value * mult as f64;
    anyhow::ensure!(
        bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64,
        "out of range"
    );
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512").unwrap(), 512);
        assert_eq!(parse_size("10k").unwrap(), 10 << 10);
        assert_eq!(parse_size("2GiB").unwrap(), 2 << 30);
        assert_eq!(parse_size("100MB").unwrap(), 100 << 20);
        assert_eq!(parse_size("1.5g").unwrap(), 3 << 29);
        assert_eq!(parse_size("0").unwrap(), 0);
        for bad in ["", "x", "10q", "-1", "1..2m"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }
}

/// A duration in seconds from Docker's filter syntax: `90s`, `30m`, `24h`, `7d`, `1h30m`.
pub(crate) fn parse_age(s: &str) -> Option<i64> {
    let mut total: i64 = 0;
    let mut digits = String::new();
    for c in s.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: i64 = digits.parse().ok()?;
        digits.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return None,
        };
        total = total.checked_add(n.checked_mul(unit)?)?;
    }
    digits.is_empty().then_some(total).filter(|t| *t > 0)
}

#[cfg(test)]
mod age_tests {
    use super::parse_age;

    #[test]
    fn durations_parse_like_docker_filters() {
        assert_eq!(parse_age("24h"), Some(86_400));
        assert_eq!(parse_age("1h30m"), Some(5_400));
        assert_eq!(parse_age("7d"), Some(604_800));
        assert_eq!(parse_age("90s"), Some(90));
        for bad in ["", "h", "24", "5x", "0s"] {
            assert_eq!(parse_age(bad), None, "{bad}");
        }
    }
}
