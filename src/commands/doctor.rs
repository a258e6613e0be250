//! `rbuild doctor`: each sandbox requirement of this machine, what was found, and the fix.

use std::process::ExitCode;

use rbuild_sandbox::doctor::{self, Check, Status};

/// Prints every check; exits 1 when a requirement this user needs is missing.
pub fn run() -> anyhow::Result<ExitCode> {
    let checks = doctor::doctor();
    for c in &checks {
        crate::outln!("{}", line(c));
    }
    let missing = checks
        .iter()
        .filter(|c| c.status == Status::Missing)
        .count();
    if missing > 0 {
        crate::outln!(
            "{missing} requirement(s) missing: rbuild cannot run RUN steps here until fixed"
        );
        return Ok(ExitCode::from(1));
    }
    crate::outln!("everything a build needs is here");
    Ok(ExitCode::SUCCESS)
}

/// `ok       NAME: DETAIL`, with `  fix: COMMAND` when it is not met.
fn line(c: &Check) -> String {
    let status = match c.status {
        Status::Ok => "ok",
        Status::Missing => "MISSING",
        Status::Optional => "optional",
    };
    let mut s = format!("{status:<9}{}: {}", c.name, c.detail);
    if let (Some(fix), false) = (&c.fix, c.status == Status::Ok) {
        s.push_str(&format!("\n         fix: {fix}"));
    }
    s
}
