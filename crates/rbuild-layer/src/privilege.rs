//! Whether this process is root on the host, or root only inside a user namespace (a rootless
//! rbuild), where the kernel refuses chown to unmapped ids, device nodes and trusted.* xattrs.

/// True when this process is root on the host: euid 0 in the initial user namespace. Read
/// once: a rootless rbuild enters its namespace first thing in `main`, and never leaves it.
pub fn host_root() -> bool {
    static ROOT: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ROOT.get_or_init(|| {
        rustix::process::geteuid().is_root()
            && std::fs::read_to_string("/proc/self/uid_map").is_ok_and(|m| is_initial(&m))
    })
}

/// The initial namespace's map is the identity over every id.
fn is_initial(uid_map: &str) -> bool {
    uid_map.split_whitespace().eq(["0", "0", "4294967295"])
}

#[cfg(test)]
mod tests {
    #[test]
    fn only_the_identity_map_is_the_host() {
        assert!(super::is_initial("         0          0 4294967295\n"));
        assert!(!super::is_initial("0 1000 1\n1 100000 65536\n"));
        assert!(!super::is_initial(""));
    }
}
