//! Registry glue for the commands: a client built from the flags, the tokio runtime its futures
//! run on (started on first use), and the `BaseResolver` that pulls FROM images the store lacks.
//!
//! It lives in the binary, not in rbuild-build, because the builder must not depend on the
//! registry client (layering: `build` sees only the store and a resolver trait).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Mutex, OnceLock};

use anyhow::Context;
use rbuild_build::resolve::{lookup_local, BaseImage, BaseResolver};
use rbuild_build::BuildError;
use rbuild_oci::{media_type, Descriptor, Digest, Index, Platform, Reference};
use rbuild_registry::{platform, Client, PullEvent, RegistryOptions};
use rbuild_store::Store;
use tokio::runtime::Runtime;

use crate::cli::RegistryFlags;

/// A registry client and the runtime its requests run on.
pub struct Remote {
    client: Client,
    runtime: OnceLock<Runtime>,
}

impl Remote {
    /// A client for these flags; nothing is started or connected yet.
    pub fn new(flags: &RegistryFlags) -> anyhow::Result<Remote> {
        let client = Client::new(options(flags)).context("cannot set up the registry client")?;
        Ok(Remote {
            client,
            runtime: OnceLock::new(),
        })
    }

    /// Runs `f(client)` to completion. Must not be called from inside a runtime: builds and
    /// commands call it from plain threads (the sandbox must never be forked from a runtime).
    pub fn block_on<'a, F: Future>(
        &'a self,
        f: impl FnOnce(&'a Client) -> F,
    ) -> anyhow::Result<F::Output> {
        Ok(self.runtime()?.block_on(f(&self.client)))
    }

    /// A fetcher for `ADD <url>` with this client's settings; its runtime starts only when a
    /// URL is fetched (a cached build starts none).
    pub fn url_fetcher(&self) -> rbuild_registry::UrlFetch {
        rbuild_registry::UrlFetch::new(self.client.clone())
    }

    /// A handle on the runtime (started now if it was not), for background tasks.
    pub fn handle(&self) -> anyhow::Result<tokio::runtime::Handle> {
        Ok(self.runtime()?.handle().clone())
    }

    /// The client the flags configured.
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn runtime(&self) -> anyhow::Result<&Runtime> {
        if let Some(rt) = self.runtime.get() {
            return Ok(rt);
        }
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()
            .context("cannot start the async runtime for registry access")?;
        Ok(self.runtime.get_or_init(|| rt))
    }
}

/// The client options the flags and the configuration file ask for (Docker's config dir
/// comes from `$DOCKER_CONFIG`). Flags win: an `--insecure-registry` host is plain HTTP
/// whatever its `http` says, `--registry-mirror`s come before the configured mirrors, and a
/// `--registry-certs` client certificate replaces the file's.
pub fn options(flags: &RegistryFlags) -> RegistryOptions {
    RegistryOptions {
        insecure: flags.insecure.clone(),
        mirrors: flags.mirrors.clone(),
        certs_dir: flags.certs.clone(),
        hosts: crate::config::host_options(&flags.configured),
        docker_config: None,
        ..Default::default()
    }
}

/// Finds FROM and `COPY --from` images in the store, pulling from their registry when missing
/// (or always, for tags, with `--pull`). Pulled tags are tagged locally so later builds find them.
pub struct RegistryResolver<'a> {
    remote: &'a Remote,
    /// Where pull progress goes (the build's progress output).
    progress: Option<Arc<dyn Fn(PullEvent) + Send + Sync>>,
    /// `--platform` was given: a local image of another platform does not count.
    explicit_platform: bool,
    always_pull: bool,
    /// What this build already resolved remotely (reference and platform), so `--pull`
    /// fetches each once.
    pulled: Mutex<HashMap<(String, String), BaseImage>>,
    /// Images resolved by tag without their layers: tagged when the build brought them in.
    untagged: Mutex<Vec<(String, Descriptor, Vec<Digest>)>>,
    /// Where each lazily resolved layer sits in its image (index from 1, count), for progress.
    places: Mutex<HashMap<Digest, (usize, usize)>>,
}

