//! Finding base images: `scratch`, the local store, or (through a caller's resolver) a registry.

use rbuild_oci::{Descriptor, ImageConfig, Platform, Reference};
use rbuild_store::Store;

use crate::image::{read_image, FsState, LayerRef};
use crate::BuildError;

/// A resolved base image.
#[derive(Clone, Debug)]
pub struct BaseImage {
    /// The reference as resolved (familiar form), or `scratch`.
    pub name: String,
    /// Its manifest, if not scratch.
    pub manifest: Option<Descriptor>,
    /// Its config (an empty host-platform config for scratch).
    pub config: ImageConfig,
    /// Its layers.
    pub fs: FsState,
}

impl BaseImage {
    /// The empty image, labelled with the platform it is built for.
    pub fn scratch(platform: &Platform) -> Self {
        let config = ImageConfig {
            architecture: platform.architecture.clone(),
            os: platform.os.clone(),
            variant: platform.variant.clone(),
            ..ImageConfig::default()
        };
        BaseImage {
            name: "scratch".into(),
            manifest: None,
            config,
            fs: FsState::default(),
        }
    }

    /// Loads an image from the store by manifest descriptor.
    pub fn load(store: &Store, name: &str, manifest: &Descriptor) -> Result<Self, BuildError> {
        let (m, config) = read_image(store, manifest)?;
        let layers = m
            .layers
            .iter()
            .zip(&config.rootfs.diff_ids)
            .map(|(d, id)| LayerRef {
                descriptor: d.clone(),
                diff_id: id.clone(),
            })
            .collect();
        let fs = FsState {
            layers,
            steps: Vec::new(),
        };
        Ok(BaseImage {
            name: name.to_string(),
            manifest: Some(manifest.clone()),
            config,
            fs,
        })
    }
}

/// Resolves image references used by FROM and `COPY --from`.
pub trait BaseResolver: Send + Sync {
    /// Returns the image for `platform` (chosen from a multi-platform index), or `None` if it
    /// cannot be found.
    fn resolve(
        &self,
        store: &Store,
        reference: &str,
        platform: &Platform,
    ) -> Result<Option<BaseImage>, BuildError>;
}

/// Looks images up in the local store only.
pub struct LocalResolver;

impl BaseResolver for LocalResolver {
    fn resolve(
        &self,
        store: &Store,
        reference: &str,
        _platform: &Platform,
    ) -> Result<Option<BaseImage>, BuildError> {
        lookup_local(store, reference)
    }
}

/// Finds a tag in the store, trying the name as written and its normalized familiar form.
pub fn lookup_local(store: &Store, reference: &str) -> Result<Option<BaseImage>, BuildError> {
    let mut names = vec![reference.to_string()];
    if let Ok(r) = Reference::parse(reference) {
        names.push(r.familiar());
        names.push(r.to_string());
    }
    for name in names {
        if let Some(desc) = store.resolve_tag(&name)? {
            return BaseImage::load(store, &name, &desc).map(Some);
        }
    }
    Ok(None)
}
