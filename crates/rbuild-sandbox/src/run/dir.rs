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

/// What a run keeps in its directory.
const ENTRIES: &[&str] = &["root", "etc", "empty", "l", "secrets"];

/// The directory of one run: the caller's (emptied on drop) or a temp dir (removed on drop).
pub struct RunDir {
    path: PathBuf,
    owned: bool,
}

impl RunDir {
    /// Prepares root, etc (hosts, resolv.conf, hostname) and empty in `spec.run_dir`, or in a
    /// new temp dir named after the run.
    pub fn create(name: &str, spec: &RunSpec) -> Result<Self, SandboxError> {
        let dir = match &spec.run_dir {
            Some(p) => RunDir {
                path: p.clone(),
                owned: false,
            },
            None => RunDir {
                path: std::env::temp_dir().join(format!("rbuild-sandbox-{name}")),
                owned: true,
            },
        };
        for sub in subdirs(spec) {
            let p = dir.path.join(sub);
            std::fs::create_dir_all(&p).map_err(SandboxError::io("create", &p))?;
        }
        for (file, text) in etc_files(spec) {
            let p = dir.path.join("etc").join(file);
            std::fs::write(&p, text).map_err(SandboxError::io("write", &p))?;
        }
        Ok(dir)
    }

    /// A path inside the run directory.
    pub fn join(&self, sub: &str) -> PathBuf {
        self.path.join(sub)
    }
}

/// The directories a run needs: `empty` only for FROM scratch and `secrets` only with a
/// secret mount, since every directory made and removed per step costs the store's
/// filesystem an inode allocation (on ext4 without a journal, a scan past recently freed
/// ones).
fn subdirs(spec: &RunSpec) -> Vec<&'static str> {
    let mut dirs = vec!["root", "etc"];
    if spec.lowers.is_empty() {
        dirs.push("empty");
    }
    let secret = |m: &crate::spec::MountSpec| matches!(m, crate::spec::MountSpec::Secret { .. });
    if spec.extra_mounts.iter().any(secret) {
        dirs.push("secrets");
    }
    dirs
}

/// The generated /etc files: (name, contents).
fn etc_files(spec: &RunSpec) -> [(&'static str, String); 3] {
    let host = || std::fs::read_to_string("/etc/resolv.conf").unwrap_or_default();
    let resolv = match (&spec.resolv_conf, spec.network) {
        (Some(s), _) => s.clone(),
        (None, crate::spec::NetworkMode::Private) => crate::net::private_resolv_conf(&host()),
        (None, _) => host(),
    };
    let hosts = spec
        .hosts
        .clone()
        .unwrap_or_else(|| default_hosts(&spec.hostname));
    [
        ("hosts", hosts),
        ("resolv.conf", resolv),
        ("hostname", format!("{}\n", spec.hostname)),
    ]
}

impl Drop for RunDir {
    fn drop(&mut self) {
        // The overlay lived only in the init's mount namespace, which is gone by now.
        if self.owned {
            let _ = std::fs::remove_dir_all(&self.path);
            return;
        }
        for e in ENTRIES {
            let _ = std::fs::remove_dir_all(self.path.join(e));
        }
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

    #[test]
    fn f10_a_given_run_dir_is_used_and_emptied_but_kept() {
        let base =
            std::env::temp_dir().join(format!("rbuild-sandbox-unit-f10-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&base);
        std::fs::create_dir_all(&base).unwrap();
        let spec = RunSpec {
            hostname: "box".into(),
            resolv_conf: Some("nameserver 10.0.0.1\n".into()),
            run_dir: Some(base.clone()),
            ..Default::default()
        };
        let dir = RunDir::create("unit", &spec).unwrap();
        assert_eq!(dir.join("root"), base.join("root"));
        assert_eq!(
            std::fs::read_to_string(base.join("etc/hostname")).unwrap(),
            "box\n"
        );
        assert!(
            base.join("empty").is_dir(),
            "FROM scratch needs the empty lower"
        );
        assert!(
            !base.join("secrets").exists(),
            "no secret mount, no secrets dir"
        );
        drop(dir);
        assert!(base.is_dir(), "the caller's dir must stay");
        assert_eq!(std::fs::read_dir(&base).unwrap().count(), 0);
        std::fs::remove_dir(&base).unwrap();
    }
}
