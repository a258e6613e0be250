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

    /// Fetches a layer blob of an image it resolved without its layers (verified against
    /// `desc`); `false` when it knows of no place that holds it.
    fn fetch_layer(&self, _store: &Store, _desc: &Descriptor) -> Result<bool, BuildError> {
        Ok(false)
    }

    /// The build has run: images it resolved without their layers are tagged in the store
    /// if the build brought every layer in meanwhile.
    fn finish(&self, _store: &Store) {}

    /// Whether a repository of `registry` is known to hold `digest` (a push there mounts it).
    fn registry_holds(
        &self,
        _store: &Store,
        _digest: &rbuild_oci::Digest,
        _registry: &str,
    ) -> bool {
        false
    }
}

/// Looks images up in the local store only.
pub struct LocalResolver;

impl BaseResolver for LocalResolver {
    fn resolve(
        &self,
        store: &Store,
        reference: &str,
        platform: &Platform,
    ) -> Result<Option<BaseImage>, BuildError> {
        lookup_local(store, reference, platform)
    }
}

/// The tag `reference` names in the store (as written, else its normalized familiar form)
/// and what it points at: a manifest, or an index of per-platform manifests.
pub fn tagged(store: &Store, reference: &str) -> Result<Option<(String, Descriptor)>, BuildError> {
    let mut names = vec![reference.to_string()];
    if let Ok(r) = Reference::parse(reference) {
        names.push(r.familiar());
        names.push(r.to_string());
    }
    for name in names {
        if let Some(desc) = store.resolve_tag(&name)? {
            return Ok(Some((name, desc)));
        }
    }
    Ok(None)
}

/// Finds a tag in the store; a multi-platform tag gives its image for `platform`, or
/// nothing when it has none for that platform.
pub fn lookup_local(
    store: &Store,
    reference: &str,
    platform: &Platform,
) -> Result<Option<BaseImage>, BuildError> {
    let Some((name, desc)) = tagged(store, reference)? else {
        return Ok(None);
    };
    if !rbuild_oci::media_type::is_index(&desc.media_type) {
        return BaseImage::load(store, &name, &desc).map(Some);
    }
    let index: rbuild_oci::Index = serde_json::from_slice(&store.read_blob(&desc.digest)?)
        .map_err(|e| BuildError::Image {
            what: desc.digest.to_string(),
            message: format!("index is not valid JSON: {e}"),
        })?;
    match rbuild_oci::platform::select(&index.manifests, platform) {
        Some(child) => BaseImage::load(store, &name, child).map(Some),
        None => Ok(None),
    }
}
