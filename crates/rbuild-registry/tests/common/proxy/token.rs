//! A token-auth registry: 401 Bearer challenges, a `/token` endpoint that grants scopes to
//! the right credentials (or anonymous pulls), and per-request scope checks.

use std::sync::atomic::Ordering;

use base64::Engine as _;

use super::http::{Req, Resp};
use super::State;

/// Token-auth settings: who may have tokens, and what anonymous users get.
#[derive(Clone, Debug)]
pub struct TokenAuth {
    pub user: String,
    pub password: String,
    pub refresh_token: Option<String>,
    pub anonymous_pull: bool,
}

/// Grants a token for the requested scopes, as far as the caller is entitled to them.
pub(super) fn token_endpoint(req: &Req, st: &State) -> Resp {
    st.token_requests.fetch_add(1, Ordering::SeqCst);
    let Some(auth) = &st.opts.token_auth else {
        return Resp::json(404, "{}");
    };
    let params = token_params(req);
    let authenticated = match authenticate(req, auth, &params) {
        Ok(a) => a,
        Err(refusal) => return refusal,
    };
    let grants = grants(&params, authenticated, auth);
    let n = st.token_requests.load(Ordering::SeqCst);
    let token = format!("tok-{n}-{}", grants.len());
    st.tokens.lock().unwrap().insert(token.clone(), grants);
    Resp::json(
        200,
        &format!(r#"{{"token":"{token}","access_token":"{token}","expires_in":300}}"#),
    )
}

/// The query, plus a POST's form body: clients send token parameters either way.
fn token_params(req: &Req) -> Vec<(String, String)> {
    let mut params = req.query();
    if req.method == "POST" {
        let form = String::from_utf8_lossy(&req.body).to_string();
        let url = reqwest::Url::parse(&format!("http://x/?{form}")).unwrap();
        params.extend(url.query_pairs().into_owned());
    }
    params
}

/// Whether the caller proved who it is (refresh token or Basic credentials); a 401 answer
/// when it tried and failed, so that wrong credentials never fall back to anonymous.
fn authenticate(req: &Req, auth: &TokenAuth, params: &[(String, String)]) -> Result<bool, Resp> {
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    match (req.header("authorization"), param("refresh_token")) {
        (_, Some(rt)) => {
            if auth.refresh_token.as_deref() != Some(rt.as_str()) {
                return Err(Resp::json(
                    401,
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"invalid refresh token"}]}"#,
                ));
            }
            Ok(true)
        }
        (Some(h), None) => {
            let enc = h.strip_prefix("Basic ").unwrap_or("");
            let dec = base64::engine::general_purpose::STANDARD
                .decode(enc)
                .unwrap_or_default();
            if dec != format!("{}:{}", auth.user, auth.password).as_bytes() {
                return Err(Resp::json(
                    401,
                    r#"{"errors":[{"code":"UNAUTHORIZED","message":"invalid credentials"}]}"#,
                ));
            }
            Ok(true)
        }
        (None, None) => Ok(false),
    }
}

/// The (repository, action) pairs granted out of the requested `scope`s.
fn grants(
    params: &[(String, String)],
    authenticated: bool,
    auth: &TokenAuth,
) -> Vec<(String, String)> {
    let scopes: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "scope")
        .flat_map(|(_, v)| v.split(' ').map(str::to_string).collect::<Vec<_>>())
        .collect();
    let mut grants = Vec::new();
    for s in scopes {
        let mut parts = s.splitn(3, ':');
        let (Some("repository"), Some(repo), Some(actions)) =
            (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        for a in actions.split(',') {
            if authenticated || (a == "pull" && auth.anonymous_pull) {
                grants.push((repo.to_string(), a.to_string()));
            }
        }
    }
    grants
}

/// Checks the bearer token for the request; returns the target to forward (mount stripped if
/// the token may not read the source).
pub(super) fn check_token(req: &Req, st: &State, auth: &TokenAuth) -> Result<String, Resp> {
    let _ = auth;
    let path = req.path();
    let (repo, action) = scope_of(req);
    let token = req
        .header("authorization")
        .and_then(|h| h.strip_prefix("Bearer "));
    let grants = token.and_then(|t| st.tokens.lock().unwrap().get(t).cloned());
    let has = |g: &Option<Vec<(String, String)>>, r: &str, a: &str| {
        g.as_ref()
            .is_some_and(|g| g.iter().any(|(gr, ga)| gr == r && ga == a))
    };
    let ok = match repo {
        None => grants.is_some(),
        Some(r) => has(&grants, r, action),
    };
    if !ok {
        return Err(challenge(st, repo, action));
    }
    let q = req.query();
    if let Some((_, from)) = q.iter().find(|(k, _)| k == "from") {
        if !has(&grants, from, "pull") {
            st.log.lock().unwrap().push("mount-denied".into());
            return Ok(path.to_string());
        }
    }
    Ok(req.target.clone())
}

/// The repository a `/v2/` request is about (none for `/v2/` itself) and the action it needs.
fn scope_of(req: &Req) -> (Option<&str>, &'static str) {
    let rest = req.path().strip_prefix("/v2/").unwrap_or("");
    let repo = ["/blobs/", "/manifests/", "/tags/"]
        .iter()
        .filter_map(|m| rest.find(m))
        .min()
        .map(|i| &rest[..i]);
    let action = if matches!(req.method.as_str(), "GET" | "HEAD") {
        "pull"
    } else {
        "push"
    };
    (repo, action)
}

/// The 401 that tells the client where to get a token, and for which scope.
fn challenge(st: &State, repo: Option<&str>, action: &str) -> Resp {
    let scope = repo.map(|r| {
        let acts = if action == "pull" {
            "pull"
        } else {
            "pull,push"
        };
        format!(",scope=\"repository:{r}:{acts}\"")
    });
    let mut resp = Resp::json(
        401,
        r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#,
    );
    resp.headers.push((
        "www-authenticate".into(),
        format!(
            "Bearer realm=\"http://{}/token\",service=\"rbuild-test\"{}",
            st.addr,
            scope.unwrap_or_default()
        ),
    ));
    resp
}
