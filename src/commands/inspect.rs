//! `rbuild inspect REF`.

use std::process::ExitCode;

use anyhow::Context;
use rbuild_build::image::read_image;
use rbuild_build::resolve::tagged;
use rbuild_oci::{media_type, Descriptor, Index};
use rbuild_store::Store;

/// Prints `{ "Name", "Digest", "Manifest", "Config" }` as JSON; for a multi-platform image
/// `{ "Name", "Digest", "Index", "Platforms": [{ "Platform", "Digest", "Manifest", "Config" }] }`.
pub fn run(store: &Store, reference: &str) -> anyhow::Result<ExitCode> {
    let (name, desc) =
        tagged(store, reference)?.with_context(|| format!("no such image: {reference}"))?;
    let out = if media_type::is_index(&desc.media_type) {
        let index: Index = serde_json::from_slice(&store.read_blob(&desc.digest)?)
            .with_context(|| format!("index {} is not valid JSON", desc.digest))?;
        let platforms = index
            .manifests
            .iter()
            .map(|d| image_json(store, d))
            .collect::<anyhow::Result<Vec<_>>>()?;
        serde_json::json!({
            "Name": name,
            "Digest": desc.digest.to_string(),
            "Index": index,
            "Platforms": platforms,
        })
    } else {
        let mut one = image_json(store, &desc)?;
        one["Name"] = serde_json::Value::String(name);
        one
    };
    crate::outln!("{}", serde_json::to_string_pretty(&out)?);
    Ok(ExitCode::SUCCESS)
}

/// One image: its platform (when an index names it), digest, manifest and config.
fn image_json(store: &Store, desc: &Descriptor) -> anyhow::Result<serde_json::Value> {
    let (manifest, config) = read_image(store, desc)?;
    let mut v = serde_json::json!({
        "Digest": desc.digest.to_string(),
        "Manifest": manifest,
        "Config": config,
    });
    if let Some(p) = &desc.platform {
        v["Platform"] = serde_json::Value::String(p.to_spec());
    }
    Ok(v)
}
