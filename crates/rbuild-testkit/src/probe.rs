//! Prerequisite checks: a missing one fails the test with a message naming it, never a skip.

use std::path::PathBuf;

/// Panics unless the test runs as root.
pub fn require_root(what: &str) {
    // SAFETY-free: reading the effective uid through /proc avoids a libc call.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let euid = status
        .lines()
        .find(|l| l.starts_with("Uid:"))
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap_or("");
    assert_eq!(
        euid, "0",
        "{what} needs root (namespaces, overlayfs, chown): run the tests as root"
    );
}

/// Returns the path of `tool` on PATH, or panics naming the Debian package that provides it.
pub fn require_tool(tool: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path).chain(["/usr/sbin".into(), "/sbin".into()]) {
        let candidate = dir.join(tool);
        if candidate.is_file() {
            return candidate;
        }
    }
    panic!(
        "{tool} is missing: install the Debian package {package} (the README's test command does)"
    );
}
