//! The private network of a RUN: its own network namespace, connected to the outside by
//! slirp4netns (user-mode NAT: 10.0.2.100/24, gateway 10.0.2.2, DNS forwarder 10.0.2.3) with
//! the host's loopback out of reach. The builder finds the helper and writes resolv.conf; the
//! init starts the helper on its new namespace (see `sys::net`) and waits until it is ready.
//!
//! Why slirp4netns (bench/network.sh, 20 runs on this 2-core VM): ~10 ms per RUN and 3.4 MB
//! of helper memory, against ~55 ms and 30 MB for pasta and ~80 ms for a veth pair configured
//! with ip(8) on a masqueraded bridge; a 8.8 MB download ran at the host's speed through both
//! helpers. Its ready and exit descriptors tie it to the init: it leaves when the init does,
//! even if the builder is killed, and nothing is left on the host (no bridge, no NAT rule, no
//! forwarding sysctl). pasta drops its capabilities before opening /proc/PID/ns/net (refused
//! for a root target), stays alive when the namespace dies, and here reached the host's
//! resolver only through --dns-forward.

use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The helper's executable name.
pub const HELPER: &str = "slirp4netns";
/// Where the helper answers DNS inside the namespace (it forwards to the host's resolver).
pub const DNS_FORWARDER: &str = "10.0.2.3";
/// The largest MTU the helper accepts: bulk downloads run at the host's speed with it.
pub const MTU: u32 = 65520;
/// The interface name inside the namespace: `eth0`, as BuildKit's bridge network names it
/// (tools and scripts in RUN steps look for it; BuildKit's testRunDefaultNetwork).
pub const INTERFACE: &str = "eth0";

/// Why the private network could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum NetError {
    /// The helper is not installed.
    #[error(
        "the private network of a RUN needs {HELPER}, which is not in PATH \
         (install it: apt-get install slirp4netns; or use --network=host or --network=none)"
    )]
    HelperMissing,
    /// A step of starting the helper failed.
    #[error("start {HELPER}: {step}")]
    Start {
        /// The step.
        step: &'static str,
        /// The underlying error.
        #[source]
        source: std::io::Error,
    },
    /// The helper ended before the network was configured.
    #[error("{HELPER} ended before the network was ready ({status}): {log}")]
    NotReady {
        /// How it ended.
        status: String,
        /// The end of its log.
        log: String,
    },
}

/// What the init needs to start the helper.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Helper {
    /// The helper's absolute path.
    pub exe: PathBuf,
    /// A host file for its output, read when it fails.
    pub log: PathBuf,
}

/// The helper's arguments for the namespace of process `pid`, signalling readiness on
/// `ready_fd` and leaving when `exit_fd` reaches end of file.
pub fn helper_args(pid: u32, ready_fd: i32, exit_fd: i32) -> Vec<String> {
    vec![
        HELPER.to_string(),
        "--configure".into(),
        format!("--mtu={MTU}"),
        // Connections to 10.0.2.2 would otherwise reach the host's 127.0.0.1.
        "--disable-host-loopback".into(),
        // Its own mount namespace without the host's files, and a seccomp filter.
        "--enable-sandbox".into(),
        "--enable-seccomp".into(),
        format!("--ready-fd={ready_fd}"),
        format!("--exit-fd={exit_fd}"),
        pid.to_string(),
        INTERFACE.into(),
    ]
}

/// resolv.conf for a private network: the host's, with loopback nameservers (systemd-resolved's
/// 127.0.0.53, a local dnsmasq...) replaced by the helper's forwarder, which reaches them from
/// the host side; others stay, reachable through the NAT. No nameserver at all gives the
/// forwarder, which then uses the host's resolver configuration.
pub fn private_resolv_conf(host: &str) -> String {
    let mut out = String::new();
    let mut servers = Vec::new();
    for line in host.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("nameserver") {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        let addr = words.next().unwrap_or("");
        let addr = if is_loopback(addr) {
            DNS_FORWARDER
        } else {
            addr
        };
        if !addr.is_empty() && !servers.contains(&addr) {
            servers.push(addr);
        }
    }
    if servers.is_empty() {
        servers.push(DNS_FORWARDER);
    }
    for s in servers {
        out.push_str(&format!("nameserver {s}\n"));
    }
    out
}

fn is_loopback(addr: &str) -> bool {
    // A zone suffix (fe80::1%eth0) does not parse; such a link-local server is not loopback.
    addr.parse::<std::net::IpAddr>()
        .is_ok_and(|ip| ip.is_loopback())
}

/// The helper in `path` (a PATH value), as an absolute path.
pub fn find_helper(path: &str) -> Result<PathBuf, NetError> {
    path.split(':')
        .filter(|d| d.starts_with('/'))
        .map(|d| Path::new(d).join(HELPER))
        .find(|p| is_executable(p))
        .ok_or(NetError::HelperMissing)
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// The last lines of the helper's log, for an error message.
pub fn log_tail(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    let tail = lines[lines.len().saturating_sub(3)..].join("; ");
    if tail.is_empty() {
        "no output".into()
    } else {
        tail
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_resolvers_become_the_forwarder() {
        let host =
            "# generated\nnameserver 127.0.0.53\noptions edns0 trust-ad\nsearch example.org\n";
        assert_eq!(
            private_resolv_conf(host),
            "# generated\noptions edns0 trust-ad\nsearch example.org\nnameserver 10.0.2.3\n"
        );
        let host = "nameserver ::1\nnameserver 10.255.255.53\nnameserver 127.0.0.1\n";
        assert_eq!(
            private_resolv_conf(host),
            "nameserver 10.0.2.3\nnameserver 10.255.255.53\n"
        );
        assert_eq!(private_resolv_conf(""), "nameserver 10.0.2.3\n");
        assert_eq!(
            private_resolv_conf("nameserver 192.0.2.53\n"),
            "nameserver 192.0.2.53\n"
        );
    }

    #[test]
    fn helper_arguments() {
        let a = helper_args(42, 3, 4);
        assert_eq!(a[0], "slirp4netns");
        assert!(a.contains(&"--disable-host-loopback".to_string()));
        assert!(a.contains(&"--ready-fd=3".to_string()) && a.contains(&"--exit-fd=4".to_string()));
        assert_eq!(&a[a.len() - 2..], ["42", "eth0"]);
    }

    #[test]
    fn the_helper_is_found_in_path_or_named_with_its_fix() {
        let e = find_helper("/no/such/dir:relative").unwrap_err();
        assert!(e.to_string().contains("apt-get install slirp4netns"), "{e}");
    }
}
