//! `--chown` resolution against the target image's /etc/passwd and /etc/group.

/// Why a `--chown` value cannot be resolved.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ChownError {
    /// A user name not in /etc/passwd.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    User(String),
    /// A group name not in /etc/group.
    #[error("unable to find group {0}: no matching entries in group file")]
    Group(String),
}

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
    let (user, grp) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let uid = match user.parse::<u32>() {
        Ok(n) => n,
        Err(_) => lookup(passwd, user, 2).ok_or_else(|| ChownError::User(user.to_string()))?,
    };
    let gid = match grp {
        None => uid,
        Some(g) => match g.parse::<u32>() {
            Ok(n) => n,
            Err(_) => lookup(group, g, 2).ok_or_else(|| ChownError::Group(g.to_string()))?,
        },
    };
    Ok((uid, gid))
}

/// Finds `name` in a colon-separated database and returns the numeric field at `field`.
fn lookup(db: &str, name: &str, field: usize) -> Option<u32> {
    db.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&name))
        .and_then(|f| f.get(field)?.parse().ok())
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
            Err(ChownError::User("nobody".into()))
        );
        assert_eq!(
            resolve("app:nogroup", PASSWD, GROUP),
            Err(ChownError::Group("nogroup".into()))
        );
    }

    #[test]
    fn octal_modes() {
        assert_eq!(parse_octal_mode("0755"), Some(0o755));
        assert_eq!(parse_octal_mode("u+x"), None);
        assert_eq!(parse_octal_mode("77777"), None);
    }
}