impl<'a> RegistryResolver<'a> {
    /// A resolver; `explicit_platform` is whether `--platform` was given, `always_pull` is
    /// `--pull`.
    pub fn new(remote: &'a Remote, explicit_platform: bool, always_pull: bool) -> Self {
        RegistryResolver {
            remote,
            progress: None,
            explicit_platform,
            always_pull,
            pulled: Mutex::default(),
            untagged: Mutex::default(),
            places: Mutex::default(),
        }
    }

    /// Shows pulls as they happen through `show`.
    pub fn with_progress(mut self, show: impl Fn(PullEvent) + Send + Sync + 'static) -> Self {
        self.progress = Some(Arc::new(show));
        self
    }

    /// `c`, reporting pull progress where the build shows it.
    fn progress_client(&self, c: &Client) -> Client {
        match &self.progress {
            Some(p) => {
                let p = p.clone();
                c.with_progress(move |e| p(e))
            }
            None => c.clone(),
        }
    }

    fn local(
        &self,
        store: &Store,
        written: &str,
        r: &Reference,
        want: &Platform,
    ) -> Result<Option<BaseImage>, BuildError> {
        if let Some(digest) = &r.digest {
            return self.local_by_digest(store, &r.familiar(), digest, want);
        }
        let found = lookup_local(store, written, want)?;
        // Without --platform, a local image serves the host; a stage for another platform
        // (FROM --platform=...) needs an image of that platform.
        let strict = self.explicit_platform || *want != platform::normalize(&Platform::host());
        Ok(found.filter(|img| !strict || is_for(img, want)))
    }

    /// A digest-pinned image is immutable: if its manifest (or index and the chosen manifest)
    /// and every layer it lists are in the store, it is used as it is.
    fn local_by_digest(
        &self,
        store: &Store,
        name: &str,
        digest: &Digest,
        want: &Platform,
    ) -> Result<Option<BaseImage>, BuildError> {
        if !store.has_blob(digest) {
            return Ok(None);
        }
        let bytes = store.read_blob(digest)?;
        let Ok(detected) = media_type::detect(None, &bytes) else {
            return Ok(None);
        };
        let desc = Descriptor::new(&detected.media_type, digest.clone(), bytes.len() as u64);
        let img = match detected.kind {
            media_type::Kind::Manifest => BaseImage::load(store, name, &desc)?,
            media_type::Kind::Index => {
                let Ok(index) = serde_json::from_slice::<Index>(&bytes) else {
                    return Ok(None);
                };
                match platform::select(&index.manifests, want) {
                    Some(child) if store.has_blob(&child.digest) => {
                        BaseImage::load(store, name, child)?
                    }
                    _ => return Ok(None),
                }
            }
            _ => return Ok(None),
        };
        // A build pushed with store=false leaves its manifest here while layers that remote
        // cache hits promised stay in the registry: such an image is pulled, not used.
        let whole = img
            .fs
            .layers
            .iter()
            .all(|l| store.has_blob(&l.descriptor.digest));
        Ok(whole.then_some(img))
    }

