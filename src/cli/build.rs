//! `rbuild build` arguments, shaped like `docker build`.

use std::path::PathBuf;

use clap::{Args, ValueEnum};
use rbuild_build::export::{parse_output, OutputSpec};
use rbuild_oci::Platform;

use super::{parse_platform, RegistryFlags};

/// `--network` of a build.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetworkArg {
    /// The builder's default: a private network with NAT egress (no host loopback).
    Default,
    /// The host's network namespace.
    Host,
    /// Only a loopback interface.
    None,
}

impl NetworkArg {
    /// The sandbox mode it asks for (`None`: the default).
    pub fn mode(self) -> Option<rbuild_sandbox::NetworkMode> {
        match self {
            NetworkArg::Default => None,
            NetworkArg::Host => Some(rbuild_sandbox::NetworkMode::Host),
            NetworkArg::None => Some(rbuild_sandbox::NetworkMode::None),
        }
    }
}

/// `--rootfs`: how each RUN's root filesystem is assembled.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum RootfsArg {
    /// overlayfs; a copy only where it cannot be mounted (rootless, kernel before 5.11).
    Auto,
    /// Always overlayfs.
    Overlay,
    /// The layers copied for each RUN, changes collected after it: no overlayfs needed.
    Copy,
}

impl RootfsArg {
    /// The sandbox's mode.
    pub fn mode(self) -> rbuild_sandbox::RootfsMode {
        match self {
            RootfsArg::Auto => rbuild_sandbox::RootfsMode::Auto,
            RootfsArg::Overlay => rbuild_sandbox::RootfsMode::Overlay,
            RootfsArg::Copy => rbuild_sandbox::RootfsMode::Copy,
        }
    }
}

/// How progress is shown.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ProgressMode {
    /// tty when stderr is a terminal, plain otherwise.
    Auto,
    /// Line-oriented output for logs and CI.
    Plain,
    /// Interactive terminal output.
    Tty,
    /// One JSON object per event and line (schema: docs/PROGRESS.md).
    Rawjson,
}

/// `--security-opt seccomp=VALUE` (the only option a build takes).
fn parse_security_opt(spec: &str) -> Result<rbuild_sandbox::SeccompMode, String> {
    match spec.split_once(['=', ':']) {
        Some(("seccomp", v)) if !v.is_empty() => {
            Ok(rbuild_sandbox::SeccompMode::from_security_opt(v))
        }
        _ => Err(format!(
            "{spec:?}: a build takes seccomp=unconfined|builtin|PROFILE.json only"
        )),
    }
}

/// `--label KEY=VALUE` (an empty value is a label too, as docker has it).
fn parse_label(spec: &str) -> Result<(String, String), String> {
    match spec.split_once('=') {
        Some((k, v)) if !k.trim().is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("{spec:?} is not KEY=VALUE")),
    }
}

fn parse_cache_to(spec: &str) -> Result<rbuild_build::remote_cache::CacheTo, String> {
    // The whole chain: a compression error's reason is its source's message.
    rbuild_build::remote_cache::parse_cache_to(spec)
        .map_err(|e| format!("{:#}", anyhow::Error::new(e)))
}

fn parse_cache_from(spec: &str) -> Result<rbuild_build::remote_cache::CacheFrom, String> {
    rbuild_build::remote_cache::parse_cache_from(spec).map_err(|e| e.to_string())
}

/// `--annotation`: one value may name several targets.
fn parse_annotation(spec: &str) -> Result<Vec<rbuild_build::annotations::Annotation>, String> {
    rbuild_build::annotations::Annotation::parse(spec).map_err(|e| e.to_string())
}

