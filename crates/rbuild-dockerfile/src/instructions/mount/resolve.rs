//! The values BuildKit derives from a parsed mount when it places it in a step
//! (`dockerfile2llb/convert_runmount.go`, `convert_secrets.go`, `convert_ssh.go`,
//! `client/llb/exec.go`). Pure: the builder supplies the working directory.

use super::{MountKind, RunMount};
use crate::error::MountError;

impl RunMount {
    /// Where a bind, cache or tmpfs mount appears: an absolute target as written (cleaned),
    /// a relative or missing one joined to `workdir`. A result of `/` is refused.
    pub fn target_in(&self, workdir: &str) -> Result<String, MountError> {
        let target = self.target.as_deref().unwrap_or("");
        let joined = if target.starts_with('/') {
            clean(target)
        } else {
            clean(&format!("/{workdir}/{target}"))
        };
        if joined == "/" {
            return Err(MountError::InvalidTarget { target: joined });
        }
        Ok(joined)
    }

    /// The directory or file mounted from the source (the `from` stage or image, the build
    /// context, or the cache): `source` below `/`, `/` for the whole of it.
    pub fn source_path(&self) -> String {
        clean(&format!("/{}", self.source.as_deref().unwrap_or("")))
    }

    /// A cache mount's id: `id`, else the target as written, cleaned (`.` without one).
    pub fn cache_id(&self) -> String {
        match &self.id {
            Some(id) => id.clone(),
            None => clean(self.target.as_deref().unwrap_or("")),
        }
    }

    /// A cache mount's sharing mode: `shared` unless `sharing` says otherwise.
    pub fn cache_sharing(&self) -> &str {
        self.sharing.as_deref().unwrap_or("shared")
    }

    /// A secret's id: `source`, else `id`, else the last element of `target`.
    pub fn secret_id(&self) -> String {
        match (&self.source, &self.id) {
            (Some(source), _) => source.clone(),
            (None, Some(id)) => id.clone(),
            (None, None) => base(self.target.as_deref().unwrap_or("")),
        }
    }

    /// Where a secret's file appears: `target` (relative to `/`, never to the WORKDIR),
    /// else `/run/secrets/<last element of the id>`; none for an `env` secret without a
    /// target, which is only an environment variable.
    pub fn secret_target(&self) -> Option<String> {
        match (&self.target, &self.env) {
            (Some(target), _) => Some(clean(&format!("/{target}"))),
            (None, Some(_)) => None,
            (None, None) => Some(format!("/run/secrets/{}", base(&self.secret_id()))),
        }
    }

    /// An ssh mount's agent id: `id`, else `default`. BuildKit refuses `source` here.
    pub fn ssh_id(&self) -> Result<&str, MountError> {
        if self.kind == MountKind::Ssh && self.source.is_some() {
            return Err(MountError::SshSource);
        }
        Ok(self.id.as_deref().unwrap_or("default"))
    }

    /// Where an ssh mount's socket appears: `target` (relative to `/`), else
    /// `/run/buildkit/ssh_agent.<index>`, `index` counting the step's ssh mounts from 0.
    pub fn ssh_target(&self, index: usize) -> String {
        match &self.target {
            Some(target) => clean(&format!("/{target}")),
            None => format!("/run/buildkit/ssh_agent.{index}"),
        }
    }
}

/// Go's `path.Clean`: one slash between elements, no `.`, `..` resolved lexically (never
/// above `/`), `.` for an empty result of a relative path.
pub(crate) fn clean(path: &str) -> String {
    let rooted = path.starts_with('/');
    let mut parts: Vec<&str> = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." if parts.last().is_some_and(|p| *p != "..") => _ = parts.pop(),
            ".." if rooted => {}
            _ => parts.push(part),
        }
    }
    let joined = parts.join("/");
    match (rooted, joined.is_empty()) {
        (true, _) => format!("/{joined}"),
        (false, true) => ".".into(),
        (false, false) => joined,
    }
}

/// Go's `path.Base`: the last element, trailing slashes ignored.
fn base(path: &str) -> String {
    if path.is_empty() {
        return ".".into();
    }
    let trimmed = path.trim_end_matches('/');
    match trimmed.rsplit('/').next() {
        Some(last) if !last.is_empty() => last.into(),
        _ => "/".into(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_paths() {
        let cases = [
            ("", "."),
            ("/", "/"),
            ("a/../..", ".."),
            ("/../x", "/x"),
            ("//a//b/./c/", "/a/b/c"),
            ("../../a", "../../a"),
            ("a/b/../../c", "c"),
        ];
        for (path, want) in cases {
            assert_eq!(clean(path), want, "{path:?}");
        }
        for (path, want) in [("", "."), ("/", "/"), ("a/b/", "b"), ("x", "x")] {
            assert_eq!(base(path), want, "{path:?}");
        }
    }
}
