//! Typed instructions: the layer the builder consumes. Words stay raw (unexpanded).

mod bflags;
mod copy;
mod duration;
mod healthcheck;
mod mount;
mod parse;
mod run;
mod simple;

use std::time::Duration;

use crate::error::{Location, Warning};
pub use crate::parser::Directives;
pub use mount::parse_mount;
pub(crate) use mount::parse_mount_expanded;
pub use parse::{parse_dockerfile, parse_trigger};
pub use simple::expose_ports;
pub(crate) use simple::validate_port;

/// A whole Dockerfile, split into stages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Dockerfile {
    /// Parser directives from the top of the file.
    pub directives: Directives,
    /// ARGs before the first FROM (usable in FROM lines).
    pub meta_args: Vec<ArgDecl>,
    /// Build stages in order.
    pub stages: Vec<Stage>,
    /// Non-fatal findings.
    pub warnings: Vec<Warning>,
}

/// One build stage: a FROM and the instructions after it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stage {
    /// Lower-cased `AS` name.
    pub name: Option<String>,
    /// Raw, unexpanded FROM image word.
    pub base: String,
    /// Raw `--platform` value.
    pub platform: Option<String>,
    /// The stage's instructions (FROM excluded).
    pub instructions: Vec<Instruction>,
    /// From the FROM line to the end of the last instruction.
    pub location: Location,
    /// The FROM line as written.
    pub source: String,
}

/// One typed instruction with where it came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Instruction {
    /// What to do.
    pub command: Command,
    /// Its line range.
    pub location: Location,
    /// The instruction as written, continuations joined (e.g. `RUN echo hi`).
    pub source: String,
}

/// A command in shell form (run through SHELL) or exec form (JSON array).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShellOrExec {
    /// Shell form: the command line as written.
    Shell(String),
    /// Exec form: the argv.
    Exec(Vec<String>),
}

/// A heredoc body attached to RUN/COPY/ADD.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Heredoc {
    /// Delimiter word, quotes removed.
    pub name: String,
    /// Body including its trailing newline; `<<-` tabs already stripped.
    pub content: String,
    /// False when the delimiter was quoted: the body must not be expanded.
    pub expand: bool,
}

/// Every instruction except FROM (which starts a [`Stage`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// RUN.
    Run(RunCmd),
    /// COPY.
    Copy(CopyCmd),
    /// ADD.
    Add(AddCmd),
    /// ENV pairs.
    Env(Vec<KeyValue>),
    /// LABEL pairs.
    Label(Vec<KeyValue>),
    /// ARG declarations.
    Arg(Vec<ArgDecl>),
    /// CMD.
    Cmd(ShellOrExec),
    /// ENTRYPOINT.
    Entrypoint(ShellOrExec),
    /// SHELL (always exec form).
    Shell(Vec<String>),
    /// WORKDIR.
    Workdir(String),
    /// USER.
    User(String),
    /// EXPOSE ports (`80`, `80/udp`, `8000-8010/tcp`).
    Expose(Vec<String>),
    /// VOLUME paths.
    Volume(Vec<String>),
    /// STOPSIGNAL.
    StopSignal(String),
    /// HEALTHCHECK.
    Healthcheck(Healthcheck),
    /// ONBUILD trigger text as written (e.g. `RUN echo hi`), heredoc bodies appended.
    OnBuild(String),
    /// MAINTAINER (deprecated).
    Maintainer(String),
}

/// A raw `key=value` pair of ENV or LABEL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyValue {
    /// Raw key.
    pub key: String,
    /// Raw value.
    pub value: String,
}

/// An ARG declaration with an optional raw default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgDecl {
    /// Raw name.
    pub name: String,
    /// Raw default value, if given.
    pub default: Option<String>,
}

/// RUN with its flags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunCmd {
    /// The command (for heredoc RUNs, the line with its `<<EOF` marker).
    pub cmd: ShellOrExec,
    /// Heredoc bodies.
    pub heredocs: Vec<Heredoc>,
    /// One mount per `--mount`, in order. From `parse_dockerfile` a mount whose values hold
    /// variables, quotes or escapes is provisional (see [`RunMount`]); `expand_command`
    /// gives the final ones.
    pub mounts: Vec<RunMount>,
    /// `--network` (default|none|host).
    pub network: Option<String>,
    /// `--security` (sandbox|insecure).
    pub security: Option<String>,
    /// The raw `--mount` values; `expand_command` re-parses them after expansion.
    pub mount_specs: Vec<String>,
}

/// The kind of a RUN mount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MountKind {
    /// `type=bind` (default).
    Bind,
    /// `type=cache`.
    Cache,
    /// `type=tmpfs`.
    Tmpfs,
    /// `type=secret`.
    Secret,
    /// `type=ssh`.
    Ssh,
}

