//! `type=image`: tags in the store (unless `store=false`) and, when asked, pushes: to each
//! name (`push=true`), or by digest only (`push-by-digest=true`), with `name-canonical=true`
//! adding `NAME@DIGEST`.

use rbuild_oci::{Descriptor, Reference};
use rbuild_store::Store;

use super::{fetch_layers, ExportError, Exported, Sinks};

/// What a `type=image` output asks for besides tagging.
pub struct ImageOpts {
    /// Push every name.
    pub push: bool,
    /// Tag in the store, every layer blob in it.
    pub store: bool,
    /// Push to each name's repository by digest, without a tag.
    pub by_digest: bool,
    /// Also name the image `NAME@DIGEST`.
    pub canonical: bool,
}

/// Tags `names` in the store and pushes as `opts` asks.
pub fn export_image(
    store: &Store,
    manifest: &Descriptor,
    names: &[String],
    opts: &ImageOpts,
    sinks: Sinks<'_>,
) -> Result<Exported, ExportError> {
    if opts.push && names.is_empty() {
        return Err(ExportError::NoName);
    }
    let mut done = Exported::default();
    if opts.store {
        fetch_layers(sinks.layers, None)?;
        for tag in names {
            store.set_tag(tag, manifest)?;
            done.tagged.push(tag.clone());
        }
    }
    for name in names.iter().filter(|_| opts.push) {
        let target = if opts.by_digest {
            by_digest(name, manifest)?
        } else {
            name.clone()
        };
        let digest = push(store, manifest, &target, sinks)?;
        done.pushed.push((target, digest));
    }
    if opts.canonical {
        for name in names {
            done.canonical.push(by_digest(name, manifest)?);
        }
    }
    Ok(done)
}

/// Pushes to `target`: layers its registry lacks and no other repository of it holds are
/// fetched first; a push that fails while some layer is still only remote is tried once
/// more with every layer fetched (a registry may refuse the cross-repository mount).
fn push(
    store: &Store,
    manifest: &Descriptor,
    target: &str,
    sinks: Sinks<'_>,
) -> Result<rbuild_oci::Digest, ExportError> {
    let failed = |source| ExportError::Push {
        name: target.to_string(),
        source,
    };
    let registry = Reference::parse(target).map(|r| r.registry).ok();
    fetch_layers(sinks.layers, registry.as_deref())?;
    match sinks.pusher.push(store, manifest, target) {
        Ok(digest) => Ok(digest),
        Err(first) => {
            if fetch_layers(sinks.layers, None)? == 0 {
                return Err(failed(first));
            }
            sinks.pusher.push(store, manifest, target).map_err(failed)
        }
    }
}

/// `REGISTRY/REPO@DIGEST` for `name` (its tag dropped).
fn by_digest(name: &str, manifest: &Descriptor) -> Result<String, ExportError> {
    let r = Reference::parse(name).map_err(|e| ExportError::Push {
        name: name.to_string(),
        source: Box::new(e),
    })?;
    Ok(format!("{}@{}", r.name(), manifest.digest))
}
