//! `--chown` resolution against the target image's /etc/passwd and /etc/group; the parsing and
//! the rules live in [`rbuild_oci::user`], shared with the sandbox's USER.

/// Why a `--chown` value cannot be resolved (the shared user-spec error).
pub type ChownError = rbuild_oci::user::UserError;

/// Resolves `user[:group]` against the `/etc/passwd` and `/etc/group` of the image `lower`
/// shows (missing files count as empty).
pub fn resolve_in(spec: &str, lower: &super::tree::Tree) -> Result<(u32, u32), ChownError> {
    let read = |p: &str| {
        lower
            .resolve(p, true)
            .and_then(|f| std::fs::read_to_string(f.real).ok())
            .unwrap_or_default()
    };
    resolve(spec, &read("etc/passwd"), &read("etc/group"))
}

/// Resolves `user[:group]` (names or ids) to numeric ids. A lone user gives gid = uid, as Docker does.
pub fn resolve(spec: &str, passwd: &str, group: &str) -> Result<(u32, u32), ChownError> {
    rbuild_oci::user::resolve_chown(spec, passwd, group)
}

/// Parses an octal `--chmod` value (e.g. `0755`, `644`).
pub fn parse_octal_mode(s: &str) -> Option<u32> {
    u32::from_str_radix(s, 8).ok().filter(|m| *m <= 0o7777)
}

#[cfg(test)]
mod tests {
    use super::*;

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1001::/home/app:/bin/sh\n";
    const GROUP: &str = "root:x:0:\nstaff:x:50:app\n";

    #[test]
    fn resolves_names_and_ids() {
        assert_eq!(resolve("app", PASSWD, GROUP), Ok((1000, 1000)));
        assert_eq!(resolve("app:staff", PASSWD, GROUP), Ok((1000, 50)));
        assert_eq!(resolve("10:11", "", ""), Ok((10, 11)));
        assert_eq!(
            resolve("nobody", PASSWD, GROUP),
            Err(ChownError::UnknownUser("nobody".into()))
        );
        assert_eq!(
            resolve("app:nogroup", PASSWD, GROUP),
            Err(ChownError::UnknownGroup("nogroup".into()))
        );
    }

    #[test]
    fn octal_modes() {
        assert_eq!(parse_octal_mode("0755"), Some(0o755));
        assert_eq!(parse_octal_mode("u+x"), None);
        assert_eq!(parse_octal_mode("77777"), None);
    }
}
