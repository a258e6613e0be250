//! `rbuild debug …` arguments.

use std::path::PathBuf;

use clap::{Args, Subcommand};
use rbuild_oci::Platform;

use super::parse_platform;

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
    /// List the platforms RUN steps can execute on here: native, and emulated through
    /// binfmt_misc (handlers registered with the F flag).
    Platforms,
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
    /// Entitlement granted, as for `rbuild build` (`network.host`, `security.insecure`).
    #[arg(long = "allow", value_name = "ENTITLEMENT", value_delimiter = ',')]
    pub allow: Vec<String>,
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
