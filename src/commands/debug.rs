//! `rbuild debug ignore`: what a `.dockerignore` excludes, decided exactly as the build does.

use std::process::ExitCode;

use anyhow::Context;
use rbuild_context::ignore::{parse_ignore_file, Matcher};

use crate::cli::{DebugCommand, IgnoreArgs};

/// Runs a `debug` subcommand.
pub fn run(command: &DebugCommand) -> anyhow::Result<ExitCode> {
    match command {
        DebugCommand::Ignore(args) => ignore(args),
    }
}

fn ignore(args: &IgnoreArgs) -> anyhow::Result<ExitCode> {
    let (source, text) = if args.patterns.is_empty() {
        let file = args.file.clone().unwrap_or_else(|| ".dockerignore".into());
        let text = std::fs::read_to_string(&file)
            .with_context(|| format!("cannot read {}", file.display()))?;
        (file.display().to_string(), text)
    } else {
        ("--pattern".to_string(), args.patterns.join("\n"))
    };
    let matcher = Matcher::new(&parse_ignore_file(&text)).with_context(|| source.clone())?;
    for path in &args.paths {
        let verdict = if matcher.excluded(path) {
            "excluded"
        } else {
            "included"
        };
        crate::outln!("{path}\t{verdict}");
    }
    Ok(ExitCode::SUCCESS)
}
