//! Command-line arguments, shaped like `docker build`.

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;

mod build;
mod debug;

use clap::{Args, Parser, Subcommand, ValueEnum};
use rbuild_oci::Platform;

pub use build::{BuildArgs, NetworkArg, ProgressMode};
pub use debug::{DebugCommand, ExpandArgs, IgnoreArgs, ParseArgs, PlanArgs};

/// A daemonless Dockerfile image builder.
///
/// `rbuild [OPTIONS] CONTEXT` is short for `rbuild build [OPTIONS] CONTEXT`.
#[derive(Parser, Debug)]
#[command(name = "rbuild", version, about, long_about = None)]
pub struct Cli {
    /// State directory (store, cache, snapshots).
    #[arg(long, global = true, env = "RBUILD_ROOT", value_name = "DIR")]
    pub root: Option<PathBuf>,
    /// Configuration file to read instead of /etc/rbuild/rbuild.toml and
    /// $XDG_CONFIG_HOME/rbuild/rbuild.toml (docs/CONFIG.md).
    #[arg(long, global = true, env = "RBUILD_CONFIG", value_name = "FILE")]
    pub config: Option<PathBuf>,
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
    /// Remove what no tag needs: unreferenced blobs and snapshots, stale cache entries, and
    /// cache mounts no build is using.
    Prune {
        /// Also drop the whole build cache.
        #[arg(long)]
        all: bool,
        /// Keep at most this much data (e.g. 10GB, 512MiB), removing the oldest first.
        #[arg(long = "keep-storage", value_name = "SIZE")]
        keep_storage: Option<String>,
        /// `until=DURATION` (only what is older, e.g. 24h), `type=regular|exec.cachemount`
        /// (`cache` for short; `!=` excludes); comma-separated or repeated, all must hold.
        #[arg(long = "filter", value_name = "KEY=VALUE")]
        filters: Vec<String>,
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
    /// Check what this machine gives the sandbox (root or user namespaces, overlayfs,
    /// cgroups, the network helper, seccomp, emulation, and for rootless runs subordinate ids
    /// and newuidmap): each requirement, what was found and the command that fixes it; exits 1
    /// when something needed is missing.
    Doctor,
    /// Machine setup: `setup binfmt` registers QEMU emulators for other platforms.
    Setup {
        /// What to set up.
        #[command(subcommand)]
        command: SetupCommand,
    },
    /// Cache mounts (`RUN --mount=type=cache`) kept in the store.
    Cache {
        /// What to do.
        #[command(subcommand)]
        command: CacheCommand,
    },
}

/// `rbuild setup …`.
#[derive(Subcommand, Debug)]
pub enum SetupCommand {
    /// Register the QEMU user-mode emulators Debian's qemu-user-static installs
    /// (/usr/lib/binfmt.d/qemu-*.conf) with binfmt_misc, so RUN steps of other platforms run
    /// here (needs root); says what it registered.
    Binfmt,
}

/// `rbuild cache …`.
#[derive(Subcommand, Debug)]
pub enum CacheCommand {
    /// List cache mounts: id, size, last use.
    Ls,
    /// Remove cache mounts no build is using (all, or those the filters select).
    Prune {
        /// `id=ID` (that id only) or `until=DURATION` (unused for longer, e.g. 24h, 7d);
        /// repeatable, all must hold.
        #[arg(long = "filter", value_name = "KEY=VALUE")]
        filters: Vec<String>,
    },
    /// Send cache mounts to DEST as an OCI artifact (content-addressed chunks: only what
    /// DEST lacks is copied or uploaded). DEST is an OCI layout directory (`oci:DIR[:TAG]`,
    /// or a path starting with / or . ; tag `latest`) or a registry reference.
    Export {
        /// Export the cache mounts (`RUN --mount=type=cache`); required.
        #[arg(long, required = true)]
        mounts: bool,
        /// Only the mount with this id (repeatable; default: every mount).
        #[arg(long = "id", value_name = "ID")]
        ids: Vec<String>,
        /// Registry connection options.
        #[command(flatten)]
        registry: RegistryFlags,
        /// `oci:DIR[:TAG]`, a directory path, or `registry/repository[:tag]`.
        dest: String,
    },
    /// Restore the cache mounts of an artifact `cache export` made, replacing mounts of the
    /// same ids (a mount a build is using is not replaced).
    Import {
        /// Only the mount with this id (repeatable; default: every mount of SRC).
        #[arg(long = "id", value_name = "ID")]
        ids: Vec<String>,
        /// Registry connection options.
        #[command(flatten)]
        registry: RegistryFlags,
        /// `oci:DIR[:TAG]`, a directory path, or `registry/repository[:tag|@digest]`.
        src: String,
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

/// `os/arch[/variant]`, normalized.
pub(crate) fn parse_platform(s: &str) -> Result<Platform, rbuild_oci::platform::PlatformError> {
    rbuild_oci::platform::parse(s)
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
    /// The configuration file's `[registry."host"]` sections (not a flag: filled in at start).
    #[arg(skip)]
    pub configured: Arc<BTreeMap<String, rbuild_config::RegistryConfig>>,
}

/// Options of `rbuild pull`.
#[derive(Args, Debug)]
pub struct PullArgs {
    /// Platforms to keep from a multi-platform image, `os/arch[/variant]`, comma-separated
    /// (default: this host's); several are tagged locally as an index of them.
    #[arg(long, value_name = "OS/ARCH[/VARIANT]", value_delimiter = ',', value_parser = parse_platform)]
    pub platform: Vec<Platform>,
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
    "rm", "tag", "save", "load", "store", "debug", "cache", "setup", "doctor",
];

/// Inserts `build` when the first argument after global options is not a subcommand
/// (`rbuild -t x .`, `rbuild --root /d -t x .`).
pub fn with_default_subcommand(mut args: Vec<OsString>) -> Vec<OsString> {
    let mut i = 1;
    while let Some(a) = args.get(i).and_then(|a| a.to_str()) {
        match a {
            "--root" | "--config" => i += 2,
            _ if a.starts_with("--root=") || a.starts_with("--config=") => i += 1,
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
        let a = with_default_subcommand(argv(&["rbuild", "--config", "/c.toml", "."]));
        let cli = Cli::parse_from(a);
        assert!(matches!(cli.command, Command::Build(_)));
        assert_eq!(cli.config, Some(PathBuf::from("/c.toml")));
    }

    #[test]
    fn cli_is_well_formed() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
