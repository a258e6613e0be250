//! `type=image`: tags in the store and, when asked, pushes: to each name (`push=true`), or by
//! digest only (`push-by-digest=true`), with `name-canonical=true` adding `NAME@DIGEST`.

use rbuild_oci::{Descriptor, Reference};
use rbuild_store::Store;

use super::{ExportError, Exported, Pusher};

/// What a `type=image` output asks for besides tagging.
pub struct ImageOpts {
    /// Push every name.
    pub push: bool,
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
    pusher: &dyn Pusher,
) -> Result<Exported, ExportError> {
    if opts.push && names.is_empty() {
        return Err(ExportError::NoName);
    }
    let mut done = Exported::default();
    for tag in names {
        store.set_tag(tag, manifest)?;
        done.tagged.push(tag.clone());
    }
    for name in names.iter().filter(|_| opts.push) {
        let target = if opts.by_digest {
            by_digest(name, manifest)?
        } else {
            name.clone()
        };
        let digest = pusher
            .push(store, manifest, &target)
            .map_err(|source| ExportError::Push {
                name: target.clone(),
                source,
            })?;
        done.pushed.push((target, digest));
    }
    if opts.canonical {
        for name in names {
            done.canonical.push(by_digest(name, manifest)?);
        }
    }
    Ok(done)
}

/// `REGISTRY/REPO@DIGEST` for `name` (its tag dropped).
fn by_digest(name: &str, manifest: &Descriptor) -> Result<String, ExportError> {
    let r = Reference::parse(name).map_err(|e| ExportError::Push {
        name: name.to_string(),
        source: Box::new(e),
    })?;
    Ok(format!("{}@{}", r.name(), manifest.digest))
}
