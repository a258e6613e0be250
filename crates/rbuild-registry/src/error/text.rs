//! Error text: URLs without credentials, the registry's own error messages.

/// Drops the query string and any user info from a URL before it goes into an error or log.
pub(crate) fn redact_url(url: &reqwest::Url) -> String {
    let mut u = url.clone();
    u.set_query(None);
    let _ = u.set_username("");
    let _ = u.set_password(None);
    u.to_string()
}

/// Drops user info (`user:password@`) from a URL-like string that may not parse as a URL
/// (a mirror as configured), before it goes into an error or `Debug` output.
pub(crate) fn redact_userinfo(s: &str) -> String {
    let (scheme, rest) = match s.split_once("://") {
        Some((scheme, rest)) => (format!("{scheme}://"), rest),
        None => (String::new(), s),
    };
    let end = rest.find('/').unwrap_or(rest.len());
    match rest[..end].rfind('@') {
        Some(at) => format!("{scheme}{}", &rest[at + 1..]),
        None => s.to_string(),
    }
}

/// The registry's JSON error body (`{"errors":[{"code","message"}]}`) as a short suffix.
pub(crate) fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct Body {
        #[serde(default)]
        errors: Vec<Item>,
    }
    #[derive(serde::Deserialize)]
    struct Item {
        #[serde(default)]
        code: String,
        #[serde(default)]
        message: String,
    }
    let Ok(parsed) = serde_json::from_slice::<Body>(body) else {
        return String::new();
    };
    let parts: Vec<String> = parsed
        .errors
        .iter()
        .map(|e| match (e.code.is_empty(), e.message.is_empty()) {
            (false, false) => format!("{} ({})", e.code, e.message),
            (false, true) => e.code.clone(),
            _ => e.message.clone(),
        })
        .filter(|s| !s.is_empty())
        .collect();
    if parts.is_empty() {
        String::new()
    } else {
        format!(": {}", parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redacts_user_info_and_query() {
        let u = reqwest::Url::parse("https://bob:hunter2@r.example/v2/x?_state=abc").unwrap();
        assert_eq!(redact_url(&u), "https://r.example/v2/x");
    }

    #[test]
    fn redacts_user_info_of_raw_mirrors() {
        assert_eq!(
            redact_userinfo("https://bob:hunter2@m.example/x"),
            "https://m.example/x"
        );
        assert_eq!(redact_userinfo("bob:pw@m.example:5000"), "m.example:5000");
        assert_eq!(redact_userinfo("m.example/a@b"), "m.example/a@b");
    }

    #[test]
    fn summarizes_registry_errors() {
        let body = br#"{"errors":[{"code":"MANIFEST_UNKNOWN","message":"manifest unknown"}]}"#;
        assert_eq!(error_message(body), ": MANIFEST_UNKNOWN (manifest unknown)");
        assert_eq!(error_message(b"<html>"), "");
    }
}
