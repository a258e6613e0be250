//! The seccomp filter of a RUN: Docker's default profile unless the run is unconfined or names
//! a profile file, compiled by the builder into a classic BPF program (pure, see [`compile()`])
//! that the command installs last before exec, after no_new_privs.

pub mod bpf;
pub mod compile;
mod default;
pub mod profile;
mod syscalls;
#[cfg(test)]
mod tests;

pub use bpf::Insn;
pub use profile::Profile;

use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::sync::Mutex;

/// How a RUN's syscalls are filtered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum SeccompMode {
    /// Docker's default profile: what it does not allow fails with EPERM.
    #[default]
    Default,
    /// No filter (`--security-opt seccomp=unconfined`).
    Unconfined,
    /// A Docker-format JSON profile file (`--security-opt seccomp=PROFILE.json`).
    Profile(PathBuf),
}

impl SeccompMode {
    /// The mode a `seccomp=VALUE` security option names: `unconfined`, `builtin` (or `default`),
    /// else a profile file.
    pub fn from_security_opt(value: &str) -> SeccompMode {
        match value {
            "unconfined" => SeccompMode::Unconfined,
            "builtin" | "default" => SeccompMode::Default,
            path => SeccompMode::Profile(PathBuf::from(path)),
        }
    }
}

/// Why no filter could be made.
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// The profile file could not be read.
    #[error("read seccomp profile {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The profile file is not a Docker seccomp profile.
    #[error("parse seccomp profile {}", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The underlying error.
        #[source]
        source: serde_json::Error,
    },
    /// The profile file is valid JSON but cannot become a filter.
    #[error("seccomp profile {}", path.display())]
    Profile {
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: Box<SeccompError>,
    },
    /// SCMP_ACT_NOTIFY needs a listener process.
    #[error("SCMP_ACT_NOTIFY is not supported: rbuild runs no seccomp listener")]
    Notify,
    /// An argument index outside 0-5.
    #[error("argument index {index} of {syscall} is out of range (0-5)")]
    ArgIndex {
        /// The rule's first syscall.
        syscall: String,
        /// The index.
        index: u32,
    },
    /// The program is longer than the kernel accepts.
    #[error("the filter has {0} instructions, more than the kernel's {max}", max = bpf::MAX_INSNS)]
    TooLong(usize),
    /// No syscall table for this architecture.
    #[error("seccomp filters are not supported on this architecture ({0})")]
    Unsupported(&'static str),
}

/// Compiles `profile` for this architecture, a process with capabilities `caps` and the
/// kernel `kernel` (major, minor).
pub fn compile(
    profile: &Profile,
    caps: &[&str],
    kernel: (u32, u32),
) -> Result<Vec<Insn>, SeccompError> {
    let arch = compile::native().ok_or(SeccompError::Unsupported(std::env::consts::ARCH))?;
    let target = compile::Target { arch, caps, kernel };
    let plan = compile::plan(profile, &target, &syscalls::number, syscalls::highest())?;
    let program = bpf::program(&plan, &arch);
    if program.len() > bpf::MAX_INSNS {
        return Err(SeccompError::TooLong(program.len()));
    }
    Ok(program)
}

/// Docker's default profile as data.
pub fn default_profile() -> Profile {
    default::profile()
}

/// Reads and parses a Docker-format profile file.
pub fn read_profile(path: &std::path::Path) -> Result<Profile, SeccompError> {
    let text = std::fs::read(path).map_err(|source| SeccompError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    serde_json::from_slice(&text).map_err(|source| SeccompError::Parse {
        path: path.to_path_buf(),
        source,
    })
}

/// The running kernel's (major, minor), from /proc; (0, 0) when unreadable, which only keeps
/// rules that need a newer kernel out.
pub fn running_kernel() -> (u32, u32) {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .ok()
        .and_then(|r| compile::kernel_version(r.trim()))
        .unwrap_or((0, 0))
}

/// Docker's default profile compiled for `caps` and `kernel`, once per process: every RUN of
/// a build installs the same program.
fn default_program(caps: &[&str], kernel: (u32, u32)) -> Result<Vec<Insn>, SeccompError> {
    type Compiled = Vec<(Vec<String>, (u32, u32), Vec<Insn>)>;
    static COMPILED: Mutex<Compiled> = Mutex::new(Vec::new());
    let same = |(c, k, _): &&(Vec<String>, (u32, u32), Vec<Insn>)| *k == kernel && c == caps;
    if let Some((_, _, p)) = COMPILED
        .lock()
        .ok()
        .as_ref()
        .and_then(|v| v.iter().find(same))
    {
        return Ok(p.clone());
    }
    let program = compile(&default_profile(), caps, kernel)?;
    if let Ok(mut v) = COMPILED.lock() {
        v.push((
            caps.iter().map(|c| c.to_string()).collect(),
            kernel,
            program.clone(),
        ));
    }
    Ok(program)
}

/// The program a run installs: None when unconfined or insecure; `caps` are the capability
/// names of the command's bounding set.
pub fn program_for(
    mode: &SeccompMode,
    insecure: bool,
    caps: &[&str],
) -> Result<Option<Vec<Insn>>, SeccompError> {
    let kernel = running_kernel();
    match mode {
        _ if insecure => Ok(None),
        SeccompMode::Unconfined => Ok(None),
        SeccompMode::Default => default_program(caps, kernel).map(Some),
        SeccompMode::Profile(path) => {
            let profile = read_profile(path)?;
            compile(&profile, caps, kernel)
                .map(Some)
                .map_err(|e| SeccompError::Profile {
                    path: path.clone(),
                    source: Box::new(e),
                })
        }
    }
}
