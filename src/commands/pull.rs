//! `rbuild pull [--platform P[,P...]] REF`.

use std::process::ExitCode;

use anyhow::Context;
use rbuild_oci::{Platform, Reference};
use rbuild_registry::PulledImage;
use rbuild_store::Store;

use crate::cli::PullArgs;
use crate::resolver::Remote;

/// Pulls the image for each asked platform (verifying every digest while streaming) and tags
/// it in its familiar form: the image itself for one platform, an index of them for several.
pub fn run(store: &Store, args: &PullArgs) -> anyhow::Result<ExitCode> {
    let reference = Reference::parse(&args.reference)
        .with_context(|| format!("invalid reference {:?}", args.reference))?;
    let platforms = if args.platform.is_empty() {
        vec![Platform::host()]
    } else {
        args.platform.clone()
    };
    let remote = Remote::new(&args.registry)?;
    let mut images = Vec::new();
    for platform in &platforms {
        let img = pull_one(
            store,
            &remote,
            &reference,
            platform,
            !args.platform.is_empty(),
        )?;
        images.push((platform.clone(), img));
    }
    let digest = match images.as_slice() {
        [(_, one)] => one.manifest.digest.clone(),
        many => {
            let written = many
                .iter()
                .map(|(p, img)| Ok((p.clone(), written(store, img)?)))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let index = rbuild_build::image::write_index(store, &written, None)?;
            if reference.digest.is_none() {
                store.set_tag(&reference.familiar(), &index)?;
            }
            index.digest
        }
    };
    if reference.digest.is_none() {
        eprintln!("tagged {}", reference.familiar());
    }
    crate::outln!("{digest}");
    Ok(ExitCode::SUCCESS)
}

/// The pulled image as the builder's index writer takes it.
fn written(store: &Store, img: &PulledImage) -> anyhow::Result<rbuild_build::image::Written> {
    let (manifest, _) = rbuild_build::image::read_image(store, &img.manifest)?;
    Ok(rbuild_build::image::Written {
        manifest: img.manifest.clone(),
        config: manifest.config.digest,
    })
}

fn pull_one(
    store: &Store,
    remote: &Remote,
    reference: &Reference,
    platform: &Platform,
    asked: bool,
) -> anyhow::Result<PulledImage> {
    eprintln!(
        "pulling {} for {}",
        reference.familiar(),
        platform.to_spec()
    );
    let started = std::time::Instant::now();
    let img = remote
        .block_on(|c| c.pull(store, reference, platform))?
        .with_context(|| format!("cannot pull {reference}"))?;
    let bytes: u64 = img.layers.iter().map(|l| l.size).sum();
    eprintln!(
        "pulled {} layers ({bytes} bytes) in {:.1}s",
        img.layers.len(),
        started.elapsed().as_secs_f64()
    );
    let got = platform_of(&img.config);
    let want = rbuild_registry::platform::normalize(platform);
    if asked && rbuild_registry::platform::normalize(&got) != want {
        eprintln!(
            "WARNING: the image is for {}, not the requested {}",
            got.to_spec(),
            platform.to_spec()
        );
    }
    Ok(img)
}

fn platform_of(config: &rbuild_oci::ImageConfig) -> Platform {
    Platform {
        os: config.os.clone(),
        architecture: config.architecture.clone(),
        variant: config.variant.clone(),
    }
}
