//! AST nodes to typed stages and instructions.

use super::bflags::{Flags, Kind};
use super::{copy, healthcheck, run, simple, Command, Dockerfile, Instruction, Stage};
use crate::error::{Error, ErrorKind, InstructionError, Warning};
use crate::parser::{self, Node};

/// Parses a Dockerfile into directives, meta ARGs and stages of typed instructions.
pub fn parse_dockerfile(text: &str) -> Result<Dockerfile, Error> {
    let ast = parser::parse(text)?;
    let mut df = Dockerfile {
        directives: ast.directives.clone(),
        meta_args: Vec::new(),
        stages: Vec::new(),
        warnings: ast.warnings.clone(),
    };
    for node in &ast.nodes {
        let loc = node.location();
        if node.keyword == "from" {
            let stage = parse_from(node).map_err(|m| Error::at(m, loc))?;
            if let Some(name) = &stage.name {
                if df.stages.iter().any(|s| s.name.as_ref() == Some(name)) {
                    let name = name.clone();
                    return Err(Error::at(InstructionError::DuplicateStage { name }, loc));
                }
            }
            df.stages.push(stage);
            continue;
        }
        let inst = instruction(node, ast.directives.escape, &mut df.warnings)?;
        match (df.stages.last_mut(), inst.command) {
            (Some(stage), command) => {
                stage.location.end_line = loc.end_line;
                stage.instructions.push(Instruction { command, ..inst });
            }
            (None, Command::Arg(args)) => df.meta_args.extend(args),
            (None, _) => return Err(Error::at(InstructionError::NoStage, loc)),
        }
    }
    if df.stages.is_empty() {
        return Err(Error::new(InstructionError::NoStages));
    }
    Ok(df)
}

/// Parses one ONBUILD trigger text into an instruction (used when an image with triggers is
/// used as a base). Line numbers are relative to the trigger text.
pub fn parse_trigger(text: &str, escape: char) -> Result<Instruction, Error> {
    let ast = parser::parse_with(text, escape, false)?;
    let [node] = ast.nodes.as_slice() else {
        let text = text.to_string();
        return Err(Error::new(InstructionError::TriggerNotOne { text }));
    };
    match node.keyword.as_str() {
        "onbuild" => Err(Error::at(InstructionError::OnbuildChain, node.location())),
        k @ ("from" | "maintainer") => {
            let instruction = k.to_uppercase();
            let kind = InstructionError::OnbuildTrigger { instruction };
            Err(Error::at(kind, node.location()))
        }
        _ => instruction(node, escape, &mut Vec::new()),
    }
}

/// `FROM [--platform=p] image [AS name]`.
fn parse_from(node: &Node) -> Result<Stage, ErrorKind> {
    let flags = Flags::parse(&node.flags, &[("platform", Kind::Str)])?;
    let (base, name) = match node.args.as_slice() {
        [base] => (base, None),
        [base, as_kw, name] if as_kw.eq_ignore_ascii_case("as") => {
            (base, Some(name.to_lowercase()))
        }
        _ => return Err(InstructionError::FromArguments.into()),
    };
    if let Some(n) = &name {
        if !valid_stage_name(n) {
            return Err(InstructionError::StageName { name: n.clone() }.into());
        }
    }
    Ok(Stage {
        name,
        base: base.clone(),
        platform: flags.str("platform"),
        instructions: Vec::new(),
        location: node.location(),
        source: node.original.clone(),
    })
}

/// `^[a-z][a-z0-9-_\.]*$`
fn valid_stage_name(n: &str) -> bool {
    let mut chars = n.chars();
    chars.next().is_some_and(|c| c.is_ascii_lowercase())
        && chars
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '-' | '_' | '.'))
}

/// Converts any non-FROM node; errors carry the node's location.
fn instruction(
    node: &Node,
    escape: char,
    warnings: &mut Vec<Warning>,
) -> Result<Instruction, Error> {
    let loc = node.location();
    let command = command(node, escape, warnings).map_err(|m| Error::at(m, loc))?;
    Ok(Instruction {
        command,
        location: loc,
        source: node.original.clone(),
    })
}

fn command(node: &Node, escape: char, warnings: &mut Vec<Warning>) -> Result<Command, ErrorKind> {
    let warn = |warnings: &mut Vec<Warning>, message: String| {
        warnings.push(Warning {
            line: node.start_line,
            message,
        })
    };
    match node.keyword.as_str() {
        "run" => run::run(node),
        "copy" => copy::copy(node),
        "add" => copy::add(node),
        "env" => simple::key_values(node, "ENV", warnings).map(Command::Env),
        "label" => simple::key_values(node, "LABEL", warnings).map(Command::Label),
        "arg" => simple::arg(node),
        "cmd" => simple::cmd_like(node, false),
        "entrypoint" => simple::cmd_like(node, true),
        "shell" => simple::shell(node),
        "workdir" | "user" | "stopsignal" => simple::single(node),
        "maintainer" => {
            warn(
                warnings,
                "MAINTAINER instruction is deprecated in favor of using label".into(),
            );
            simple::single(node)
        }
        "expose" => simple::expose(node),
        "volume" => simple::volume(node),
        "healthcheck" => healthcheck::healthcheck(node),
        "onbuild" => {
            let cmd = simple::onbuild(node)?;
            if let Command::OnBuild(text) = &cmd {
                if let Err(e) = parse_trigger(text, escape) {
                    warn(
                        warnings,
                        format!("ONBUILD trigger will fail when used: {}", e.message()),
                    );
                }
            }
            Ok(cmd)
        }
        "from" => Err(InstructionError::FromNotAllowed.into()),
        _ => {
            let word = node.original.split_whitespace().next().unwrap_or_default();
            let suggestion = crate::suggest::instruction(word);
            Err(InstructionError::Unknown {
                word: word.into(),
                suggestion,
            }
            .into())
        }
    }
}
