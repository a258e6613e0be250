//! `rbuild setup binfmt`: registers QEMU user-mode emulators with binfmt_misc.

use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use rbuild_sandbox::emulation;

use crate::cli::SetupCommand;

/// Where Debian's qemu-user-static puts its registrations (systemd-binfmt's format).
const BINFMT_D: &str = "/usr/lib/binfmt.d";

/// Runs a `setup` subcommand.
pub fn run(command: &SetupCommand) -> anyhow::Result<ExitCode> {
    match command {
        SetupCommand::Binfmt => binfmt(),
    }
}

fn binfmt() -> anyhow::Result<ExitCode> {
    let dir = emulation::ensure_mounted()
        .context("cannot mount binfmt_misc at /proc/sys/fs/binfmt_misc (needs root)")?;
    let registered = emulation::handlers(&dir);
    let pending = emulation::pending_registrations(Path::new(BINFMT_D), &registered);
    if pending.is_empty() && emulation::emulated(&registered).is_empty() {
        anyhow::bail!(
            "no QEMU emulators to register: install {} (it puts its registrations in {BINFMT_D})",
            emulation::EMULATOR_PACKAGE
        );
    }
    for (name, line) in &pending {
        match emulation::register(&dir, line) {
            // Registered meanwhile (another `setup binfmt` ran at the same time).
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::EXIST.raw_os_error()) => continue,
            r => {
                r.with_context(|| format!("cannot register {name} with binfmt_misc (needs root)"))?
            }
        }
        let platform = emulation::platform_of(name).unwrap_or("?");
        crate::outln!("registered {name} for {platform} (from {BINFMT_D}, flags F: works in RUN)");
    }
    for h in &registered {
        if let Some(platform) = emulation::platform_of(&h.name) {
            let usable = h.enabled && h.flags.contains('F');
            let note = if usable {
                "usable in RUN"
            } else {
                "not usable in RUN: needs the F flag and to be enabled"
            };
            crate::outln!("already registered: {} for {platform} ({note})", h.name);
        }
    }
    Ok(ExitCode::SUCCESS)
}
