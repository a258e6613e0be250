//! Expansion of exactly the fields the Dockerfile reference says are expanded.

use super::{Env, Lexer};
use crate::error::{ExpandError, ExpandErrorKind, MountError};
use crate::instructions::{
    parse_mount_expanded, validate_port, AddCmd, ArgDecl, Command, CopyCmd, KeyValue, RunCmd,
};
use crate::parser::parse_heredoc_word;

/// Expands the fields of ADD COPY ENV EXPOSE LABEL STOPSIGNAL USER VOLUME WORKDIR ARG (and
/// RUN `--mount` values, which are then re-parsed). RUN, CMD, ENTRYPOINT, SHELL, ONBUILD,
/// HEALTHCHECK and MAINTAINER are returned unchanged; heredoc bodies are not expanded here.
pub fn expand_command(cmd: &Command, lexer: &Lexer, env: &dyn Env) -> Result<Command, ExpandError> {
    let w = |s: &String| lexer.expand_word(s, env);
    let opt = |s: &Option<String>| s.as_ref().map(w).transpose();
    let all = |v: &Vec<String>| v.iter().map(w).collect::<Result<Vec<_>, _>>();
    Ok(match cmd {
        Command::Run(r) => Command::Run(expand_run(r, lexer, env)?),
        Command::Copy(c) => Command::Copy(CopyCmd {
            sources: sources(&c.sources, lexer, env)?,
            dest: w(&c.dest)?,
            // `--from` is never expanded: BuildKit refuses a value expansion would change.
            chown: opt(&c.chown)?,
            chmod: opt(&c.chmod)?,
            exclude: all(&c.exclude)?,
            ..c.clone()
        }),
        Command::Add(a) => Command::Add(AddCmd {
            sources: sources(&a.sources, lexer, env)?,
            dest: w(&a.dest)?,
            chown: opt(&a.chown)?,
            chmod: opt(&a.chmod)?,
            checksum: opt(&a.checksum)?,
            exclude: all(&a.exclude)?,
            ..a.clone()
        }),
        Command::Env(kv) => Command::Env(pairs(kv, lexer, env)?),
        Command::Label(kv) => Command::Label(pairs(kv, lexer, env)?),
        Command::Arg(args) => Command::Arg(
            args.iter()
                .map(|a| {
                    Ok(ArgDecl {
                        name: w(&a.name)?,
                        default: opt(&a.default)?,
                    })
                })
                .collect::<Result<_, ExpandError>>()?,
        ),
        Command::Workdir(s) => Command::Workdir(w(s)?),
        Command::User(s) => Command::User(w(s)?),
        Command::StopSignal(s) => Command::StopSignal(w(s)?),
        Command::Volume(v) => Command::Volume(all(v)?),
        Command::Expose(v) => Command::Expose(expose(v, lexer, env)?),
        other => other.clone(),
    })
}

/// Heredoc source words (`<<EOF`) are markers, not paths: they stay as written.
fn sources(srcs: &[String], lexer: &Lexer, env: &dyn Env) -> Result<Vec<String>, ExpandError> {
    srcs.iter()
        .map(|s| match parse_heredoc_word(s) {
            Some(_) => Ok(s.clone()),
            None => lexer.expand_word(s, env),
        })
        .collect()
}

fn pairs(kv: &[KeyValue], lexer: &Lexer, env: &dyn Env) -> Result<Vec<KeyValue>, ExpandError> {
    kv.iter()
        .map(|p| {
            Ok(KeyValue {
                key: lexer.expand_word(&p.key, env)?,
                value: lexer.expand_word(&p.value, env)?,
            })
        })
        .collect()
}

fn expose(ports: &[String], lexer: &Lexer, env: &dyn Env) -> Result<Vec<String>, ExpandError> {
    let mut out = Vec::new();
    for p in ports {
        for word in lexer.expand_words(p, env)? {
            validate_port(&word).map_err(|e| ExpandError {
                word: p.clone(),
                kind: ExpandErrorKind::Port(e),
            })?;
            out.push(word);
        }
    }
    Ok(out)
}

fn expand_run(r: &RunCmd, lexer: &Lexer, env: &dyn Env) -> Result<RunCmd, ExpandError> {
    let mut mounts = Vec::new();
    for spec in &r.mount_specs {
        let mut expand = |v: &str| lexer.expand_word(v, env);
        let m = parse_mount_expanded(spec, &mut expand).map_err(|e| match e {
            MountError::Expand(e) => e,
            e => ExpandError {
                word: spec.clone(),
                kind: ExpandErrorKind::Mount(Box::new(e)),
            },
        })?;
        mounts.push(m);
    }
    Ok(RunCmd {
        mounts,
        ..r.clone()
    })
}
