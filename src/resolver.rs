//! Registry glue for the commands: a client built from the flags, the tokio runtime its futures
//! run on (started on first use), and the `BaseResolver` that pulls FROM images the store lacks.
//!
//! It lives in the binary, not in rbuild-build, because the builder must not depend on the
//! registry client (layering: `build` sees only the store and a resolver trait).

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Mutex, OnceLock};

use anyhow::Context;
use rbuild_build::resolve::{lookup_local, BaseImage, BaseResolver};
use rbuild_build::BuildError;
use rbuild_oci::{media_type, Descriptor, Digest, Index, Platform, Reference};
use rbuild_registry::{platform, Client, RegistryOptions};
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

/// The client options the flags ask for (Docker's config dir comes from `$DOCKER_CONFIG`).
pub fn options(flags: &RegistryFlags) -> RegistryOptions {
    RegistryOptions {
        insecure: flags.insecure.clone(),
        mirrors: flags.mirrors.clone(),
        certs_dir: flags.certs.clone(),
        docker_config: None,
        ..Default::default()
    }
}

/// Parses `os/arch[/variant]` (`linux/arm64`, `linux/arm/v7`); `None` is the host's platform.
pub fn parse_platform(spec: Option<&str>) -> anyhow::Result<Platform> {
    let Some(spec) = spec else {
        return Ok(Platform::host());
    };
    let parts: Vec<&str> = spec.split('/').collect();
    let ok = |s: &&str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
    match parts.as_slice() {
        [os, arch] if ok(os) && ok(arch) => Ok(platform::normalize(&Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant: None,
        })),
        [os, arch, v] if ok(os) && ok(arch) && ok(v) => Ok(platform::normalize(&Platform {
            os: os.to_string(),
            architecture: arch.to_string(),
            variant: Some(v.to_string()),
        })),
        _ => {
            anyhow::bail!("invalid platform {spec:?}: expected os/arch[/variant], e.g. linux/amd64")
        }
    }
}

/// Finds FROM and `COPY --from` images in the store, pulling from their registry when missing
/// (or always, for tags, with `--pull`). Pulled tags are tagged locally so later builds find them.
pub struct RegistryResolver<'a> {
    remote: &'a Remote,
    platform: Platform,
    /// `--platform` was given: a local image of another platform does not count.
    explicit_platform: bool,
    always_pull: bool,
    /// What this build already resolved remotely, so `--pull` fetches each reference once.
    pulled: Mutex<HashMap<String, BaseImage>>,
}

impl<'a> RegistryResolver<'a> {
    /// A resolver for `platform` (`None`: the host's); `always_pull` is `--pull`.
    pub fn new(
        remote: &'a Remote,
        platform: Option<&str>,
        always_pull: bool,
    ) -> anyhow::Result<Self> {
        Ok(RegistryResolver {
            remote,
            platform: parse_platform(platform)?,
            explicit_platform: platform.is_some(),
            always_pull,
            pulled: Mutex::default(),
        })
    }

    fn local(
        &self,
        store: &Store,
        written: &str,
        r: &Reference,
    ) -> Result<Option<BaseImage>, BuildError> {
        if let Some(digest) = &r.digest {
            return self.local_by_digest(store, &r.familiar(), digest);
        }
        let found = lookup_local(store, written)?;
        Ok(found.filter(|img| !self.explicit_platform || self.runs_here(img)))
    }

    fn runs_here(&self, img: &BaseImage) -> bool {
        let have = Platform {
            os: img.config.os.clone(),
            architecture: img.config.architecture.clone(),
            variant: img.config.variant.clone(),
        };
        platform::normalize(&have) == self.platform
    }

    /// A digest-pinned image is immutable: if its manifest (or index and the chosen manifest)
    /// is in the store, it is complete, because manifests are stored after their blobs.
    fn local_by_digest(
        &self,
        store: &Store,
        name: &str,
        digest: &Digest,
    ) -> Result<Option<BaseImage>, BuildError> {
        if !store.has_blob(digest) {
            return Ok(None);
        }
        let bytes = store.read_blob(digest)?;
        let mt = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| {
                v.get("mediaType")
                    .and_then(|m| m.as_str())
                    .map(str::to_string)
            })
            .unwrap_or_else(|| media_type::OCI_MANIFEST.to_string());
        let desc = Descriptor::new(&mt, digest.clone(), bytes.len() as u64);
        if media_type::is_manifest(&mt) {
            return BaseImage::load(store, name, &desc).map(Some);
        }
        let Ok(index) = serde_json::from_slice::<Index>(&bytes) else {
            return Ok(None);
        };
        match platform::select(&index.manifests, &self.platform) {
            Some(child) if store.has_blob(&child.digest) => {
                BaseImage::load(store, name, child).map(Some)
            }
            _ => Ok(None),
        }
    }

    fn fetch(&self, store: &Store, written: &str, r: &Reference) -> Result<BaseImage, BuildError> {
        let failed = |message: String| BuildError::Image {
            what: written.to_string(),
            message,
        };
        let pulled = self
            .remote
            .block_on(|c| c.fetch(store, r, &self.platform))
            .map_err(|e| failed(format!("{e:#}")))?
            .map_err(|e| failed(format!("pulling it failed: {e}")))?;
        let name = r.familiar();
        if r.digest.is_none() {
            store.set_tag(&name, &pulled.manifest)?;
        }
        BaseImage::load(store, &name, &pulled.manifest)
    }
}

impl BaseResolver for RegistryResolver<'_> {
    fn platform(&self) -> Platform {
        self.platform.clone()
    }

    fn resolve(&self, store: &Store, reference: &str) -> Result<Option<BaseImage>, BuildError> {
        if let Some(img) = self
            .pulled
            .lock()
            .ok()
            .and_then(|m| m.get(reference).cloned())
        {
            return Ok(Some(img));
        }
        // Not a valid reference (a typo'd stage name, say): only the store can have it.
        let Ok(r) = Reference::parse(reference) else {
            return lookup_local(store, reference);
        };
        if !self.always_pull || r.digest.is_some() {
            if let Some(img) = self.local(store, reference, &r)? {
                return Ok(Some(img));
            }
        }
        let img = self.fetch(store, reference, &r)?;
        if let Ok(mut m) = self.pulled.lock() {
            m.insert(reference.to_string(), img.clone());
        }
        Ok(Some(img))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn platforms_parse_and_normalize() {
        let p = parse_platform(Some("linux/arm64")).unwrap();
        assert_eq!(
            (p.os.as_str(), p.architecture.as_str(), p.variant),
            ("linux", "arm64", None)
        );
        let p = parse_platform(Some("linux/arm")).unwrap();
        assert_eq!(p.variant.as_deref(), Some("v7"));
        let p = parse_platform(Some("linux/x86_64")).unwrap();
        assert_eq!(p.architecture, "amd64");
        assert_eq!(parse_platform(None).unwrap(), Platform::host());
        for bad in [
            "linux",
            "linux/",
            "/amd64",
            "linux/amd64/v1/x",
            "linux/am d64",
        ] {
            assert!(parse_platform(Some(bad)).is_err(), "{bad:?}");
        }
    }
}