    fn fetch(
        &self,
        store: &Store,
        written: &str,
        r: &Reference,
        want: &Platform,
    ) -> Result<BaseImage, BuildError> {
        let failed = |message: String| BuildError::Image {
            what: written.to_string(),
            message,
        };
        let pulled = self
            .remote
            .block_on(|c| {
                let client = self.progress_client(c);
                async move { client.fetch_lazily(store, r, want).await }
            })
            .map_err(|e| failed(format!("{e:#}")))?
            .map_err(|e| failed(format!("pulling it failed: {e}")))?;
        let name = r.familiar();
        // Only the manifest and config came: layers are fetched when a step that missed
        // unpacks them or an output needs their bytes, and a push to this registry mounts
        // them. The image is tagged in the store only when it is whole there.
        let count = pulled.layers.len();
        if let Ok(mut places) = self.places.lock() {
            for (i, l) in pulled.layers.iter().enumerate() {
                places.insert(l.digest.clone(), (i + 1, count));
            }
        }
        let whole = pulled.layers.iter().all(|l| store.has_blob(&l.digest));
        if r.digest.is_none() && whole {
            store.set_tag(&name, &pulled.manifest)?;
        } else if r.digest.is_none() {
            let layers = pulled.layers.iter().map(|l| l.digest.clone()).collect();
            let mut untagged = self.untagged.lock().unwrap_or_else(|p| p.into_inner());
            untagged.push((name.clone(), pulled.manifest.clone(), layers));
        }
        BaseImage::load(store, &name, &pulled.manifest)
    }
}

/// Whether `img`'s config says it is for `want`.
fn is_for(img: &BaseImage, want: &Platform) -> bool {
    let have = Platform {
        os: img.config.os.clone(),
        architecture: img.config.architecture.clone(),
        variant: img.config.variant.clone(),
    };
    platform::normalize(&have) == platform::normalize(want)
}

impl BaseResolver for RegistryResolver<'_> {
    fn fetch_layer(&self, store: &Store, desc: &Descriptor) -> Result<bool, BuildError> {
        let place = self
            .places
            .lock()
            .ok()
            .and_then(|p| p.get(&desc.digest).copied());
        let mut last = None;
        for name in rbuild_registry::blob_sources(store, &desc.digest) {
            let Ok(r) = Reference::parse(&name) else {
                continue;
            };
            let pulled = self.remote.block_on(|c| {
                let client = self.progress_client(c);
                async move { client.pull_layer(store, &r, desc, place).await }
            });
            match pulled {
                Ok(Ok(_)) => return Ok(true),
                Ok(Err(e)) => last = Some(format!("{e}")),
                Err(e) => last = Some(format!("{e:#}")),
            }
        }
        match last {
            None => Ok(false),
            Some(message) => Err(BuildError::Image {
                what: format!("layer {}", desc.digest),
                message: format!("fetching it failed: {message}"),
            }),
        }
    }

    fn finish(&self, store: &Store) {
        let untagged =
            std::mem::take(&mut *self.untagged.lock().unwrap_or_else(|p| p.into_inner()));
        for (name, manifest, layers) in untagged {
            if layers.iter().all(|l| store.has_blob(l)) {
                if let Err(e) = store.set_tag(&name, &manifest) {
                    tracing::warn!("cannot tag the base image {name}: {e}");
                }
            }
        }
    }

    fn registry_holds(&self, store: &Store, digest: &Digest, registry: &str) -> bool {
        rbuild_registry::blob_sources(store, digest)
            .iter()
            .any(|n| n.split_once('/').is_some_and(|(reg, _)| reg == registry))
    }

    fn resolve(
        &self,
        store: &Store,
        reference: &str,
        want: &Platform,
    ) -> Result<Option<BaseImage>, BuildError> {
        let memo = (reference.to_string(), want.to_spec());
        if let Some(img) = self.pulled.lock().ok().and_then(|m| m.get(&memo).cloned()) {
            return Ok(Some(img));
        }
        // Not a valid reference (a typo'd stage name, say): only the store can have it.
        let Ok(r) = Reference::parse(reference) else {
            return lookup_local(store, reference, want);
        };
        if !self.always_pull || r.digest.is_some() {
            if let Some(img) = self.local(store, reference, &r, want)? {
                return Ok(Some(img));
            }
        }
        let img = self.fetch(store, reference, &r, want)?;
        if let Ok(mut m) = self.pulled.lock() {
            m.insert(memo, img.clone());
        }
        Ok(Some(img))
    }
}