/// One `RUN --mount=...`, as BuildKit reads it. Keys are case-insensitive; an empty value
/// (`target=`) is the same as none. Nothing is resolved here: the builder places the mount
/// with [`RunMount::target_in`], [`RunMount::cache_id`], [`RunMount::secret_target`],
/// [`RunMount::ssh_target`] and friends, which apply BuildKit's conversion-time defaults.
///
/// From `parse_dockerfile`, a mount whose values hold variables, quotes or escapes is
/// provisional: string values are as written, the others keep their defaults until
/// `expand_command` reads the expanded values (only `from=` must be known before).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunMount {
    /// `type` (default `bind`).
    pub kind: MountKind,
    /// `target`/`dst`/`destination` as written: may be missing or relative, both meaning
    /// "joined to the WORKDIR" for bind, cache and tmpfs mounts.
    pub target: Option<String>,
    /// `source`/`src`: the path inside `from` (or the context, or the cache) to mount; for
    /// a secret, its id.
    pub source: Option<String>,
    /// `from`: a stage, image or named context (default: the build context; for a cache,
    /// an empty directory).
    pub from: Option<String>,
    /// `id` (cache id, secret id, ssh agent id); accepted, and ignored, on any type.
    pub id: Option<String>,
    /// `sharing`, lower-cased: `shared` (default), `private` or `locked`; caches only.
    pub sharing: Option<String>,
    /// `ro`/`readonly`, `rw`/`readwrite`; without either, true except for cache and tmpfs.
    pub readonly: bool,
    /// `required` (secret and ssh only; given before `type=`, BuildKit refuses it).
    pub required: bool,
    /// `mode` (octal); secret, ssh and cache only.
    pub mode: Option<u32>,
    /// `uid`; secret, ssh and cache only.
    pub uid: Option<u32>,
    /// `gid`; secret, ssh and cache only.
    pub gid: Option<u32>,
    /// `size` of a tmpfs, in bytes (tmpfs only, and only after `type=tmpfs`).
    pub size: Option<u64>,
    /// `env`: expose a secret as this environment variable (accepted on any type, used only
    /// by secrets; `env=` with an empty name is kept as `Some("")`, as BuildKit keeps it).
    pub env: Option<String>,
}

/// COPY with its flags.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CopyCmd {
    /// Raw source words (a heredoc source stays as its `<<EOF` word).
    pub sources: Vec<String>,
    /// Raw destination.
    pub dest: String,
    /// `--from`.
    pub from: Option<String>,
    /// `--chown`.
    pub chown: Option<String>,
    /// `--chmod`.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--parents`.
    pub parents: bool,
    /// `--exclude` patterns.
    pub exclude: Vec<String>,
    /// Heredoc bodies for `<<EOF` sources.
    pub heredocs: Vec<Heredoc>,
}

/// ADD with its flags.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct AddCmd {
    /// Raw source words (URLs, paths, git refs, `<<EOF` heredocs).
    pub sources: Vec<String>,
    /// Raw destination.
    pub dest: String,
    /// `--chown`.
    pub chown: Option<String>,
    /// `--chmod`.
    pub chmod: Option<String>,
    /// `--link`.
    pub link: bool,
    /// `--checksum`.
    pub checksum: Option<String>,
    /// `--keep-git-dir`.
    pub keep_git_dir: bool,
    /// `--unpack` (None: default behaviour).
    pub unpack: Option<bool>,
    /// `--exclude` patterns.
    pub exclude: Vec<String>,
    /// Heredoc bodies for `<<EOF` sources.
    pub heredocs: Vec<Heredoc>,
}

/// HEALTHCHECK.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Healthcheck {
    /// `HEALTHCHECK NONE`: disable any inherited check.
    None,
    /// `HEALTHCHECK [flags] CMD ...`. Zero durations are `None` (inherit), as in BuildKit.
    Check {
        /// The test command.
        test: ShellOrExec,
        /// `--interval`.
        interval: Option<Duration>,
        /// `--timeout`.
        timeout: Option<Duration>,
        /// `--start-period`.
        start_period: Option<Duration>,
        /// `--start-interval`.
        start_interval: Option<Duration>,
        /// `--retries`.
        retries: Option<u32>,
    },
}

impl CopyCmd {
    /// The heredoc body for a source word such as `<<EOF`, if it is one.
    pub fn heredoc_for(&self, source: &str) -> Option<&Heredoc> {
        heredoc_for(&self.heredocs, source)
    }
}

impl AddCmd {
    /// The heredoc body for a source word such as `<<EOF`, if it is one.
    pub fn heredoc_for(&self, source: &str) -> Option<&Heredoc> {
        heredoc_for(&self.heredocs, source)
    }
}

fn heredoc_for<'a>(docs: &'a [Heredoc], source: &str) -> Option<&'a Heredoc> {
    let marker = crate::parser::parse_heredoc_word(source)?;
    docs.iter().find(|h| h.name == marker.name)
}
