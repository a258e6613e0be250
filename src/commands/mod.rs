//! One module per subcommand.

mod build;
pub(crate) mod cache;
mod debug;
mod debug_plan;
mod doctor;
mod gc;
mod images;
mod import;
mod inspect;
mod load;
mod login;
mod logout;
mod prune;
mod pull;
mod push;
mod rm;
mod save;
mod setup;
mod store;
mod tag;

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use rbuild_store::Store;

use crate::cli::{Cli, Command, DebugCommand};

/// Runs the parsed command line.
pub fn run(mut cli: Cli) -> anyhow::Result<ExitCode> {
    let config = crate::config::load(cli.config.as_deref())?;
    crate::config::attach(&mut cli.command, &config)?;
    // Credentials live in Docker's config, not the store: no store is opened (or created) for them.
    match &cli.command {
        Command::Login(args) => return login::run(args),
        Command::Logout { registry } => return logout::run(registry.as_deref()),
        Command::Debug { command } if !matches!(command, DebugCommand::Plan(_)) => {
            return debug::run(command)
        }
        Command::Setup { command } => return setup::run(command),
        Command::Doctor => return doctor::run(),
        _ => {}
    }
    let store = open_store(cli.root)?;
    if matches!(cli.command, Command::Store { .. } | Command::Prune { .. }) {
        // Run cgroups of builds killed before they could remove them; a build sweeps them
        // when it makes its first run cgroup (a fully cached one never reads the hierarchies).
        rbuild_sandbox::sweep_stale_in_background();
    }
    match cli.command {
        Command::Build(args) => {
            let quiet = args.quiet;
            let progress = args.progress;
            let code = build::run(*args, store.clone())?;
            if code == ExitCode::SUCCESS {
                gc::after_build(&store, &config, quiet, progress)?;
            }
            Ok(code)
        }
        Command::Images => images::run(&store),
        Command::Pull(args) => pull::run(&store, &args),
        Command::Push(args) => push::run(&store, &args),
        Command::Debug {
            command: DebugCommand::Plan(args),
        } => debug_plan::run(*args, store),
        Command::Login(_)
        | Command::Logout { .. }
        | Command::Debug { .. }
        | Command::Setup { .. }
        | Command::Doctor => Ok(ExitCode::SUCCESS),
        Command::Inspect { reference } => inspect::run(&store, &reference),
        Command::Import { tarball, reference } => import::run(&store, &tarball, &reference),
        Command::Prune {
            all,
            keep_storage,
            filters,
        } => prune::run(&store, all, keep_storage.as_deref(), &filters),
        Command::Rm { references } => rm::run(&store, &references),
        Command::Tag { source, target } => tag::run(&store, &source, &target),
        Command::Save {
            format,
            output,
            references,
        } => save::run(&store, format, &output, &references),
        Command::Load { input } => load::run(&store, &input),
        Command::Store { command } => store::run(&store, command),
        Command::Cache { command } => cache::run(&store, command),
    }
}

/// Run by an ordinary user, every command but `doctor` (which reports why entering could
/// fail) works inside a user namespace where the user is root over its subordinate ids.
pub fn enter_rootless(cli: &Cli) -> anyhow::Result<()> {
    if rustix::process::geteuid().is_root() || matches!(cli.command, Command::Doctor) {
        return Ok(());
    }
    let session = rbuild_sandbox::rootless::enter()?;
    if session.mapping == rbuild_sandbox::rootless::Mapping::Single {
        eprintln!(
            "WARNING: rootless: {} has no subordinate ids (/etc/subuid, /etc/subgid) or \
             newuidmap/newgidmap is missing: only root is mapped, so files keep root as \
             owner and a USER other than root cannot run; `rbuild doctor` shows the fix",
            session.user
        );
    }
    Ok(())
}

/// `--root`, `$RBUILD_ROOT`, or the default: /var/lib/rbuild for root, the XDG data dir otherwise.
fn default_root() -> PathBuf {
    if rustix::process::geteuid().is_root() && rbuild_sandbox::rootless::session().is_none() {
        return PathBuf::from("/var/lib/rbuild");
    }
    let data = std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")));
    data.unwrap_or_else(|| PathBuf::from(".")).join("rbuild")
}

fn open_store(root: Option<PathBuf>) -> anyhow::Result<Arc<Store>> {
    let root = root.unwrap_or_else(default_root);
    // Overlay mounts need absolute paths, so a relative --root is anchored here.
    let root = std::path::absolute(&root)
        .with_context(|| format!("invalid store path {}", root.display()))?;
    let store = Store::open(&root)
        .with_context(|| format!("cannot open the store at {}", root.display()))?;
    Ok(Arc::new(store))
}
