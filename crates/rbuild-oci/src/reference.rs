use std::fmt;
use std::str::FromStr;

use crate::Digest;

/// Docker Hub's canonical registry name.
pub const DOCKER_HUB: &str = "docker.io";

/// An image reference, normalized as Docker normalizes it (`app` → `docker.io/library/app:latest`).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Reference {
    /// Registry host (and port), e.g. `docker.io`, `localhost:5000`.
    pub registry: String,
    /// Repository path, e.g. `library/busybox`.
    pub repository: String,
    /// Tag; `latest` when neither tag nor digest was given.
    pub tag: Option<String>,
    /// Digest pin.
    pub digest: Option<Digest>,
}

/// Why a string is not a valid image reference.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ReferenceError {
    /// The reference does not follow Docker's grammar.
    #[error("invalid reference format {reference:?}: {reason}")]
    Invalid {
        /// The input.
        reference: String,
        /// What is wrong with it.
        reason: &'static str,
    },
}

fn invalid(reference: &str, reason: &'static str) -> ReferenceError {
    ReferenceError::Invalid {
        reference: reference.to_string(),
        reason,
    }
}

impl Reference {
    /// Parses and normalizes a reference.
    pub fn parse(input: &str) -> Result<Self, ReferenceError> {
        let (rest, digest) = match input.split_once('@') {
            Some((r, d)) => (
                r,
                Some(
                    d.parse::<Digest>()
                        .map_err(|_| invalid(input, "bad digest"))?,
                ),
            ),
            None => (input, None),
        };
        let (name, tag) = split_tag(rest);
        if let Some(t) = tag {
            if !valid_tag(t) {
                return Err(invalid(input, "bad tag"));
            }
        }
        let (registry, repository) = split_registry(name);
        if repository.is_empty() || !repository.split('/').all(valid_component) {
            return Err(invalid(
                input,
                "repository must be lower-case letters, digits and separators",
            ));
        }
        let tag = match (tag, &digest) {
            (None, None) => Some("latest".to_string()),
            (t, _) => t.map(str::to_string),
        };
        Ok(Reference {
            registry,
            repository,
            tag,
            digest,
        })
    }

    /// Parses a name to tag an image with: a reference without a digest (`app:1.0`).
    pub fn parse_tag(input: &str) -> Result<Self, ReferenceError> {
        let r = Reference::parse(input)?;
        if r.digest.is_some() {
            return Err(invalid(input, "a tag name cannot carry a digest"));
        }
        Ok(r)
    }

    /// `registry/repository`, e.g. `docker.io/library/busybox`.
    pub fn name(&self) -> String {
        format!("{}/{}", self.registry, self.repository)
    }

    /// The short form Docker shows (`busybox:latest`, `user/app:1`, `localhost:5000/app:1`).
    pub fn familiar(&self) -> String {
        let mut s = if self.registry == DOCKER_HUB {
            self.repository
                .strip_prefix("library/")
                .unwrap_or(&self.repository)
                .to_string()
        } else {
            self.name()
        };
        push_suffix(&mut s, self);
        s
    }

    /// The host to contact: Docker Hub's API lives at `registry-1.docker.io`.
    pub fn endpoint_host(&self) -> &str {
        if self.registry == DOCKER_HUB {
            "registry-1.docker.io"
        } else {
            &self.registry
        }
    }
}

fn push_suffix(s: &mut String, r: &Reference) {
    if let Some(t) = &r.tag {
        s.push(':');
        s.push_str(t);
    }
    if let Some(d) = &r.digest {
        s.push('@');
        s.push_str(&d.to_string());
    }
}

fn split_tag(s: &str) -> (&str, Option<&str>) {
    let last_slash = s.rfind('/').map_or(0, |i| i + 1);
    match s[last_slash..].rfind(':') {
        Some(i) => (&s[..last_slash + i], Some(&s[last_slash + i + 1..])),
        None => (s, None),
    }
}

fn split_registry(name: &str) -> (String, String) {
    let (first, rest) = match name.split_once('/') {
        Some((f, r)) if f.contains('.') || f.contains(':') || f == "localhost" => (Some(f), r),
        _ => (None, name),
    };
    let registry = match first {
        None | Some("index.docker.io") | Some("registry-1.docker.io") => DOCKER_HUB.to_string(),
        Some(host) => host.to_string(),
    };
    let repository = if registry == DOCKER_HUB && !rest.contains('/') {
        format!("library/{rest}")
    } else {
        rest.to_string()
    };
    (registry, repository)
}

fn valid_component(c: &str) -> bool {
    let alnum = |b: u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    let bytes = c.as_bytes();
    let (Some(&first), Some(&last)) = (bytes.first(), bytes.last()) else {
        return false;
    };
    if !alnum(first) || !alnum(last) {
        return false;
    }
    // Separators: one '.', one or two '_', or any run of '-'.
    c.split(|ch: char| ch.is_ascii_lowercase() || ch.is_ascii_digit())
        .all(|sep| {
            sep.is_empty()
                || sep == "."
                || sep == "_"
                || sep == "__"
                || sep.bytes().all(|b| b == b'-')
        })
}

fn valid_tag(t: &str) -> bool {
    let ok_char = |b: u8| b.is_ascii_alphanumeric() || b == b'_' || b == b'.' || b == b'-';
    !t.is_empty()
        && t.len() <= 128
        && t.as_bytes()[0] != b'.'
        && t.as_bytes()[0] != b'-'
        && t.bytes().all(ok_char)
}

impl fmt::Display for Reference {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut s = self.name();
        push_suffix(&mut s, self);
        f.write_str(&s)
    }
}

impl FromStr for Reference {
    type Err = ReferenceError;
    fn from_str(s: &str) -> Result<Self, ReferenceError> {
        Reference::parse(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn norm(s: &str) -> String {
        Reference::parse(s).unwrap().to_string()
    }

    #[test]
    fn normalizes_like_docker() {
        assert_eq!(norm("app"), "docker.io/library/app:latest");
        assert_eq!(norm("user/app:1.0"), "docker.io/user/app:1.0");
        assert_eq!(
            norm("localhost:5000/ns/app:tag"),
            "localhost:5000/ns/app:tag"
        );
        assert_eq!(norm("localhost/app"), "localhost/app:latest");
        assert_eq!(
            norm("index.docker.io/library/busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(norm("example.com/a/b/c"), "example.com/a/b/c:latest");
        let d = Digest::of(b"x");
        assert_eq!(
            norm(&format!("app@{d}")),
            format!("docker.io/library/app@{d}")
        );
    }

    #[test]
    fn tag_names_carry_no_digest_and_no_dots() {
        let d = Digest::of(b"x");
        assert!(Reference::parse_tag("app:1").is_ok());
        assert!(Reference::parse_tag(&format!("app:1@{d}")).is_err());
        assert!(Reference::parse_tag(&format!("app@{d}")).is_err());
        assert!(Reference::parse_tag("../../etc/x:1").is_err());
    }

    #[test]
    fn familiar_form() {
        assert_eq!(
            Reference::parse("docker.io/library/app")
                .unwrap()
                .familiar(),
            "app:latest"
        );
        assert_eq!(
            Reference::parse("127.0.0.1:5000/x:1").unwrap().familiar(),
            "127.0.0.1:5000/x:1"
        );
    }

    #[test]
    fn rejects_bad_references() {
        for bad in [
            "",
            "App",
            "app:",
            "app:-x",
            "a//b",
            "app@sha256:zz",
            "-app",
            "a..b",
            ":tag",
        ] {
            assert!(Reference::parse(bad).is_err(), "{bad:?} accepted");
        }
    }
}
