//! `rbuild build`.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use rbuild_build::{BuildRequest, DockerfileSource};
use rbuild_sandbox::{Limits, NetworkMode, Ulimit};
use rbuild_store::Store;

use crate::cli::BuildArgs;
use crate::resolver::{RegistryResolver, Remote};

/// Builds and tags the image.
pub fn run(args: BuildArgs, store: Arc<Store>) -> anyhow::Result<ExitCode> {
    if args.push && args.tags.is_empty() {
        anyhow::bail!("--push needs at least one -t NAME[:TAG] to push to");
    }
    let remote = Remote::new(&args.registry)?;
    let resolver = RegistryResolver::new(&remote, args.platform.as_deref(), args.pull)?;
    let push = args.push;
    let reporter = crate::render::reporter(args.progress);
    let req = request(args)?;
    let started = std::time::Instant::now();
    let result = rbuild_build::build(&req, Arc::clone(&store), &resolver, reporter)
        .inspect_err(|e| show_source(&req, e))?;
    eprintln!("writing image {} done", result.config);
    for tag in &result.tags {
        eprintln!("naming to {tag} done");
    }
    eprintln!(
        "build finished in {:.1}s: manifest {}",
        started.elapsed().as_secs_f64(),
        result.manifest.digest
    );
    if push {
        for tag in &result.tags {
            super::push::push_manifest(&remote, &store, &result.manifest, tag)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn request(args: BuildArgs) -> anyhow::Result<BuildRequest> {
    let mut req = BuildRequest::new(args.context.clone());
    req.limits = limits(&args.limit_flags())?;
    req.network = match args.network.as_deref() {
        None | Some("default") => None,
        Some("none") => Some(NetworkMode::None),
        Some(_) => Some(NetworkMode::Host),
    };
    req.dockerfile = match args.file {
        Some(p) if p.as_os_str() == "-" => {
            let mut text = String::new();
            std::io::stdin()
                .read_to_string(&mut text)
                .context("cannot read the Dockerfile from stdin")?;
            DockerfileSource::Text(text)
        }
        Some(p) => DockerfileSource::Path(p),
        None => DockerfileSource::Path(args.context.join("Dockerfile")),
    };
    let outputs = args
        .outputs
        .iter()
        .map(|o| rbuild_build::export::parse_output(o))
        .collect::<Result<Vec<_>, _>>()?;
    req.compression = rbuild_build::export::layer_compression(&outputs)?;
    req.outputs = outputs.into_iter().map(|o| o.output).collect();
    req.tags = args.tags;
    req.build_args = parse_build_args(&args.build_args, |k| std::env::var(k).ok());
    req.target = args.target;
    req.named_contexts = named_contexts(&args.build_contexts)?;
    req.no_cache = args.no_cache;
    req.no_cache_filter = args.no_cache_filter;
    if let Some(j) = args.jobs {
        req.jobs = j;
    }
    let epoch = req
        .build_args
        .get("SOURCE_DATE_EPOCH")
        .cloned()
        .or_else(|| std::env::var("SOURCE_DATE_EPOCH").ok());
    req.source_date_epoch = match epoch {
        Some(e) => Some(
            e.parse()
                .with_context(|| format!("SOURCE_DATE_EPOCH {e:?} is not a number of seconds"))?,
        ),
        None => None,
    };
    req.sandbox_exe = std::env::current_exe().context("cannot find the rbuild executable")?;
    Ok(req)
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

/// `K=V` as given; `K` alone takes the environment's value and is dropped when unset, as docker does.
fn parse_build_args(
    args: &[String],
    env: impl Fn(&str) -> Option<String>,
) -> BTreeMap<String, String> {
    args.iter()
        .filter_map(|a| match a.split_once('=') {
            Some((k, v)) => Some((k.to_string(), v.to_string())),
            None => env(a).map(|v| (a.clone(), v)),
        })
        .collect()
}

/// `--build-context NAME=VALUE`; local directories are made absolute.
fn named_contexts(
    values: &[String],
) -> anyhow::Result<BTreeMap<String, rbuild_build::NamedContext>> {
    let mut out = BTreeMap::new();
    for v in values {
        let (name, value) = v
            .split_once('=')
            .with_context(|| format!("--build-context {v:?}: expected NAME=VALUE"))?;
        let mut nc = rbuild_build::NamedContext::parse(value)
            .map_err(|e| anyhow::anyhow!("--build-context {name}: {e}"))?;
        if let rbuild_build::NamedContext::Local(dir) = &nc {
            let abs = std::fs::canonicalize(dir)
                .with_context(|| format!("--build-context {name}: {}", dir.display()))?;
            nc = rbuild_build::NamedContext::Local(abs);
        }
        out.insert(name.to_string(), nc);
    }
    Ok(out)
}

/// Prints the Dockerfile lines around a failing instruction, as BuildKit does.
fn show_source(req: &BuildRequest, e: &rbuild_build::BuildError) {
    let Some(line) = e.line() else { return };
    let text = match &req.dockerfile {
        DockerfileSource::Text(t) => Some(t.clone()),
        DockerfileSource::Path(p) => std::fs::read_to_string(p).ok(),
    };
    if let Some(text) = text {
        eprintln!("{}", rbuild_build::excerpt(&text, line));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn build_args_from_flags_and_environment() {
        let args = vec![
            "A=1".to_string(),
            "B".to_string(),
            "C".to_string(),
            "D=x=y".to_string(),
        ];
        let got = parse_build_args(&args, |k| (k == "B").then(|| "env".to_string()));
        let want: BTreeMap<String, String> = [("A", "1"), ("B", "env"), ("D", "x=y")]
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        assert_eq!(got, want);
    }

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
