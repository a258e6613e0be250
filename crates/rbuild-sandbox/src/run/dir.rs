//! The host-side directory of one run: the overlay's mountpoint, the generated /etc files and
//! an empty lower for FROM scratch.

use crate::error::SandboxError;
use crate::spec::RunSpec;
use std::path::PathBuf;

/// Default /etc/hosts: localhost plus the hostname.
pub fn default_hosts(hostname: &str) -> String {
    let mut s = String::from("127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n");
    if !hostname.is_empty() && hostname != "localhost" {
        s.push_str(&format!("127.0.0.1\t{hostname}\n"));
    }
    s
}

/// The temp dir of one run; removed on drop.
pub struct RunDir(pub PathBuf);

impl RunDir {
    /// Creates the directory of run `name` with root, etc and empty inside.
    pub fn create(name: &str, spec: &RunSpec) -> Result<Self, SandboxError> {
        let dir = RunDir(std::env::temp_dir().join(format!("rbuild-sandbox-{name}")));
        for sub in ["root", "etc", "empty"] {
            let p = dir.0.join(sub);
            std::fs::create_dir_all(&p).map_err(SandboxError::io("create", &p))?;
        }
        let resolv = match &spec.resolv_conf {
            Some(s) => s.clone(),
            None => std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default(),
        };
        let hosts = spec
            .hosts
            .clone()
            .unwrap_or_else(|| default_hosts(&spec.hostname));
        for (name, text) in [
            ("hosts", hosts),
            ("resolv.conf", resolv),
            ("hostname", format!("{}\n", spec.hostname)),
        ] {
            let p = dir.0.join("etc").join(name);
            std::fs::write(&p, text).map_err(SandboxError::io("write", &p))?;
        }
        Ok(dir)
    }
}

impl Drop for RunDir {
    fn drop(&mut self) {
        // The overlay lived only in the init's mount namespace, which is gone by now.
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts_default_names_hostname() {
        assert!(default_hosts("box").contains("127.0.0.1\tbox\n"));
        assert!(!default_hosts("").contains("\t\n"));
    }
}
