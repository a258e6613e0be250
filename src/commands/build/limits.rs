//! `rbuild build`'s resource flags (`--memory`, `--cpus`, `--ulimit`, …), parsed and checked as
//! `docker build` does.

use rbuild_sandbox::{Limits, Ulimit};

use crate::cli::BuildArgs;

/// The sandbox limits asked for on the command line.
pub(super) fn from_args(args: &BuildArgs) -> anyhow::Result<Limits> {
    limits(&args.limit_flags())
}

/// The resource flags as typed, before parsing.
#[derive(Default)]
struct LimitFlags<'a> {
    memory: Option<&'a str>,
    memory_swap: Option<&'a str>,
    cpus: Option<&'a str>,
    cpu_quota: Option<i64>,
    cpu_period: Option<u64>,
    pids: Option<i64>,
    shm_size: Option<&'a str>,
    ulimits: &'a [String],
}

impl BuildArgs {
    fn limit_flags(&self) -> LimitFlags<'_> {
        LimitFlags {
            memory: self.memory.as_deref(),
            memory_swap: self.memory_swap.as_deref(),
            cpus: self.cpus.as_deref(),
            cpu_quota: self.cpu_quota,
            cpu_period: self.cpu_period,
            pids: self.pids_limit,
            shm_size: self.shm_size.as_deref(),
            ulimits: &self.ulimits,
        }
    }
}

/// Docker's smallest accepted `--memory`.
const MIN_MEMORY: u64 = 6 * 1024 * 1024;

/// Parses and checks the resource flags the way `docker build` does; 0 means "no limit".
fn limits(f: &LimitFlags) -> anyhow::Result<Limits> {
    let size = |flag: &str, v: Option<&str>| -> anyhow::Result<Option<u64>> {
        v.map(|v| parse_size(v).map_err(|e| anyhow::anyhow!("invalid {flag} {v:?}: {e}")))
            .transpose()
            .map(|v| v.filter(|n| *n > 0))
    };
    let memory = size("--memory", f.memory)?;
    let memory_swap = match f.memory_swap {
        Some("-1") => Some(-1),
        v => size("--memory-swap", v)?.map(|n| i64::try_from(n).unwrap_or(i64::MAX)),
    };
    check_memory(memory, memory_swap)?;
    let cpus = f
        .cpus
        .map(|v| match v.parse::<f64>() {
            Ok(c) if c.is_finite() && c >= 0.0 => Ok(c),
            _ => anyhow::bail!("invalid --cpus {v:?}: expected a non-negative number like 1.5"),
        })
        .transpose()?
        .filter(|c| *c > 0.0);
    check_cpu(cpus, f.cpu_quota, f.cpu_period)?;
    let ulimits = f
        .ulimits
        .iter()
        .map(|u| parse_ulimit(u).map_err(|e| anyhow::anyhow!("invalid --ulimit {u:?}: {e}")))
        .collect::<anyhow::Result<Vec<_>>>()?;
    Ok(Limits {
        memory,
        memory_swap,
        cpu_quota: f.cpu_quota.filter(|q| *q != 0),
        cpu_period: f.cpu_period.filter(|p| *p != 0),
        cpus,
        pids: f.pids.filter(|p| *p != 0),
        shm_size: size("--shm-size", f.shm_size)?,
        ulimits,
    })
}

fn check_memory(memory: Option<u64>, swap: Option<i64>) -> anyhow::Result<()> {
    if memory.is_some_and(|m| m < MIN_MEMORY) {
        anyhow::bail!("minimum memory limit allowed is 6MB");
    }
    match (memory, swap) {
        (None, Some(s)) if s > 0 => {
            anyhow::bail!("--memory-swap needs --memory: set the memory limit too")
        }
        (Some(m), Some(s)) if s > 0 && (s as u64) < m => {
            anyhow::bail!("--memory-swap must be at least --memory ({s} < {m} bytes)")
        }
        _ => Ok(()),
    }
}

fn check_cpu(cpus: Option<f64>, quota: Option<i64>, period: Option<u64>) -> anyhow::Result<()> {
    let quota = quota.filter(|q| *q != 0);
    let period = period.filter(|p| *p != 0);
    if cpus.is_some() && (quota.is_some() || period.is_some()) {
        anyhow::bail!(
            "conflicting options: --cpus cannot be combined with --cpu-quota or --cpu-period"
        );
    }
    if period.is_some_and(|p| !(1_000..=1_000_000).contains(&p)) {
        anyhow::bail!("--cpu-period must be between 1000 and 1000000 microseconds");
    }
    if quota.is_some_and(|q| q != -1 && q < 1_000) {
        anyhow::bail!("--cpu-quota must be at least 1000 microseconds (or -1 for no quota)");
    }
    Ok(())
}

