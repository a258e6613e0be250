//! What a build is asked to do: the data the CLI hands to the builder.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// The largest Dockerfile read (`-f /dev/zero` must not read until memory runs out).
pub const MAX_DOCKERFILE_BYTES: u64 = 10 << 20;

/// Reads a Dockerfile from `reader` (named `path` in errors), refusing more than
/// [`MAX_DOCKERFILE_BYTES`].
pub fn read_dockerfile(
    reader: impl std::io::Read,
    path: &std::path::Path,
) -> Result<String, crate::BuildError> {
    use std::io::Read;
    let mut bytes = Vec::new();
    reader
        .take(MAX_DOCKERFILE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|source| crate::BuildError::ReadDockerfile {
            path: path.to_path_buf(),
            source,
        })?;
    if bytes.len() as u64 > MAX_DOCKERFILE_BYTES {
        return Err(crate::BuildError::DockerfileTooLarge {
            path: path.to_path_buf(),
        });
    }
    String::from_utf8(bytes).map_err(|e| crate::BuildError::ReadDockerfile {
        path: path.to_path_buf(),
        source: std::io::Error::new(std::io::ErrorKind::InvalidData, e),
    })
}

/// Where the Dockerfile text comes from.
#[derive(Clone, Debug)]
pub enum DockerfileSource {
    /// A file on disk (default `CONTEXT/Dockerfile`).
    Path(PathBuf),
    /// Text already read (e.g. `-f -` from stdin).
    Text(String),
}

/// A build request.
#[derive(Clone, Debug)]
pub struct BuildRequest {
    /// The build context directory.
    pub context: PathBuf,
    /// The Dockerfile.
    pub dockerfile: DockerfileSource,
    /// Tags to set on the result (as given: `app:1.0`).
    pub tags: Vec<String>,
    /// `--build-arg` values.
    pub build_args: BTreeMap<String, String>,
    /// `--target` stage name or index.
    pub target: Option<String>,
    /// `--no-cache`: bypass cache lookups (results are still recorded).
    pub no_cache: bool,
    /// `--no-cache-filter`: stages whose steps bypass cache lookups.
    pub no_cache_filter: Vec<String>,
    /// Maximum number of steps run at once.
    pub jobs: usize,
    /// `SOURCE_DATE_EPOCH` (from the build arg or the environment).
    pub source_date_epoch: Option<i64>,
    /// The executable re-run as the sandbox init (normally /proc/self/exe).
    pub sandbox_exe: PathBuf,
    /// Resource limits of every RUN step (`--memory`, `--pids-limit`, ...); not part of cache keys.
    pub limits: rbuild_sandbox::Limits,
    /// `--network` for the whole build (None = default); `RUN --network=` overrides it per step.
    pub network: Option<rbuild_sandbox::NetworkMode>,
    /// `--allow`: the entitlements granted (BuildKit's names).
    pub allow: Entitlements,
    /// `--security-opt seccomp=`: the filter of every sandboxed RUN.
    pub seccomp: rbuild_sandbox::SeccompMode,
    /// `--rootfs`: overlayfs or a copy for each RUN.
    pub rootfs: rbuild_sandbox::RootfsMode,
    /// Where the image goes (`--output`); empty means `type=image` (tags in the store).
    pub outputs: Vec<crate::export::Output>,
    /// How new layers are compressed (part of the cache key unless the default gzip 6).
    pub compression: rbuild_layer::Compression,
    /// `--build-context name=value`: named contexts for `FROM name` and `COPY --from=name`.
    pub named_contexts: BTreeMap<String, NamedContext>,
    /// When the contexts fetched from URLs were made (commit time, `Last-Modified`, newest
    /// archive file), by name (`context`: the main one): `SOURCE_DATE_EPOCH=<name>` takes it.
    pub context_epochs: BTreeMap<String, i64>,
    /// `--platform`: the platforms to build for (empty: this host's).
    pub platforms: Vec<rbuild_oci::Platform>,
    /// The platform the build runs on (`BUILDPLATFORM`): this host's.
    pub build_platform: rbuild_oci::Platform,
    /// `--secret`: where each secret id's value comes from (read only when a step mounts it).
    pub secrets: BTreeMap<String, crate::secrets::SecretSource>,
    /// `--ssh`: what each ssh id forwards.
    pub ssh: BTreeMap<String, crate::secrets::SshSource>,
    /// `--label`: labels added to the final image's config.
    pub labels: BTreeMap<String, String>,
    /// `--annotation`: annotations of the manifest, the index or their descriptors.
    pub annotations: Vec<crate::annotations::Annotation>,
    /// `--cache-from`: remote caches read, in order, when the store misses.
    pub cache_from: Vec<crate::remote_cache::CacheFrom>,
    /// `--cache-to`: where the build's cache records are written.
    pub cache_to: Vec<crate::remote_cache::CacheTo>,
}

