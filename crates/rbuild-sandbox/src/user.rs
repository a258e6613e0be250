//! USER resolution from the image's /etc/passwd and /etc/group (pure parsers).

/// Errors resolving a USER spec.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// A user name that is not in /etc/passwd.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UnknownUser(String),
    /// A group name that is not in /etc/group.
    #[error("unable to find group {0}: no matching entries in group file")]
    UnknownGroup(String),
    /// An id that is out of range or malformed.
    #[error("invalid user spec {0:?}")]
    Invalid(String),
}

/// One line of /etc/passwd.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PasswdEntry {
    /// Login name.
    pub name: String,
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Home directory.
    pub home: String,
}

/// One line of /etc/group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupEntry {
    /// Group name.
    pub name: String,
    /// Group id.
    pub gid: u32,
    /// User names listed as members.
    pub members: Vec<String>,
}

/// The ids a process runs with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResolvedUser {
    /// User id.
    pub uid: u32,
    /// Primary group id.
    pub gid: u32,
    /// Supplementary group ids.
    pub groups: Vec<u32>,
    /// Home directory (used for HOME when the env has none).
    pub home: String,
}

/// Parses /etc/passwd, skipping malformed lines and comments like libc does.
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 6 || f[0].is_empty() || line.starts_with('#') {
                return None;
            }
            Some(PasswdEntry {
                name: f[0].to_string(),
                uid: f[2].trim().parse().ok()?,
                gid: f[3].trim().parse().ok()?,
                home: f[5].to_string(),
            })
        })
        .collect()
}

/// Parses /etc/group, skipping malformed lines and comments.
pub fn parse_group(text: &str) -> Vec<GroupEntry> {
    text.lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split(':').collect();
            if f.len() < 3 || f[0].is_empty() || line.starts_with('#') {
                return None;
            }
            let members = f.get(3).map_or(Vec::new(), |m| {
                m.split(',')
                    .map(str::trim)
                    .filter(|s| !s.is_empty())
                    .map(String::from)
                    .collect()
            });
            Some(GroupEntry {
                name: f[0].to_string(),
                gid: f[2].trim().parse().ok()?,
                members,
            })
        })
        .collect()
}

fn parse_id(s: &str, spec: &str) -> Result<Option<u32>, UserError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| UserError::Invalid(spec.to_string()))
}

/// Resolves a Dockerfile USER value ("", "name", "uid", "name:group", "uid:gid") against
/// the contents of the image's /etc/passwd and /etc/group (empty strings if absent).
pub fn resolve_user(spec: &str, passwd: &str, group: &str) -> Result<ResolvedUser, UserError> {
    let (user_part, group_part) = match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    };
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let users = parse_passwd(passwd);
    let groups = parse_group(group);
    let entry = match parse_id(user_part, spec)? {
        Some(uid) => users.iter().find(|u| u.uid == uid),
        None => Some(
            users
                .iter()
                .find(|u| u.name == user_part)
                .ok_or_else(|| UserError::UnknownUser(user_part.to_string()))?,
        ),
    };
    let uid = match entry {
        Some(e) => e.uid,
        None => parse_id(user_part, spec)?.unwrap_or(0),
    };
    let home = entry
        .map(|e| e.home.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".to_string());
    let (gid, groups) = match group_part.filter(|g| !g.is_empty()) {
        // An explicit group replaces the primary one and drops the supplementary ones, as Docker.
        Some(g) => (group_id(g, &groups, spec)?, Vec::new()),
        None => {
            let gid = entry.map_or(0, |e| e.gid);
            let supplementary = entry.map_or(Vec::new(), |e| member_groups(&groups, &e.name, gid));
            (gid, supplementary)
        }
    };
    Ok(ResolvedUser {
        uid,
        gid,
        groups,
        home,
    })
}

