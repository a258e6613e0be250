//! Parsing `WWW-Authenticate` challenges (RFC 7235) as registries send them (pure).

use std::collections::BTreeMap;

/// One authentication challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// Token auth: get a token from `realm` for `service` and the scopes needed.
    Bearer {
        /// Token endpoint URL.
        realm: String,
        /// Service name to ask the token for.
        service: Option<String>,
        /// Scope the registry asked for (informational: we ask for what the operation needs).
        scope: Option<String>,
    },
    /// HTTP basic auth.
    Basic {
        /// Realm (informational).
        realm: Option<String>,
    },
}

/// Parses a `WWW-Authenticate` header value; returns the first Bearer or Basic challenge.
pub fn parse(header: &str) -> Option<Challenge> {
    let (scheme, rest) = split_scheme(header.trim_start())?;
    let params = parse_params(rest);
    match scheme.to_ascii_lowercase().as_str() {
        "bearer" => Some(Challenge::Bearer {
            realm: params.get("realm")?.clone(),
            service: params.get("service").cloned(),
            scope: params.get("scope").cloned(),
        }),
        "basic" => Some(Challenge::Basic {
            realm: params.get("realm").cloned(),
        }),
        _ => None,
    }
}

fn split_scheme(s: &str) -> Option<(&str, &str)> {
    let end = s.find(|c: char| c.is_whitespace()).unwrap_or(s.len());
    let scheme = &s[..end];
    if scheme.is_empty() {
        None
    } else {
        Some((scheme, &s[end..]))
    }
}

/// `key=value` or `key="quoted \"value\""` pairs separated by commas; keys lower-cased.
fn parse_params(s: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    let mut chars = s.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let key: String = chars
            .by_ref()
            .take_while(|c| *c != '=')
            .collect::<String>()
            .trim()
            .to_ascii_lowercase();
        if key.is_empty() {
            return out;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| *c != ',') {
                value.push(c);
            }
            value = value.trim().to_string();
        }
        out.insert(key, value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_docker_hub_bearer() {
        let h = r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/busybox:pull,push""#;
        assert_eq!(
            parse(h),
            Some(Challenge::Bearer {
                realm: "https://auth.docker.io/token".into(),
                service: Some("registry.docker.io".into()),
                scope: Some("repository:library/busybox:pull,push".into()),
            })
        );
    }

    #[test]
    fn parses_basic_and_unquoted_and_escapes() {
        assert_eq!(
            parse(r#"Basic realm="Registry \"x\"""#),
            Some(Challenge::Basic {
                realm: Some("Registry \"x\"".into())
            })
        );
        assert_eq!(
            parse("bearer realm=http://127.0.0.1:1/token, service=svc"),
            Some(Challenge::Bearer {
                realm: "http://127.0.0.1:1/token".into(),
                service: Some("svc".into()),
                scope: None,
            })
        );
        assert_eq!(parse("Bearer service=x"), None);
        assert_eq!(parse("Negotiate abc"), None);
        assert_eq!(parse(""), None);
    }
}
