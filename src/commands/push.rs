//! `rbuild push REF` (and `rbuild build --push`).

use std::process::ExitCode;

use anyhow::Context;
use rbuild_build::resolve::tagged;
use rbuild_oci::{Descriptor, Reference};
use rbuild_registry::PushEvent;
use rbuild_store::Store;

use crate::cli::PushArgs;
use crate::resolver::Remote;

/// Pushes the image a local tag names to that tag's registry; prints the manifest digest.
pub fn run(store: &Store, args: &PushArgs) -> anyhow::Result<ExitCode> {
    let (_, manifest) = tagged(store, &args.reference)?
        .with_context(|| format!("no such image: {}", args.reference))?;
    let remote = Remote::new(&args.registry)?;
    let digest = push_manifest(&remote, store, &manifest, &args.reference)?;
    crate::outln!("{digest}");
    Ok(ExitCode::SUCCESS)
}

/// Pushes `manifest` (and its blobs) as `target`, showing progress on stderr; returns the digest.
pub fn push_manifest(
    remote: &Remote,
    store: &Store,
    manifest: &Descriptor,
    target: &str,
) -> anyhow::Result<rbuild_oci::Digest> {
    let reference =
        Reference::parse(target).with_context(|| format!("invalid reference {target:?}"))?;
    eprintln!("pushing {} to {}", manifest.digest, reference.familiar());
    let started = std::time::Instant::now();
    let digest = remote
        .block_on(|c| c.push(store, manifest, &reference, &show))?
        .with_context(|| format!("cannot push {target}"))?;
    eprintln!(
        "{}: digest: {digest} size: {} ({:.1}s)",
        reference.tag.as_deref().unwrap_or("latest"),
        manifest.size,
        started.elapsed().as_secs_f64()
    );
    Ok(digest)
}

/// One line per event, in the spirit of `docker push`.
fn show(event: PushEvent) {
    match event {
        PushEvent::Exists { digest, .. } => eprintln!("{}: layer already exists", short(&digest)),
        PushEvent::Mounted { digest, from } => eprintln!("{}: mounted from {from}", short(&digest)),
        PushEvent::Uploading { digest, size } => {
            eprintln!("{}: uploading {size} bytes", short(&digest))
        }
        PushEvent::Progress {
            digest,
            sent,
            total,
        } => {
            eprintln!("{}: {sent}/{total} bytes", short(&digest))
        }
        PushEvent::Uploaded { digest, .. } => eprintln!("{}: pushed", short(&digest)),
        PushEvent::Retrying {
            digest,
            attempt,
            reason,
        } => eprintln!("{}: retrying (attempt {attempt}): {reason}", short(&digest)),
        PushEvent::ManifestPushed { digest, reference } => {
            eprintln!("manifest {} pushed as {reference}", short(&digest))
        }
    }
}

/// The first 12 hex digits, as docker shows layer IDs.
fn short(digest: &rbuild_oci::Digest) -> String {
    let s = digest.to_string();
    let hex = s.split_once(':').map_or(s.as_str(), |(_, h)| h);
    hex.chars().take(12).collect()
}
