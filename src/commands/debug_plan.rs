//! `rbuild debug plan`: the plan a build would run, with each step's cache-key components.

use std::process::ExitCode;
use std::sync::Arc;

use rbuild_build::resolve::LocalResolver;
use rbuild_store::Store;

use crate::cli::PlanArgs;

/// Lowers the Dockerfile as `rbuild build` would and prints the plan; runs nothing and pulls
/// nothing (FROM images must be in the store).
pub fn run(args: PlanArgs, store: Arc<Store>) -> anyhow::Result<ExitCode> {
    let mut req = rbuild_build::BuildRequest::new(args.context.clone());
    req.dockerfile = super::build::dockerfile_source(args.file, &args.context)?;
    req.build_args = super::build::parse_build_args(&args.build_args, |k| std::env::var(k).ok());
    req.target = args.target;
    req.platforms = args.platform;
    if let Some(p) = args.build_platform {
        req.build_platform = p;
    }
    req.named_contexts = super::build::named_contexts(&args.build_contexts)?;
    for name in &args.allow {
        req.allow.grant(name)?;
    }
    let plans = rbuild_build::explain(&req, &store, &LocalResolver)?;
    for (i, (plan, keys)) in plans.iter().enumerate() {
        if i > 0 {
            crate::outln!();
        }
        crate::outln!("{}", rbuild_build::plan::show(plan, keys).trim_end());
    }
    Ok(ExitCode::SUCCESS)
}
