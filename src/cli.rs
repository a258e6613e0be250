//! Command-line arguments, shaped like `docker build`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use rbuild_build::export::{parse_output, OutputSpec};
use rbuild_oci::Platform;

/// A daemonless Dockerfile image builder.
///
/// `rbuild [OPTIONS] CONTEXT` is short for `rbuild build [OPTIONS] CONTEXT`.
#[derive(Parser, Debug)]
#[command(name = "rbuild", version, about, long_about = None)]
pub struct Cli {
    /// State directory (store, cache, snapshots).
    #[arg(long, global = true, env = "RBUILD_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Subcommand, Debug)]
pub enum Command {
    /// Debugging aids: `debug ignore` shows what `.dockerignore` excludes, `debug parse` the
    /// Dockerfile's syntax tree, `debug expand` how a word expands.
    Debug {
        /// What to inspect.
        #[command(subcommand)]
        command: DebugCommand,
    },
    /// Download an image from a registry into the local store.
    Pull(PullArgs),
    /// Upload an image from the local store to a registry; prints the manifest digest.
    Push(PushArgs),
    /// Verify and store credentials for a registry (Docker's config.json or credential helper).
    Login(LoginArgs),
    /// Remove stored credentials for a registry.
    Logout {
        /// Registry host (default: Docker Hub).
        registry: Option<String>,
    },
    /// Build an image from a Dockerfile and a context directory.
    Build(Box<BuildArgs>),
    /// List images in the local store.
    Images,
    /// Show an image's manifest and config as JSON.
    Inspect {
        /// Image reference (tag in the local store).
        reference: String,
    },
    /// Create a one-layer image from a root filesystem tarball (like `docker import`).
    Import {
        /// Tarball (plain, gzip or zstd); `-` reads stdin.
        tarball: PathBuf,
        /// Tag for the new image.
        reference: String,
    },
    /// Remove what no tag needs: unreferenced blobs and snapshots, stale cache entries.
    Prune {
        /// Also drop the whole build cache.
        #[arg(long)]
        all: bool,
        /// Keep at most this much data (e.g. 10GB, 512MiB), removing the oldest first.
        #[arg(long = "keep-storage", value_name = "SIZE")]
        keep_storage: Option<String>,
    },
    /// Remove tags (their blobs go at the next prune).
    Rm {
        /// Tags to remove.
        #[arg(required = true)]
        references: Vec<String>,
    },
    /// Give an image another tag.
    Tag {
        /// Existing image.
        source: String,
        /// New tag.
        target: String,
    },
    /// Write images to an archive (like `docker save`).
    Save {
        /// Archive format.
        #[arg(long, value_enum, default_value = "oci")]
        format: ArchiveFormat,
        /// Output file (`-` is stdout).
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: PathBuf,
        /// Images to save.
        #[arg(required = true)]
        references: Vec<String>,
    },
    /// Load images from an OCI layout tar or a docker-archive (like `docker load`).
    Load {
        /// Archive file (`-` is stdin).
        #[arg(short = 'i', long = "input", value_name = "FILE")]
        input: PathBuf,
    },
    /// Store maintenance.
    Store {
        /// What to do.
        #[command(subcommand)]
        command: StoreCommand,
    },
}

/// `rbuild store …`.
#[derive(Subcommand, Debug)]
pub enum StoreCommand {
    /// Verify every blob's digest, every snapshot, the tags and the cache database, and that
    /// tagged images are complete; fails on damage.
    Check {
        /// Drop what cannot be verified (damaged blobs and snapshots, the manifests, tags and
        /// cache entries that need them; rebuild a damaged cache database; keep the readable
        /// tags of a damaged index.json), so the next build or pull fetches it again.
        #[arg(long)]
        repair: bool,
    },
    /// Show disk usage.
    Df,
}

/// Archive formats of `rbuild save`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveFormat {
    /// OCI image layout tar (`oci-archive:`).
    Oci,
    /// docker-archive (`docker load`).
    Docker,
}

/// `rbuild debug …`.
#[derive(Subcommand, Debug)]
pub enum DebugCommand {
    /// Print each PATH with `excluded` or `included`, as a build would decide it.
    Ignore(IgnoreArgs),
    /// Print the Dockerfile's syntax tree in the dump format of BuildKit's parser tests.
    Parse(ParseArgs),
    /// Print how WORD expands with BuildKit's shell lexer (as ENV, COPY, WORKDIR... expand).
    Expand(ExpandArgs),
    /// Print the build plan: each step with its inputs, what it does and its cache-key
    /// components, then the image config; nothing is run (base images come from the store).
    Plan(Box<PlanArgs>),
}

