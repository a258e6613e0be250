//! `rbuild inspect REF`.

use std::process::ExitCode;

use anyhow::Context;
use rbuild_build::image::read_image;
use rbuild_build::resolve::lookup_local;
use rbuild_store::Store;

/// Prints `{ "Name", "Digest", "Manifest", "Config" }` as JSON.
pub fn run(store: &Store, reference: &str) -> anyhow::Result<ExitCode> {
    let image =
        lookup_local(store, reference)?.with_context(|| format!("no such image: {reference}"))?;
    let desc = image.manifest.context("scratch has no manifest")?;
    let (manifest, config) = read_image(store, &desc)?;
    let out = serde_json::json!({
        "Name": image.name,
        "Digest": desc.digest.to_string(),
        "Manifest": manifest,
        "Config": config,
    });
    crate::outln!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}
