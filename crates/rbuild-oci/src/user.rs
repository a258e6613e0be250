//! The image config's `User` field and `COPY --chown` values (`user`, `uid`, `user:group`,
//! `uid:gid`, `uid:group`, `user:gid`, as the OCI image spec defines them) resolved against the
//! text of an image's /etc/passwd and /etc/group the way runc and Docker do. Pure: text in, ids
//! out; the callers read the files.

/// Why a user or group spec cannot be resolved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UserError {
    /// A user name that is not in /etc/passwd.
    #[error("unable to find user {0}: no matching entries in passwd file")]
    UnknownUser(String),
    /// A group name that is not in /etc/group.
    #[error("unable to find group {0}: no matching entries in group file")]
    UnknownGroup(String),
    /// An id that is out of range.
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
    /// Home directory ("/" when the user has none).
    pub home: String,
}

/// The fields of one database line, None for comments, blank names and short lines.
fn fields(line: &str, min: usize) -> Option<Vec<&str>> {
    let f: Vec<&str> = line.split(':').collect();
    (f.len() >= min && !f[0].is_empty() && !line.starts_with('#')).then_some(f)
}

/// Parses /etc/passwd, skipping malformed lines and comments like libc does.
pub fn parse_passwd(text: &str) -> Vec<PasswdEntry> {
    text.lines()
        .filter_map(|line| {
            let f = fields(line, 6)?;
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
            let f = fields(line, 3)?;
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

/// Splits `user[:group]`.
pub fn split_spec(spec: &str) -> (&str, Option<&str>) {
    match spec.split_once(':') {
        Some((u, g)) => (u, Some(g)),
        None => (spec, None),
    }
}

/// A decimal id, None for a name; Err for digits that overflow a u32.
fn parse_id(s: &str, spec: &str) -> Result<Option<u32>, UserError> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| UserError::Invalid(spec.to_string()))
}

/// Resolves a USER value ("" is root) as runc does: a name must be in /etc/passwd, a number
/// need not be; without a group the user's primary group and every group listing it as a
/// member apply, an explicit group replaces both. The primary group is always among the
/// supplementary ones, as containerd sets them since CVE-2023-25173 and BuildKit's
/// testUserAdditionalGids expects (`USER 1234` → `groups=0(root)`).
pub fn resolve_user(spec: &str, passwd: &str, group: &str) -> Result<ResolvedUser, UserError> {
    let (user_part, group_part) = split_spec(spec);
    let user_part = if user_part.is_empty() { "0" } else { user_part };
    let users = parse_passwd(passwd);
    let groups = parse_group(group);
    let (uid, entry) = match parse_id(user_part, spec)? {
        Some(uid) => (uid, users.iter().find(|u| u.uid == uid)),
        None => {
            let e = users
                .iter()
                .find(|u| u.name == user_part)
                .ok_or_else(|| UserError::UnknownUser(user_part.to_string()))?;
            (e.uid, Some(e))
        }
    };
    let home = entry
        .map(|e| e.home.clone())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "/".to_string());
    let (gid, groups) = match group_part.filter(|g| !g.is_empty()) {
        Some(g) => {
            let gid = group_id(g, &groups, spec)?;
            (gid, vec![gid])
        }
        None => {
            let gid = entry.map_or(0, |e| e.gid);
            let supplementary = entry.map_or(vec![gid], |e| member_groups(&groups, &e.name, gid));
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

/// Resolves a `COPY --chown` value to (uid, gid): names are looked up, numbers taken as they
/// are, and a lone user gives gid = uid, as Docker documents for `--chown`.
pub fn resolve_chown(spec: &str, passwd: &str, group: &str) -> Result<(u32, u32), UserError> {
    let (user_part, group_part) = split_spec(spec);
    let uid = match parse_id(user_part, spec)? {
        Some(uid) => uid,
        None => parse_passwd(passwd)
            .iter()
            .find(|u| u.name == user_part)
            .map(|u| u.uid)
            .ok_or_else(|| UserError::UnknownUser(user_part.to_string()))?,
    };
    let gid = match group_part {
        None => uid,
        Some(g) => group_id(g, &parse_group(group), spec)?,
    };
    Ok((uid, gid))
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

#[cfg(test)]
mod tests;
