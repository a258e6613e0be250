//! Command-line arguments, shaped like `docker build`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

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
    /// Build an image from a Dockerfile and a context directory.
    Build(BuildArgs),
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
    /// Maximum steps run at once (default: number of CPUs).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Build context directory.
    pub context: PathBuf,
}

const SUBCOMMANDS: &[&str] = &["build", "images", "inspect", "import", "help"];

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
