//! Authenticated requests: answering a 401 challenge once, and turning unexpected answers
//! into typed errors.

use reqwest::{Method, RequestBuilder, Response, Url};

use super::{Client, Endpoint};
use crate::auth::challenge;
use crate::auth::Authorization;
use crate::error::{error_message, redact_url, RegistryError};

/// Error bodies are read up to this size, for the registry's message.
const ERROR_BODY_LIMIT: u64 = 1 << 16;

/// Adds a request body, headers or a query to a request (called again for each attempt).
pub(crate) type Build<'a> =
    &'a (dyn Fn(RequestBuilder) -> Result<RequestBuilder, RegistryError> + Sync);

impl Client {
    /// Sends an authenticated request, answering one 401 challenge (token or basic) and retrying.
    pub(crate) async fn request(
        &self,
        ep: &Endpoint,
        scopes: &[String],
        method: Method,
        url: &Url,
        build: Build<'_>,
    ) -> Result<Response, RegistryError> {
        let mut answered = false;
        loop {
            let (resp, header, user) = self.send_as(ep, scopes, &method, url, build).await?;
            if resp.status() != reqwest::StatusCode::UNAUTHORIZED {
                return Ok(resp);
            }
            let ch = resp
                .headers()
                .get(reqwest::header::WWW_AUTHENTICATE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string);
            let body = self.error_body(resp, &method, url).await;
            match ch.as_deref().and_then(challenge::parse) {
                Some(c) if !answered => {
                    self.inner
                        .auth
                        .record_challenge(&ep.host, c, scopes, header.as_deref());
                    answered = true;
                }
                _ => {
                    let sent = header.is_some();
                    return Err(unauthorized(ep, user, sent, ch.as_deref(), &body));
                }
            }
        }
    }

    /// Sends with the authorization known for `ep` and `scopes`; returns the answer, the
    /// `Authorization` value sent (to recognise a rejected token) and the user it was for.
    async fn send_as(
        &self,
        ep: &Endpoint,
        scopes: &[String],
        method: &Method,
        url: &Url,
        build: Build<'_>,
    ) -> Result<(Response, Option<String>, Option<String>), RegistryError> {
        let http = self.http(&ep.host)?;
        let transport = self.transport();
        let auth = self
            .inner
            .auth
            .authorization(&http, &transport, &ep.host, &ep.registry, scopes)
            .await?;
        let (header, user) = match auth {
            Authorization::Header(h, u) => (Some(h), u),
            Authorization::None => (None, None),
        };
        let resp = transport
            .send(method.as_str(), url, || {
                let rb = build(http.request(method.clone(), url.clone()))?;
                Ok(match &header {
                    Some(h) => rb.header(reqwest::header::AUTHORIZATION, h),
                    None => rb,
                })
            })
            .await?;
        Ok((resp, header, user))
    }

    /// The body of an error answer, for its message; empty if it cannot be read.
    async fn error_body(&self, resp: Response, method: &Method, url: &Url) -> Vec<u8> {
        self.transport()
            .read_small(resp, method.as_str(), url, ERROR_BODY_LIMIT)
            .await
            .unwrap_or_default()
    }

    /// Turns an unexpected response into the matching error (404, 403, other statuses).
    pub(crate) async fn status_error(
        &self,
        resp: Response,
        method: &Method,
        ep: &Endpoint,
        what: &str,
    ) -> RegistryError {
        let status = resp.status().as_u16();
        let url = resp.url().clone();
        let body = self.error_body(resp, method, &url).await;
        match status {
            404 => RegistryError::NotFound {
                host: ep.host.clone(),
                repository: ep.repository.clone(),
                what: what.to_string(),
            },
            403 => RegistryError::Denied {
                host: ep.host.clone(),
                repository: ep.repository.clone(),
                user: None,
                detail: format!("{what}{}", error_message(&body)),
            },
            _ => RegistryError::Status {
                method: method.to_string(),
                url: redact_url(&url),
                status,
                message: error_message(&body),
            },
        }
    }
}

/// The error for a 401 that answering the challenge did not cure.
fn unauthorized(
    ep: &Endpoint,
    user: Option<String>,
    sent_auth: bool,
    challenge: Option<&str>,
    body: &[u8],
) -> RegistryError {
    let said = error_message(body);
    if challenge.is_some_and(|c| c.contains("insufficient_scope")) {
        return RegistryError::Denied {
            host: ep.host.clone(),
            repository: ep.repository.clone(),
            user,
            detail: format!("insufficient scope{said}"),
        };
    }
    let detail = match (sent_auth, &user) {
        (true, Some(_)) => format!("incorrect username or password{said}"),
        _ => format!(
            "the registry requires credentials{said}; run `rbuild login {}`",
            ep.registry
        ),
    };
    RegistryError::Unauthorized {
        host: ep.host.clone(),
        user,
        detail,
    }
}
