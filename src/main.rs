//! rbuild: a daemonless Dockerfile image builder.

mod cli;
mod commands;
mod config;
mod docker_engine;
mod output;
mod remote_cache;
mod render;
mod render_json;
mod render_tty;
mod resolver;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    // Descriptors the caller left open must reach no child (git, tools, the sandbox init).
    rbuild_sandbox::mark_inherited_fds_cloexec();
    // The sandbox init is this same binary re-executed; it must run before anything else.
    rbuild_sandbox::init_if_requested();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("RBUILD_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let args = cli::with_default_subcommand(std::env::args_os().collect());
    let cli = cli::Cli::parse_from(args);
    // Before any thread exists: an ordinary user's rbuild moves into its user namespace here.
    if let Err(e) = commands::enter_rootless(&cli) {
        eprintln!("ERROR: {e:#}");
        return ExitCode::FAILURE;
    }
    let result = commands::run(cli);
    // The stale-cgroup sweep the store's opening started must finish before the exit.
    rbuild_sandbox::wait_for_sweep();
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ERROR: {e:#}");
            ExitCode::FAILURE
        }
    }
}