/// Entitlements a build must be granted with `--allow` (BuildKit's names), because they
/// weaken the sandbox.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Entitlements {
    /// `network.host`: RUN steps on the host's network.
    pub network_host: bool,
    /// `security.insecure`: `RUN --security=insecure`.
    pub security_insecure: bool,
}

/// An `--allow` value that names no entitlement.
#[derive(Debug, thiserror::Error)]
#[error("--allow {0:?}: unknown entitlement (network.host, security.insecure)")]
pub struct EntitlementError(pub String);

impl Entitlements {
    /// Grants one `--allow` value.
    pub fn grant(&mut self, name: &str) -> Result<(), EntitlementError> {
        match name {
            "network.host" => self.network_host = true,
            "security.insecure" => self.security_insecure = true,
            other => return Err(EntitlementError(other.to_string())),
        }
        Ok(())
    }
}

/// What a `--build-context` name stands for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum NamedContext {
    /// A local directory.
    Local(PathBuf),
    /// `docker-image://REF`: an image in the local store.
    Image(String),
    /// `oci-layout://PATH[:TAG][@DIGEST]`: an image in a local OCI image layout directory.
    OciLayout(crate::OciLayoutRef),
}

/// Why a `--build-context` value is not usable.
#[derive(Debug, thiserror::Error)]
pub enum NamedContextError {
    /// `oci-layout://` with a malformed reference.
    #[error(transparent)]
    OciLayout(#[from] crate::ocilayout::OciLayoutRefError),
    /// A scheme this builder does not read.
    #[error("unsupported build context {value:?}: {scheme}:// is not supported")]
    Scheme {
        /// The value as given.
        value: String,
        /// Its scheme.
        scheme: String,
    },
}

impl NamedContext {
    /// Parses the value of `--build-context name=VALUE`.
    pub fn parse(value: &str) -> Result<NamedContext, NamedContextError> {
        if let Some(r) = value.strip_prefix("docker-image://") {
            return Ok(NamedContext::Image(r.to_string()));
        }
        if let Some(p) = value.strip_prefix("oci-layout://") {
            return Ok(NamedContext::OciLayout(crate::OciLayoutRef::parse(p)?));
        }
        if let Some((scheme, _)) = value.split_once("://") {
            return Err(NamedContextError::Scheme {
                value: value.to_string(),
                scheme: scheme.to_string(),
            });
        }
        Ok(NamedContext::Local(PathBuf::from(value)))
    }
}

impl BuildRequest {
    /// A request with defaults for everything but the context.
    pub fn new(context: PathBuf) -> Self {
        let dockerfile = DockerfileSource::Path(context.join("Dockerfile"));
        BuildRequest {
            context,
            dockerfile,
            tags: Vec::new(),
            build_args: BTreeMap::new(),
            target: None,
            no_cache: false,
            no_cache_filter: Vec::new(),
            // RUN steps mostly wait on their process, so bounding them by the core count
            // serialises independent stages (BuildKit has no default limit); at least 8.
            jobs: std::thread::available_parallelism().map_or(8, |n| n.get().max(8)),
            source_date_epoch: None,
            sandbox_exe: PathBuf::from("/proc/self/exe"),
            limits: rbuild_sandbox::Limits::default(),
            network: None,
            outputs: Vec::new(),
            compression: rbuild_layer::Compression::default(),
            named_contexts: BTreeMap::new(),
            context_epochs: BTreeMap::new(),
            platforms: Vec::new(),
            build_platform: rbuild_oci::Platform::host(),
            secrets: BTreeMap::new(),
            ssh: BTreeMap::new(),
            allow: Entitlements::default(),
            seccomp: rbuild_sandbox::SeccompMode::Default,
            rootfs: rbuild_sandbox::RootfsMode::Auto,
            labels: BTreeMap::new(),
            annotations: Vec::new(),
            cache_from: Vec::new(),
            cache_to: Vec::new(),
        }
    }
}