/// A group given by number or by name.
fn group_id(g: &str, groups: &[GroupEntry], spec: &str) -> Result<u32, UserError> {
    match parse_id(g, spec)? {
        Some(gid) => Ok(gid),
        None => groups
            .iter()
            .find(|e| e.name == g)
            .map(|e| e.gid)
            .ok_or_else(|| UserError::UnknownGroup(g.to_string())),
    }
}

/// Supplementary groups of a user: the primary gid first, then every group naming the user.
fn member_groups(groups: &[GroupEntry], name: &str, gid: u32) -> Vec<u32> {
    let mut out = vec![gid];
    for g in groups
        .iter()
        .filter(|g| g.members.iter().any(|m| m == name))
    {
        if !out.contains(&g.gid) {
            out.push(g.gid);
        }
    }
    out
}

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

    const PASSWD: &str = "root:x:0:0:root:/root:/bin/sh\n# comment\nbroken\n\
        app:x:1000:1001:App:/home/app:/bin/sh\nnohome:x:1002:1002:::/bin/sh\n";
    const GROUP: &str = "root:x:0:root\nwheel:x:10:root,app\napp:x:1001:\n\
        staff:x:50: app , other\nbad:x:notanumber:app\n";

    #[test]
    fn parses_passwd_and_group() {
        let p = parse_passwd(PASSWD);
        assert_eq!(p.len(), 3);
        assert_eq!(
            p[1],
            PasswdEntry {
                name: "app".into(),
                uid: 1000,
                gid: 1001,
                home: "/home/app".into()
            }
        );
        let g = parse_group(GROUP);
        assert_eq!(g.len(), 4);
        assert_eq!(g[3].members, vec!["app".to_string(), "other".to_string()]);
    }

    #[test]
    fn root_by_default() {
        let u = resolve_user("", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (0, 0, "/root"));
        assert_eq!(u.groups, vec![0, 10]);
    }

    #[test]
    fn name_gets_primary_and_member_groups() {
        let u = resolve_user("app", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 1001));
        assert_eq!(u.groups, vec![1001, 10, 50]);
    }

    #[test]
    fn numeric_uid_known_and_unknown() {
        assert_eq!(resolve_user("1000", PASSWD, GROUP).unwrap().gid, 1001);
        let u = resolve_user("4242", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid, u.home.as_str()), (4242, 0, "/"));
        assert!(u.groups.is_empty());
        let u = resolve_user("4242:77", "", "").unwrap();
        assert_eq!((u.uid, u.gid), (4242, 77));
    }

    #[test]
    fn explicit_group_by_name_or_id() {
        let u = resolve_user("app:wheel", PASSWD, GROUP).unwrap();
        assert_eq!((u.uid, u.gid), (1000, 10));
        assert!(u.groups.is_empty());
        assert_eq!(resolve_user("app:5", PASSWD, GROUP).unwrap().gid, 5);
        assert_eq!(resolve_user("app:", PASSWD, GROUP).unwrap().gid, 1001);
    }

    #[test]
    fn unknown_names_are_errors_naming_them() {
        assert_eq!(
            resolve_user("ghost", PASSWD, GROUP),
            Err(UserError::UnknownUser("ghost".into()))
        );
        assert_eq!(
            resolve_user("app:ghosts", PASSWD, GROUP),
            Err(UserError::UnknownGroup("ghosts".into()))
        );
        assert_eq!(
            resolve_user("app", "", ""),
            Err(UserError::UnknownUser("app".into()))
        );
        assert!(resolve_user("99999999999", PASSWD, GROUP).is_err());
    }

    #[test]
    fn empty_home_becomes_root_dir() {
        assert_eq!(resolve_user("nohome", PASSWD, GROUP).unwrap().home, "/");
    }

    #[test]
    fn home_only_when_missing() {
        let env = vec!["PATH=/bin".to_string()];
        assert_eq!(env_with_home(&env, "/root")[1], "HOME=/root");
        let env = vec!["HOME=/x".to_string()];
        assert_eq!(env_with_home(&env, "/root"), env);
    }
}
