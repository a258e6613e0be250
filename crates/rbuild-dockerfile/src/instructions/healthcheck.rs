//! HEALTHCHECK: `NONE` or `[--interval=..] CMD ...`.

use std::time::Duration;

use super::bflags::{Flags, Kind};
use super::duration::parse_go_duration;
use super::{Command, Healthcheck, ShellOrExec};
use crate::error::{ErrorKind, InstructionError};
use crate::parser::Node;

const FLAGS: &[(&str, Kind)] = &[
    ("interval", Kind::Str),
    ("timeout", Kind::Str),
    ("start-period", Kind::Str),
    ("start-interval", Kind::Str),
    ("retries", Kind::Str),
];

pub(crate) fn healthcheck(node: &Node) -> Result<Command, ErrorKind> {
    let Some((typ, rest)) = node.args.split_first() else {
        return Err(InstructionError::AtLeastOne {
            instruction: "HEALTHCHECK",
        }
        .into());
    };
    let typ = typ.to_uppercase();
    if typ == "NONE" {
        if !rest.is_empty() {
            return Err(InstructionError::HealthcheckNoneArgs.into());
        }
        return Ok(Command::Healthcheck(Healthcheck::None));
    }
    let flags = Flags::parse(&node.flags, FLAGS)?;
    if typ != "CMD" {
        return Err(InstructionError::HealthcheckType { kind: typ }.into());
    }
    let test = if node.json {
        ShellOrExec::Exec(rest.to_vec())
    } else {
        ShellOrExec::Shell(rest.join(" "))
    };
    let empty = match &test {
        ShellOrExec::Exec(v) => v.is_empty(),
        ShellOrExec::Shell(s) => s.is_empty(),
    };
    if empty {
        return Err(InstructionError::HealthcheckCommand.into());
    }
    Ok(Command::Healthcheck(Healthcheck::Check {
        test,
        interval: interval(&flags, "interval")?,
        timeout: interval(&flags, "timeout")?,
        start_period: interval(&flags, "start-period")?,
        start_interval: interval(&flags, "start-interval")?,
        retries: retries(&flags)?,
    }))
}

/// A duration flag: unset or zero is `None`; otherwise at least 1ms.
fn interval(flags: &Flags, flag: &'static str) -> Result<Option<Duration>, InstructionError> {
    let Some(v) = flags.str(flag) else {
        return Ok(None);
    };
    if v.is_empty() {
        return Ok(None);
    }
    let ns = parse_go_duration(&v).map_err(|source| InstructionError::Duration { flag, source })?;
    if ns == 0 {
        return Ok(None);
    }
    if ns < 1_000_000 {
        return Err(InstructionError::DurationTooShort { flag });
    }
    let ns = u64::try_from(ns).map_err(|_| InstructionError::DurationRange { flag })?;
    Ok(Some(Duration::from_nanos(ns)))
}

fn retries(flags: &Flags) -> Result<Option<u32>, InstructionError> {
    let Some(v) = flags.str("retries").filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    let n: i64 = v
        .parse()
        .ok()
        .filter(|n| i32::try_from(*n).is_ok())
        .ok_or_else(|| InstructionError::Retries { value: v.clone() })?;
    if n < 0 {
        return Err(InstructionError::NegativeRetries { value: n });
    }
    Ok(u32::try_from(n).ok())
}
