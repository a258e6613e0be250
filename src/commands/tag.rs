//! `rbuild tag SRC DST`.

use std::process::ExitCode;

use anyhow::Context;
use rbuild_build::resolve::tagged;
use rbuild_oci::{Descriptor, Reference};
use rbuild_store::Store;

/// The tag as stored and its manifest, trying `reference` as written and normalized.
pub fn stored_name(store: &Store, reference: &str) -> anyhow::Result<Option<(String, Descriptor)>> {
    Ok(tagged(store, reference)?)
}

/// Points `target` at the image `source` names.
pub fn run(store: &Store, source: &str, target: &str) -> anyhow::Result<ExitCode> {
    let (_, desc) =
        stored_name(store, source)?.with_context(|| format!("no such image: {source}"))?;
    Reference::parse_tag(target).with_context(|| format!("invalid tag {target:?}"))?;
    store.set_tag(target, &desc)?;
    Ok(ExitCode::SUCCESS)
}
