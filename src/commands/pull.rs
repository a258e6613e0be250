//! `rbuild pull [--platform P] REF`.

use std::process::ExitCode;

use anyhow::Context;
use rbuild_oci::Reference;
use rbuild_store::Store;

use crate::cli::PullArgs;
use crate::resolver::Remote;

/// Pulls the image (verifying every digest while streaming) and tags it in its familiar form.
pub fn run(store: &Store, args: &PullArgs) -> anyhow::Result<ExitCode> {
    let reference = Reference::parse(&args.reference)
        .with_context(|| format!("invalid reference {:?}", args.reference))?;
    let platform = args
        .platform
        .clone()
        .unwrap_or_else(rbuild_oci::Platform::host);
    let remote = Remote::new(&args.registry)?;
    eprintln!(
        "pulling {} for {}",
        reference.familiar(),
        platform.to_spec()
    );
    let started = std::time::Instant::now();
    let img = remote
        .block_on(|c| c.pull(store, &reference, &platform))?
        .with_context(|| format!("cannot pull {}", args.reference))?;
    let bytes: u64 = img.layers.iter().map(|l| l.size).sum();
    eprintln!(
        "pulled {} layers ({bytes} bytes) in {:.1}s",
        img.layers.len(),
        started.elapsed().as_secs_f64()
    );
    let got = platform_of(&img.config);
    if args.platform.is_some() && rbuild_registry::platform::normalize(&got) != platform {
        eprintln!(
            "WARNING: the image is for {}, not the requested {}",
            got.to_spec(),
            platform.to_spec()
        );
    }
    if reference.digest.is_none() {
        eprintln!("tagged {}", reference.familiar());
    }
    crate::outln!("{}", img.manifest.digest);
    Ok(ExitCode::SUCCESS)
}

fn platform_of(config: &rbuild_oci::ImageConfig) -> rbuild_oci::Platform {
    rbuild_oci::Platform {
        os: config.os.clone(),
        architecture: config.architecture.clone(),
        variant: config.variant.clone(),
    }
}
