//! The environment the system `git` runs in for an ADD: nothing of the host's configuration,
//! keys or agent, as BuildKit's git source (`util/gitutil/git_cli.go`) runs it. Over ssh, git
//! authenticates only with the agent the build forwards (`--ssh`).

use std::path::{Path, PathBuf};
use std::process::Command;

/// What git may use to reach a remote: the agent `--ssh` forwards, if any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Transport {
    /// The socket of the forwarded (or rbuild-served) agent; `None`: no ssh authentication.
    pub agent: Option<PathBuf>,
}

/// Proxy variables passed through, as BuildKit does; everything else of the host's
/// environment is left out.
const PROXY_VARS: [&str; 8] = [
    "HTTP_PROXY",
    "HTTPS_PROXY",
    "NO_PROXY",
    "ALL_PROXY",
    "http_proxy",
    "https_proxy",
    "no_proxy",
    "all_proxy",
];

/// A `git` command with a clean environment: no system or global git configuration (they
/// could rewrite URLs, set `core.sshCommand` or credential helpers), `HOME=/dev/null`, and
/// `GIT_SSH_COMMAND` from [`ssh_command`].
pub(crate) fn command(transport: &Transport) -> Command {
    let mut cmd = Command::new("git");
    cmd.env_clear();
    if let Some(path) = std::env::var_os("PATH") {
        cmd.env("PATH", path);
    }
    for var in PROXY_VARS {
        if let Some(v) = std::env::var_os(var) {
            cmd.env(var, v);
        }
    }
    cmd.env("GIT_TERMINAL_PROMPT", "0")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("HOME", "/dev/null")
        .env("LC_ALL", "C")
        .env("GIT_SSH_VARIANT", "ssh")
        .env("GIT_SSH_COMMAND", ssh_command(transport.agent.as_deref()));
    if let Some(agent) = &transport.agent {
        cmd.env("SSH_AUTH_SOCK", agent);
    }
    // A repository must not pull a local path in as a submodule (BuildKit does the same).
    cmd.args(["-c", "protocol.file.allow=user"]);
    cmd
}

/// The ssh command git runs: no configuration file (`-F /dev/null` also skips
/// /etc/ssh/ssh_config), no identity file (`IdentityFile=none` keeps ssh from trying
/// `~/.ssh/id_*` of the user's passwd home, which `HOME` does not move), only the given agent
/// (`IdentityAgent`, `none` without one), never a prompt. Host keys: BuildKit's Dockerfile
/// frontend scans the server's key when it builds the source (`ssh-keyscan`, trust on first
/// use) or else sets `StrictHostKeyChecking=no`; either way the key the server presents is
/// accepted and the host's `known_hosts` is neither read nor written. rbuild does the same.
pub(crate) fn ssh_command(agent: Option<&Path>) -> String {
    let agent = agent.map_or_else(|| "none".to_string(), |p| p.to_string_lossy().to_string());
    [
        "ssh",
        "-F",
        "/dev/null",
        "-o",
        "IdentityFile=none",
        "-o",
        &format!("IdentityAgent={}", shell_quote(&agent)),
        "-o",
        "BatchMode=yes",
        "-o",
        "StrictHostKeyChecking=no",
        "-o",
        "UserKnownHostsFile=/dev/null",
        "-o",
        "GlobalKnownHostsFile=/dev/null",
        "-o",
        "LogLevel=ERROR",
    ]
    .join(" ")
}

/// `s` quoted for `sh` (git runs `GIT_SSH_COMMAND` through the shell).
fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', r"'\''"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_uses_only_the_given_agent_and_no_host_files() {
        let cmd = ssh_command(Some(Path::new("/run/a b'c/agent.sock")));
        assert!(cmd.starts_with("ssh -F /dev/null "), "{cmd}");
        assert!(cmd.contains("-o IdentityFile=none"), "{cmd}");
        assert!(
            cmd.contains(r"-o IdentityAgent='/run/a b'\''c/agent.sock'"),
            "{cmd}"
        );
        assert!(cmd.contains("UserKnownHostsFile=/dev/null"), "{cmd}");
        assert!(ssh_command(None).contains("IdentityAgent='none'"));
    }

    #[test]
    fn git_sees_no_host_configuration() {
        let cmd = command(&Transport {
            agent: Some("/s".into()),
        });
        let envs: Vec<(String, Option<String>)> = cmd
            .get_envs()
            .map(|(k, v)| {
                let v = v.map(|v| v.to_string_lossy().to_string());
                (k.to_string_lossy().to_string(), v)
            })
            .collect();
        let get = |k: &str| {
            envs.iter()
                .find(|(n, _)| n == k)
                .and_then(|(_, v)| v.clone())
        };
        assert_eq!(get("HOME").as_deref(), Some("/dev/null"));
        assert_eq!(get("GIT_CONFIG_NOSYSTEM").as_deref(), Some("1"));
        assert_eq!(get("GIT_CONFIG_GLOBAL").as_deref(), Some("/dev/null"));
        assert_eq!(get("SSH_AUTH_SOCK").as_deref(), Some("/s"));
        let none = command(&Transport::default());
        assert!(!none.get_envs().any(|(k, _)| k == "SSH_AUTH_SOCK"));
    }
}