/// Options of `rbuild debug plan`: the build flags that change the plan.
#[derive(Args, Debug)]
pub struct PlanArgs {
    /// Dockerfile path (default: CONTEXT/Dockerfile); `-` reads it from stdin.
    #[arg(short = 'f', long = "file", value_name = "PATH")]
    pub file: Option<PathBuf>,
    /// Build-time variable `KEY=VALUE`; `KEY` alone takes the value from the environment.
    #[arg(long = "build-arg", value_name = "KEY[=VALUE]")]
    pub build_args: Vec<String>,
    /// Plan this stage and the stages it needs.
    #[arg(long)]
    pub target: Option<String>,
    /// Platform to build for, `os/arch[/variant]` (default: this host's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", value_delimiter = ',', value_parser = parse_platform)]
    pub platform: Vec<Platform>,
    /// The platform the build runs on (default: this host's); fixes `BUILD*` args and the
    /// platform of `FROM --platform=$BUILDPLATFORM` stages, for reproducible plans.
    #[arg(long = "build-platform", value_name = "OS/ARCH[/VARIANT]", value_parser = parse_platform)]
    pub build_platform: Option<Platform>,
    /// Named context, as for `rbuild build`; repeatable.
    #[arg(long = "build-context", value_name = "NAME=VALUE")]
    pub build_contexts: Vec<String>,
    /// Build context directory.
    pub context: PathBuf,
}

/// Options of `rbuild debug ignore`.
#[derive(Args, Debug)]
pub struct IgnoreArgs {
    /// Ignore file to read (default: ./.dockerignore).
    #[arg(long = "file", value_name = "IGNOREFILE", conflicts_with = "patterns")]
    pub file: Option<PathBuf>,
    /// A pattern, as one line of an ignore file; repeatable.
    #[arg(long = "pattern", value_name = "P")]
    pub patterns: Vec<String>,
    /// Paths relative to the context root.
    #[arg(required = true)]
    pub paths: Vec<String>,
}

/// Options of `rbuild debug parse`.
#[derive(Args, Debug)]
pub struct ParseArgs {
    /// Dockerfile to read (default: ./Dockerfile; `-` reads standard input).
    #[arg(short = 'f', long = "file", value_name = "DOCKERFILE")]
    pub file: Option<PathBuf>,
}

/// Options of `rbuild debug expand`.
#[derive(Args, Debug)]
pub struct ExpandArgs {
    /// A variable visible to the expansion, `K=V` (`K` alone: set and empty); repeatable.
    #[arg(long = "env", value_name = "K=V")]
    pub env: Vec<String>,
    /// The escape character, as `# escape=` sets it: `\` (default) or `` ` ``.
    #[arg(long = "escape", value_name = "C", default_value_t = '\\')]
    pub escape: char,
    /// Split the result into words on unquoted whitespace, one a line (as EXPOSE splits ports).
    #[arg(long = "words")]
    pub words: bool,
    /// The word to expand (put it after `--` when it starts with `-`).
    pub word: String,
}

/// `--network` of a build.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum NetworkArg {
    /// The builder's default (the host's network).
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

/// `os/arch[/variant]`, normalized.
fn parse_platform(s: &str) -> Result<Platform, rbuild_oci::platform::PlatformError> {
    rbuild_oci::platform::parse(s)
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
    /// Where the image goes, as buildx spells it: `type=image` (default), `type=oci,dest=FILE`,
    /// `type=docker,dest=FILE`, `type=local,dest=DIR`, with `compression=gzip|zstd|uncompressed`
    /// and `compression-level=N`; repeatable.
    #[arg(short = 'o', long = "output", value_name = "type=TYPE,KEY=VALUE", value_parser = parse_output)]
    pub outputs: Vec<OutputSpec>,
    /// Push every `-t` tag to its registry after the build.
    #[arg(long)]
    pub push: bool,
    /// Fetch FROM images from their registry even when they are in the local store.
    #[arg(long)]
    pub pull: bool,
    /// Platform to build for, `os/arch[/variant]` (default: this host's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", value_delimiter = ',', value_parser = parse_platform)]
    pub platform: Vec<Platform>,
    /// Registry connection options.
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// Named context `NAME=DIR`, `NAME=docker-image://REF` or
    /// `NAME=oci-layout://PATH[:TAG][@sha256:DIGEST]`; for `FROM NAME` and `COPY --from=NAME`;
    /// repeatable.
    #[arg(long = "build-context", value_name = "NAME=VALUE")]
    pub build_contexts: Vec<String>,
    /// Build context directory.
    pub context: PathBuf,
}

