//! `rbuild debug`: what a `.dockerignore` excludes, the Dockerfile's syntax tree and how a
//! word expands, each decided by the same code a build uses.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context};
use rbuild_context::ignore::{parse_ignore_file, Matcher};
use rbuild_dockerfile::Lexer;

use crate::cli::{DebugCommand, ExpandArgs, IgnoreArgs, ParseArgs};

/// Runs a `debug` subcommand.
pub fn run(command: &DebugCommand) -> anyhow::Result<ExitCode> {
    match command {
        DebugCommand::Ignore(args) => ignore(args),
        DebugCommand::Parse(args) => parse(args),
        DebugCommand::Expand(args) => expand(args),
        // Needs the store: run by commands::run through debug_plan.
        DebugCommand::Plan(_) => Ok(ExitCode::FAILURE),
        DebugCommand::Platforms => platforms(),
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

/// The AST in BuildKit's parser-test dump format (its `result` files); warnings on stderr.
fn parse(args: &ParseArgs) -> anyhow::Result<ExitCode> {
    let path = args
        .file
        .clone()
        .unwrap_or_else(|| PathBuf::from("Dockerfile"));
    let text = read_dockerfile(&path)?;
    let ast = rbuild_dockerfile::parse(&text)?;
    for w in &ast.warnings {
        eprintln!("WARNING: Dockerfile:{}: {}", w.line, w.message);
    }
    crate::outln!("{}", rbuild_dockerfile::dump(&ast));
    Ok(ExitCode::SUCCESS)
}

/// Reads a Dockerfile (`-`: standard input) with the build's size limit.
fn read_dockerfile(path: &Path) -> anyhow::Result<String> {
    if path == Path::new("-") {
        return Ok(rbuild_build::read_dockerfile(
            std::io::stdin().lock(),
            path,
        )?);
    }
    let file = std::fs::File::open(path)
        .with_context(|| format!("cannot read Dockerfile {}", path.display()))?;
    Ok(rbuild_build::read_dockerfile(file, path)?)
}

/// One expansion of WORD, or its words one a line.
fn expand(args: &ExpandArgs) -> anyhow::Result<ExitCode> {
    if !matches!(args.escape, '\\' | '`') {
        bail!(
            "invalid escape character {:?}: expected \\ or `",
            args.escape
        );
    }
    let env: Vec<(String, String)> = args
        .env
        .iter()
        .map(|kv| match kv.split_once('=') {
            Some((k, v)) => (k.to_string(), v.to_string()),
            None => (kv.clone(), String::new()),
        })
        .collect();
    let lexer = Lexer::new(args.escape);
    if args.words {
        for word in lexer.expand_words(&args.word, &env)? {
            crate::outln!("{word}");
        }
    } else {
        crate::outln!("{}", lexer.expand_word(&args.word, &env)?);
    }
    Ok(ExitCode::SUCCESS)
}

/// The platforms RUN can execute on: native first, then each emulated one with its handler.
fn platforms() -> anyhow::Result<ExitCode> {
    use rbuild_sandbox::emulation;
    crate::outln!("{}\tnative", rbuild_oci::Platform::host().to_spec());
    let handlers = emulation::handlers(std::path::Path::new(emulation::BINFMT_DIR));
    for h in &handlers {
        let Some(platform) = emulation::platform_of(&h.name) else {
            continue;
        };
        let state = match (h.enabled, h.flags.contains('F')) {
            (true, true) => "emulated".to_string(),
            (false, _) => "disabled".to_string(),
            (true, false) => "not usable: registered without the F flag".to_string(),
        };
        crate::outln!("{platform}\t{state} ({} {})", h.name, h.interpreter);
    }
    if emulation::emulated(&handlers).is_empty() {
        eprintln!(
            "no emulated platforms: install {} and run `rbuild setup binfmt`",
            emulation::EMULATOR_PACKAGE
        );
    }
    Ok(ExitCode::SUCCESS)
}
