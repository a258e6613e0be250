//! `rbuild login [-u USER] [-p PASS | --password-stdin] [REGISTRY]`.

use std::io::{BufRead, IsTerminal, Read, Write};
use std::process::{Command, ExitCode};

use anyhow::Context;

use crate::cli::LoginArgs;
use crate::resolver::{options, Remote};

/// Docker Hub, when no registry is named.
pub const DEFAULT_REGISTRY: &str = "docker.io";

/// Checks the credentials against the registry, then stores them as `docker login` does.
pub fn run(args: &LoginArgs) -> anyhow::Result<ExitCode> {
    let server = args.server.as_deref().unwrap_or(DEFAULT_REGISTRY);
    if args.password_stdin && args.username.is_none() {
        anyhow::bail!("--password-stdin needs --username");
    }
    let username = match &args.username {
        Some(u) => u.clone(),
        None => prompt("Username: ", true)?,
    };
    let password = match (&args.password, args.password_stdin) {
        (Some(p), _) => {
            eprintln!("WARNING! Using --password via the CLI is insecure. Use --password-stdin.");
            p.clone()
        }
        (None, true) => read_stdin_password()?,
        (None, false) => prompt("Password: ", false)?,
    };
    if username.is_empty() || password.is_empty() {
        anyhow::bail!("a user name and a password are required to log in to {server}");
    }
    let opts = options(&args.registry);
    // The runtime is only there to drive the check; the client is not reused.
    let remote = Remote::new(&args.registry)?;
    remote
        .block_on(|_| rbuild_registry::login_with(&opts, server, &username, &password))?
        .with_context(|| format!("login to {server} failed"))?;
    eprintln!("Login Succeeded");
    Ok(ExitCode::SUCCESS)
}

/// The whole of stdin without its final line break (as `docker login --password-stdin`).
fn read_stdin_password() -> anyhow::Result<String> {
    let mut s = String::new();
    std::io::stdin()
        .read_to_string(&mut s)
        .context("cannot read the password from stdin")?;
    Ok(s.trim_end_matches(['\n', '\r']).to_string())
}

/// Asks on the terminal; the password is read with echo turned off.
fn prompt(label: &str, echo: bool) -> anyhow::Result<String> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        anyhow::bail!(
            "no terminal to ask for the {}: use -u USER and --password-stdin",
            label.trim_end_matches([':', ' ']).to_lowercase()
        );
    }
    eprint!("{label}");
    std::io::stderr().flush().ok();
    let set_echo = |on: bool| {
        let _ = Command::new("stty")
            .arg(if on { "echo" } else { "-echo" })
            .status();
    };
    if !echo {
        set_echo(false);
    }
    let mut line = String::new();
    let read = stdin.lock().read_line(&mut line);
    if !echo {
        set_echo(true);
        eprintln!();
    }
    read.context("cannot read from the terminal")?;
    Ok(line.trim_end_matches(['\n', '\r']).to_string())
}