/// How to reach registries (build, pull, push, login).
#[derive(Args, Debug, Clone, Default)]
pub struct RegistryFlags {
    /// Registry host (`host[:port]`) to use over plain HTTP; repeatable (loopback always is).
    #[arg(long = "insecure-registry", value_name = "HOST")]
    pub insecure: Vec<String>,
    /// Docker Hub mirror tried before Docker Hub on pull; repeatable.
    #[arg(long = "registry-mirror", value_name = "URL")]
    pub mirrors: Vec<String>,
    /// Directory of per-host CA and client certificates (`DIR/<host>/*.crt`), like
    /// /etc/docker/certs.d.
    #[arg(long = "registry-certs", value_name = "DIR")]
    pub certs: Option<PathBuf>,
}

/// Options of `rbuild pull`.
#[derive(Args, Debug)]
pub struct PullArgs {
    /// Platform to select from a multi-platform image, `os/arch[/variant]` (default: this host's).
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", value_parser = parse_platform)]
    pub platform: Option<Platform>,
    /// Registry connection options.
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// Image reference (`name[:tag]` or `name@digest`).
    pub reference: String,
}

/// Options of `rbuild push`.
#[derive(Args, Debug)]
pub struct PushArgs {
    /// Registry connection options.
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// Tag in the local store; its registry and repository are the destination.
    pub reference: String,
}

/// Options of `rbuild login`.
#[derive(Args, Debug)]
pub struct LoginArgs {
    /// User name (asked for on a terminal when missing).
    #[arg(short = 'u', long)]
    pub username: Option<String>,
    /// Password (prefer --password-stdin: arguments are visible to other users).
    #[arg(short = 'p', long, conflicts_with = "password_stdin")]
    pub password: Option<String>,
    /// Read the password from standard input.
    #[arg(long = "password-stdin")]
    pub password_stdin: bool,
    /// Registry connection options.
    #[command(flatten)]
    pub registry: RegistryFlags,
    /// Registry host (default: Docker Hub).
    pub server: Option<String>,
}

const SUBCOMMANDS: &[&str] = &[
    "build", "images", "inspect", "import", "help", "pull", "push", "login", "logout", "prune",
    "rm", "tag", "save", "load", "store", "debug",
];

/// Inserts `build` when the first argument after global options is not a subcommand
/// (`rbuild -t x .`, `rbuild --root /d -t x .`).
pub fn with_default_subcommand(mut args: Vec<OsString>) -> Vec<OsString> {
    let mut i = 1;
    while let Some(a) = args.get(i).and_then(|a| a.to_str()) {
        match a {
            "--root" => i += 2,
            _ if a.starts_with("--root=") => i += 1,
            _ => break,
        }
    }
    let Some(first) = args.get(i).map(|a| a.to_string_lossy().to_string()) else {
        return args;
    };
    let keep = SUBCOMMANDS.contains(&first.as_str())
        || matches!(first.as_str(), "-h" | "--help" | "-V" | "--version");
    if !keep {
        args.insert(i, OsString::from("build"));
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    fn argv(s: &[&str]) -> Vec<OsString> {
        s.iter().map(OsString::from).collect()
    }

    #[test]
    fn shorthand_means_build() {
        let a = with_default_subcommand(argv(&["rbuild", "-t", "x", "."]));
        let cli = Cli::parse_from(a);
        assert!(matches!(cli.command, Command::Build(b) if b.tags == ["x"]));
        let a = with_default_subcommand(argv(&["rbuild", "images"]));
        assert!(matches!(Cli::parse_from(a).command, Command::Images));
        let a = with_default_subcommand(argv(&["rbuild", "--root", "/d", "."]));
        assert!(matches!(Cli::parse_from(a).command, Command::Build(_)));
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
