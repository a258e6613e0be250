//! RUN and its `--mount`, `--network` and `--security` flags.

use super::bflags::{Flags, Kind};
use super::copy::heredocs_of;
use super::mount::parse_mount_raw;
use super::simple::shell_or_exec;
use super::{Command, RunCmd};
use crate::error::{ErrorKind, InstructionError};
use crate::parser::Node;

const RUN_FLAGS: &[(&str, Kind)] = &[
    ("mount", Kind::Strs),
    ("network", Kind::Str),
    ("security", Kind::Str),
];

pub(crate) fn run(node: &Node) -> Result<Command, ErrorKind> {
    let f = Flags::parse(&node.flags, RUN_FLAGS)?;
    // A bare `RUN` is BuildKit's `/bin/sh -c ""`: an empty shell form, not an error.
    let cmd = shell_or_exec(node);
    // BuildKit's post-parse hooks run in file order: mounts, then network, then security.
    let mount_specs = f.strs("mount");
    let mounts = mount_specs
        .iter()
        .map(|spec| parse_mount_raw(spec))
        .collect::<Result<Vec<_>, _>>()?;
    let network = f.str("network");
    if let Some(n) = &network {
        if !matches!(n.as_str(), "default" | "none" | "host") {
            return Err(InstructionError::Network { value: n.clone() }.into());
        }
    }
    let security = f.str("security");
    if let Some(s) = &security {
        if !matches!(s.as_str(), "sandbox" | "insecure") {
            return Err(InstructionError::Security { value: s.clone() }.into());
        }
    }
    Ok(Command::Run(RunCmd {
        cmd,
        heredocs: heredocs_of(node),
        mounts,
        network,
        security,
        mount_specs,
    }))
}
