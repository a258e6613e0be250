//! `rbuild build`.

use std::collections::BTreeMap;
use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use rbuild_build::resolve::LocalResolver;
use rbuild_build::{BuildRequest, DockerfileSource};
use rbuild_store::Store;

use crate::cli::BuildArgs;
use crate::render::Plain;

/// Builds and tags the image.
pub fn run(args: BuildArgs, store: Arc<Store>) -> anyhow::Result<ExitCode> {
    let req = request(args)?;
    let reporter = Arc::new(Plain::new());
    let started = std::time::Instant::now();
    let result = rbuild_build::build(&req, store, &LocalResolver, reporter)?;
    eprintln!("writing image {} done", result.config);
    for tag in &result.tags {
        eprintln!("naming to {tag} done");
    }
    eprintln!(
        "build finished in {:.1}s: manifest {}",
        started.elapsed().as_secs_f64(),
        result.manifest.digest
    );
    Ok(ExitCode::SUCCESS)
}

fn request(args: BuildArgs) -> anyhow::Result<BuildRequest> {
    let mut req = BuildRequest::new(args.context.clone());
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
    req.tags = args.tags;
    req.build_args = parse_build_args(&args.build_args, |k| std::env::var(k).ok());
    req.target = args.target;
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
}
