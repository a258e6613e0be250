//! The bearer-token flow: asking the challenge's realm for a token covering some scopes.

use std::time::{Duration, Instant};

use serde::Deserialize;

use super::config::Credentials;
use crate::error::{error_message, redact_url, RegistryError};
use crate::transport::{RetryPolicy, Timeouts, Transport};

/// Tokens live this long when the server does not say (the distribution spec's default).
const DEFAULT_LIFETIME: Duration = Duration::from_secs(60);
/// Refresh this long before expiry so a token does not run out mid-request.
const MARGIN: Duration = Duration::from_secs(10);

/// A bearer token and when to stop using it.
#[derive(Clone)]
pub struct Token {
    /// The opaque token.
    pub value: String,
    /// When it should be refreshed.
    pub refresh_at: Instant,
}

impl Token {
    /// Whether it is still good to use.
    pub fn is_fresh(&self) -> bool {
        Instant::now() < self.refresh_at
    }
}

#[derive(Deserialize)]
struct TokenResponse {
    #[serde(default)]
    token: Option<String>,
    #[serde(default)]
    access_token: Option<String>,
    #[serde(default)]
    expires_in: Option<u64>,
}

/// What the token endpoint needs from the challenge.
pub struct TokenRequest<'a> {
    /// Registry host, for messages.
    pub host: &'a str,
    /// The realm URL.
    pub realm: &'a str,
    /// The service name, when given.
    pub service: Option<&'a str>,
    /// The scopes wanted (`repository:<name>:pull,push`).
    pub scopes: &'a [String],
}

/// Fetches a token: GET with basic credentials (or anonymously), or POST with an identity token.
/// Uses the default timeouts; the client itself uses its own through `fetch_with`.
pub async fn fetch(
    http: &reqwest::Client,
    policy: &RetryPolicy,
    req: &TokenRequest<'_>,
    creds: Option<&Credentials>,
) -> Result<Token, RegistryError> {
    let timeouts = Timeouts::default();
    let transport = Transport {
        retry: policy,
        timeouts: &timeouts,
        progress: None,
    };
    fetch_with(http, &transport, req, creds).await
}

/// [`fetch`] with the client's transport (retries, timeouts, progress).
pub(crate) async fn fetch_with(
    http: &reqwest::Client,
    transport: &Transport<'_>,
    req: &TokenRequest<'_>,
    creds: Option<&Credentials>,
) -> Result<Token, RegistryError> {
    let url = token_url(req, creds)?;
    let build = || -> Result<reqwest::RequestBuilder, RegistryError> {
        Ok(match creds {
            Some(Credentials::IdentityToken { token, .. }) => http
                .post(url.clone())
                .header("content-type", "application/x-www-form-urlencoded")
                .body(refresh_form(req, token)),
            Some(Credentials::Basic { username, password }) => {
                http.get(url.clone()).basic_auth(username, Some(password))
            }
            None => http.get(url.clone()),
        })
    };
    let method = if matches!(creds, Some(Credentials::IdentityToken { .. })) {
        "POST"
    } else {
        "GET"
    };
    let resp = transport.send(method, &url, build).await?;
    let status = resp.status().as_u16();
    let body = transport.read_small(resp, method, &url, 1 << 20).await?;
    token_from(status, &body, req, creds, (method, &url))
}

/// The token in a token endpoint's answer, or the error it amounts to.
fn token_from(
    status: u16,
    body: &[u8],
    req: &TokenRequest<'_>,
    creds: Option<&Credentials>,
    (method, url): (&str, &reqwest::Url),
) -> Result<Token, RegistryError> {
    if status == 401 || status == 403 {
        return Err(rejected(req.host, creds, body));
    }
    if !(200..300).contains(&status) {
        return Err(RegistryError::Status {
            method: method.to_string(),
            url: redact_url(url),
            status,
            message: error_message(body),
        });
    }
    parse_token(body).ok_or_else(|| RegistryError::Protocol {
        host: req.host.to_string(),
        reason: format!("token endpoint {} returned no token", redact_url(url)),
    })
}

/// The realm with `service` and `scope` in the query (an identity token POSTs them instead).
fn token_url(
    req: &TokenRequest<'_>,
    creds: Option<&Credentials>,
) -> Result<reqwest::Url, RegistryError> {
    let mut url = reqwest::Url::parse(req.realm).map_err(|e| RegistryError::Protocol {
        host: req.host.to_string(),
        reason: format!("bad token realm {:?}: {e}", req.realm),
    })?;
    if !matches!(creds, Some(Credentials::IdentityToken { .. })) {
        let mut q = url.query_pairs_mut();
        if let Some(s) = req.service {
            q.append_pair("service", s);
        }
        for s in req.scopes {
            q.append_pair("scope", s);
        }
    }
    Ok(url)
}

fn rejected(host: &str, creds: Option<&Credentials>, body: &[u8]) -> RegistryError {
    let said = error_message(body);
    let detail = match creds {
        Some(_) => format!("incorrect username or password{said}"),
        None => format!("the registry requires credentials{said}; run `rbuild login {host}`"),
    };
    RegistryError::Unauthorized {
        host: host.to_string(),
        user: creds.and_then(Credentials::username).map(str::to_string),
        detail,
    }
}

fn parse_token(body: &[u8]) -> Option<Token> {
    let r: TokenResponse = serde_json::from_slice(body).ok()?;
    let value = r.token.or(r.access_token).filter(|t| !t.is_empty())?;
    let lifetime = r
        .expires_in
        .map(Duration::from_secs)
        .unwrap_or(DEFAULT_LIFETIME);
    let refresh_at = Instant::now() + lifetime.saturating_sub(MARGIN).max(Duration::from_secs(1));
    Some(Token { value, refresh_at })
}

fn refresh_form(req: &TokenRequest<'_>, refresh_token: &str) -> String {
    let mut pairs = vec![
        ("grant_type", "refresh_token".to_string()),
        ("refresh_token", refresh_token.to_string()),
        ("client_id", "rbuild".to_string()),
        ("scope", req.scopes.join(" ")),
    ];
    if let Some(s) = req.service {
        pairs.push(("service", s.to_string()));
    }
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={}", form_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// `application/x-www-form-urlencoded` encoding of one value.
fn form_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'*' => {
                (b as char).to_string()
            }
            b' ' => "+".to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_token_and_access_token() {
        let t = parse_token(br#"{"token":"abc","expires_in":300}"#).unwrap();
        assert_eq!(t.value, "abc");
        assert!(t.is_fresh());
        assert_eq!(parse_token(br#"{"access_token":"x"}"#).unwrap().value, "x");
        assert!(parse_token(br#"{"token":""}"#).is_none());
        assert!(parse_token(b"nope").is_none());
    }

    #[test]
    fn encodes_refresh_form() {
        let scopes = vec!["repository:a/b:pull,push".to_string()];
        let req = TokenRequest {
            host: "h",
            realm: "http://x",
            service: Some("svc"),
            scopes: &scopes,
        };
        assert_eq!(
            refresh_form(&req, "t/k"),
            "grant_type=refresh_token&refresh_token=t%2Fk&client_id=rbuild&scope=repository%3Aa%2Fb%3Apull%2Cpush&service=svc"
        );
    }

    #[test]
    fn rejection_never_shows_the_secret() {
        let c = Credentials::Basic {
            username: "bob".into(),
            password: "hunter2".into(),
        };
        let e = rejected("r.example", Some(&c), b"").to_string();
        assert!(
            e.contains("bob") && e.contains("incorrect") && !e.contains("hunter2"),
            "{e}"
        );
    }
}