/// Parses a size as docker does (`512`, `64m`, `1g`, `1.5GiB`, `100 kb`): binary units,
/// case-insensitive, fractions truncated to whole bytes.
fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let digits = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(digits);
    let unit = unit.strip_prefix(' ').unwrap_or(unit).to_ascii_lowercase();
    let mut u = unit.as_str();
    let shift = match u.chars().next() {
        Some(c @ ('k' | 'm' | 'g' | 't' | 'p')) => {
            u = &u[1..];
            u = u.strip_prefix('i').unwrap_or(u);
            10 * (1 + "kmgtp".find(c).unwrap_or(0) as u32)
        }
        _ => 0,
    };
    if !(u.is_empty() || u == "b") || num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return Err("expected a number with an optional unit b, k, m, g, t or p".into());
    }
    let scale = 1u64 << shift;
    match num.parse::<u64>() {
        Ok(n) => n.checked_mul(scale).ok_or_else(|| "too large".into()),
        Err(_) => match num.parse::<f64>() {
            Ok(f) if f * (scale as f64) < u64::MAX as f64 => Ok((f * scale as f64) as u64),
            Ok(_) => Err("too large".into()),
            Err(_) => Err(format!("{num:?} is not a number")),
        },
    }
}

/// Resource names `--ulimit` accepts (docker's, plus `as`).
const ULIMIT_NAMES: &[&str] = &[
    "core",
    "cpu",
    "data",
    "fsize",
    "locks",
    "memlock",
    "msgqueue",
    "nice",
    "nofile",
    "nproc",
    "rss",
    "rtprio",
    "rttime",
    "sigpending",
    "stack",
    "as",
];

/// Parses `name=soft[:hard]` (hard defaults to soft, -1 is unlimited).
fn parse_ulimit(text: &str) -> Result<Ulimit, String> {
    let (name, values) = text.split_once('=').ok_or("expected name=soft[:hard]")?;
    if !ULIMIT_NAMES.contains(&name) {
        return Err(format!("unknown resource {name:?}"));
    }
    let (soft, hard) = values.split_once(':').unwrap_or((values, values));
    let num = |v: &str| {
        v.parse::<i64>()
            .ok()
            .filter(|n| *n >= -1)
            .ok_or_else(|| format!("{v:?} is not a number or -1"))
    };
    let (soft, hard) = (num(soft)?, num(hard)?);
    if hard != -1 && (soft == -1 || soft > hard) {
        return Err(format!("soft limit {soft} is above the hard limit {hard}"));
    }
    Ok(Ulimit {
        name: name.to_string(),
        soft,
        hard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_like_docker() {
        let m = 1024 * 1024;
        for (text, want) in [
            ("512", 512),
            ("100b", 100),
            ("1k", 1024),
            ("1K", 1024),
            ("64m", 64 * m),
            ("64M", 64 * m),
            ("64mb", 64 * m),
            ("64MiB", 64 * m),
            ("1g", 1024 * m),
            ("1 GB", 1024 * m),
            ("1.5g", 1536 * m),
            ("2t", 2 << 40),
            ("0", 0),
        ] {
            assert_eq!(parse_size(text), Ok(want), "{text}");
        }
        for bad in [
            "",
            "m",
            "64x",
            "-1",
            "1.g",
            ".5m",
            "64mm",
            "1e3",
            "99999999999999p",
        ] {
            assert!(parse_size(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn ulimits_parse_like_docker() {
        let u = parse_ulimit("nofile=1024:2048").unwrap();
        assert_eq!((u.name.as_str(), u.soft, u.hard), ("nofile", 1024, 2048));
        let u = parse_ulimit("nproc=64").unwrap();
        assert_eq!((u.soft, u.hard), (64, 64));
        let u = parse_ulimit("core=-1").unwrap();
        assert_eq!((u.soft, u.hard), (-1, -1));
        assert!(parse_ulimit("core=0:-1").is_ok());
        for bad in [
            "nofile",
            "bogus=1",
            "nofile=2:1",
            "nofile=-1:5",
            "nofile=x",
            "nofile=-2",
        ] {
            assert!(parse_ulimit(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn limit_flags_checked_like_docker() {
        let f = LimitFlags {
            memory: Some("64m"),
            pids: Some(64),
            cpus: Some("1.5"),
            shm_size: Some("128m"),
            ..Default::default()
        };
        let l = limits(&f).unwrap();
        assert_eq!(l.memory, Some(64 << 20));
        assert_eq!(
            (l.pids, l.cpus, l.shm_size),
            (Some(64), Some(1.5), Some(128 << 20))
        );
        let swap = |s| {
            limits(&LimitFlags {
                memory: Some("64m"),
                memory_swap: Some(s),
                ..Default::default()
            })
        };
        assert_eq!(swap("-1").unwrap().memory_swap, Some(-1));
        assert_eq!(swap("128m").unwrap().memory_swap, Some(128 << 20));
        assert!(swap("32m").is_err(), "swap below memory");
        assert!(limits(&LimitFlags {
            memory: Some("1m"),
            ..Default::default()
        })
        .is_err());
        assert!(limits(&LimitFlags {
            memory_swap: Some("1g"),
            ..Default::default()
        })
        .is_err());
        let both = LimitFlags {
            cpus: Some("1"),
            cpu_quota: Some(50_000),
            ..Default::default()
        };
        assert!(limits(&both).is_err());
        assert!(limits(&LimitFlags {
            cpus: Some("x"),
            ..Default::default()
        })
        .is_err());
        assert!(limits(&LimitFlags {
            cpu_period: Some(10),
            ..Default::default()
        })
        .is_err());
        assert_eq!(
            limits(&LimitFlags {
                memory: Some("0"),
                ..Default::default()
            })
            .unwrap(),
            Limits::default()
        );
    }
}
