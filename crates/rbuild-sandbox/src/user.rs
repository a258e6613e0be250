//! USER of a step: resolution from the image's /etc/passwd and /etc/group is the shared
//! [`rbuild_oci::user`]; this module adds what only a running process needs (HOME).

pub use rbuild_oci::user::{
    parse_group, parse_passwd, resolve_user, GroupEntry, PasswdEntry, ResolvedUser, UserError,
};

/// Adds HOME from the resolved user when the environment does not set it (as Docker does).
pub fn env_with_home(env: &[String], home: &str) -> Vec<String> {
    let mut out = env.to_vec();
    if !env.iter().any(|e| e.starts_with("HOME=")) {
        out.push(format!("HOME={home}"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_only_when_missing() {
        let env = vec!["PATH=/bin".to_string()];
        assert_eq!(env_with_home(&env, "/root")[1], "HOME=/root");
        let env = vec!["HOME=/x".to_string()];
        assert_eq!(env_with_home(&env, "/root"), env);
    }
}