/// Options of `rbuild build`.
#[derive(Args, Debug)]
pub struct BuildArgs {
    /// Name and optionally tag (`name:tag`); repeatable.
    #[arg(short = 't', long = "tag", value_name = "NAME[:TAG]")]
    pub tags: Vec<String>,
    /// Dockerfile path (default: CONTEXT/Dockerfile); `-` reads it from stdin.
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Build-time variable `KEY=VALUE`; `KEY` alone takes the value from the environment.
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]")]
    pub build_args: Vec<String>,
    /// Build this stage and the stages it needs.
    #[arg(long)]
    pub target: Option<String>,
    /// Do not use the cache (results are still recorded).
    #[arg(long)]
    pub no_cache: bool,
    /// Do not use the cache for these stages.
    #[arg(long = "no-cache-filter", value_name = "STAGE", value_delimiter = ',')]
    pub no_cache_filter: Vec<String>,
    /// Progress output.
    #[arg(long, value_enum, default_value = "auto")]
    pub progress: ProgressMode,
    /// Print only the image ID on stdout, no progress (errors still go to stderr).
    #[arg(short = 'q', long)]
    pub quiet: bool,
    /// Write the build's result as JSON (buildx's keys: containerimage.digest,
    /// containerimage.config.digest, containerimage.descriptor, image.name; rbuild.cache).
    #[arg(long = "metadata-file", value_name = "FILE")]
    pub metadata_file: Option<PathBuf>,
    /// Write the image ID (its config digest; an index's digest for several platforms).
    #[arg(long = "iidfile", value_name = "FILE")]
    pub iidfile: Option<PathBuf>,
    /// Maximum steps run at once (default: the number of CPUs, at least 8: RUN steps mostly
    /// wait on their process).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Memory limit of each RUN step (e.g. 64m, 1g).
    #[arg(short = 'm', long, value_name = "SIZE")]
    pub memory: Option<String>,
    /// Memory plus swap of each RUN step; -1 for unlimited swap (default: twice --memory).
    #[arg(long = "memory-swap", value_name = "SIZE", allow_hyphen_values = true)]
    pub memory_swap: Option<String>,
    /// CPUs each RUN step may use (e.g. 1.5).
    #[arg(long, value_name = "N.N")]
    pub cpus: Option<String>,
    /// CFS quota of each RUN step, in microseconds per period.
    #[arg(long = "cpu-quota", value_name = "N", allow_hyphen_values = true)]
    pub cpu_quota: Option<i64>,
    /// CFS period of each RUN step, in microseconds.
    #[arg(long = "cpu-period", value_name = "N")]
    pub cpu_period: Option<u64>,
    /// Maximum number of processes in each RUN step (-1 for unlimited).
    #[arg(long = "pids-limit", value_name = "N", allow_hyphen_values = true)]
    pub pids_limit: Option<i64>,
    /// Resource limit of each RUN step, `name=soft[:hard]`; repeatable.
    #[arg(long = "ulimit", value_name = "NAME=SOFT[:HARD]")]
    pub ulimits: Vec<String>,
    /// Size of /dev/shm in each RUN step (default 64m).
    #[arg(long = "shm-size", value_name = "SIZE")]
    pub shm_size: Option<String>,
    /// Network of RUN steps (`RUN --network=` overrides it).
    #[arg(long, value_enum, value_name = "MODE")]
    pub network: Option<NetworkArg>,
    /// Where the image goes, as buildx spells it: `type=image` (default; `push=true`,
    /// `push-by-digest=true`, `name-canonical=true`, `store=false`), `type=registry` (a push
    /// that keeps nothing in the store), `type=oci,dest=FILE`
    /// (`tar=false`: a directory), `type=docker,dest=FILE` (no dest: `--load`),
    /// `type=local,dest=DIR`, `type=tar,dest=FILE` (`-o -`: the root filesystem tar on stdout),
    /// with `compression=gzip|zstd|uncompressed` and `compression-level=N`; repeatable.
    #[arg(short = 'o', long = "output", value_name = "type=TYPE,KEY=VALUE", value_parser = parse_output)]
    pub outputs: Vec<OutputSpec>,
    /// Push every `-t` tag to its registry after the build.
    #[arg(long)]
    pub push: bool,
    /// Load the image into the docker engine (`DOCKER_HOST=unix://PATH` or
    /// /var/run/docker.sock); `-o type=docker` without dest does the same.
    #[arg(long)]
    pub load: bool,
    /// Grant an entitlement, as BuildKit names them: `network.host` (RUN on the host's
    /// network) and `security.insecure` (`RUN --security=insecure`); repeatable or comma-separated.
    #[arg(long = "allow", value_name = "ENTITLEMENT", value_delimiter = ',')]
    pub allow: Vec<String>,
    /// `seccomp=unconfined|builtin|PROFILE.json`: the seccomp filter of every RUN (default:
    /// Docker's default profile); repeatable forms docker takes for other options are refused.
    #[arg(long = "security-opt", value_name = "seccomp=VALUE", value_parser = parse_security_opt)]
    pub security_opt: Option<rbuild_sandbox::SeccompMode>,
    /// How each RUN's root filesystem is made: overlayfs, or a copy of the layers (slower;
    /// for hosts where overlayfs cannot be mounted, e.g. rootless on kernels before 5.11).
    #[arg(long, value_enum, env = "RBUILD_ROOTFS", default_value = "auto")]
    pub rootfs: RootfsArg,
    /// Label `KEY=VALUE` added to the image's config; repeatable.
    #[arg(long = "label", value_name = "KEY=VALUE", value_parser = parse_label)]
    pub labels: Vec<(String, String)>,
    /// Annotation `[manifest|index|manifest-descriptor|index-descriptor[\[OS/ARCH\]],...:]KEY=VALUE`
    /// of the manifest (default), the index, or their descriptors; repeatable.
    #[arg(long = "annotation", value_name = "[TYPE:]KEY=VALUE", value_parser = parse_annotation)]
    pub annotations: Vec<Vec<rbuild_build::annotations::Annotation>>,
    /// Write the build cache: `type=registry,ref=REF[,mode=min|max][,ignore-error=true]`,
    /// `type=local,dest=DIR[,tag=TAG]` (an OCI layout) or `type=inline` (in the image config);
    /// `mounts=true` also writes the build's cache mounts beside it (tag `TAG-mounts`);
    /// `compression=gzip|zstd|uncompressed[,compression-level=N]` exports the build's layers
    /// compressed so, for builds that use that compression; repeatable.
    #[arg(long = "cache-to", value_name = "type=TYPE,KEY=VALUE", value_parser = parse_cache_to)]
    pub cache_to: Vec<rbuild_build::remote_cache::CacheTo>,
    /// Read a build cache: `type=registry,ref=REF`, `type=local,src=DIR[,tag=TAG]`, or a
    /// registry reference (also an image built with `--cache-to type=inline`); repeatable,
    /// tried in order; `mounts=true` first restores the cache mounts stored beside it.
    #[arg(long = "cache-from", value_name = "type=TYPE,KEY=VALUE|REF", value_parser = parse_cache_from)]
    pub cache_from: Vec<rbuild_build::remote_cache::CacheFrom>,
    /// Fetch FROM images from their registry even when they are in the local store.
    #[arg(long)]
    pub pull: bool,
    /// Platform to build for, `os/arch[/variant]` (default: this host's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", value_delimiter = ',', value_parser = parse_platform)]
    pub platform: Vec<Platform>,
    /// Registry connection options.
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// A secret RUN steps may mount: `id=ID[,src=PATH|,env=VAR]` (`id=ID` alone: the
    /// environment variable ID); repeatable. Never stored, cached or printed.
    #[arg(long = "secret", value_name = "id=ID[,src=PATH|,env=VAR]")]
    pub secrets: Vec<String>,
    /// SSH agent forwarding for `RUN --mount=type=ssh`: `default` (`$SSH_AUTH_SOCK`),
    /// `ID=SOCKET` or `ID=KEYFILE[,KEYFILE]`; repeatable.
    #[arg(long = "ssh", value_name = "ID[=SOCKET|KEY[,KEY]]")]
    pub ssh: Vec<String>,
    /// Named context `NAME=DIR`, `NAME=docker-image://REF`,
    /// `NAME=oci-layout://PATH[:TAG][@sha256:DIGEST]`, `NAME=GIT-URL` or `NAME=HTTP-URL` (an
    /// archive); for `FROM NAME` and `COPY --from=NAME`; repeatable.
    #[arg(long = "build-context", value_name = "NAME=VALUE")]
    pub build_contexts: Vec<String>,
    /// Build context: a directory, a Git URL (`https://host/repo.git#ref:subdir`, BuildKit's
    /// `?ref=`/`?subdir=`/... options) or the http(s) URL of an archive or a Dockerfile.
    pub context: PathBuf,
}
