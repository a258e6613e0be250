//! The `docker-credential-<name>` protocol: `get`, `store`, `erase` over stdin/stdout.
//!
//! Synchronous (short-lived child processes); async callers run it on a blocking thread.

use std::io::Write;
use std::process::{Command, Stdio};

use serde::{Deserialize, Serialize};

use super::config::Credentials;
use crate::error::RegistryError;

/// The user name helpers return when `Secret` is an identity token.
const TOKEN_USER: &str = "<token>";

#[derive(Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HelperCreds {
    #[serde(default, rename = "ServerURL")]
    server_url: String,
    #[serde(default)]
    username: String,
    #[serde(default)]
    secret: String,
}

/// Output of one helper run.
struct Run {
    ok: bool,
    stdout: String,
    stderr: String,
}

fn run(helper: &str, action: &str, input: &[u8]) -> Result<Run, RegistryError> {
    let program = format!("docker-credential-{helper}");
    let err = |reason: String| RegistryError::Helper {
        helper: helper.to_string(),
        reason,
    };
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => err(format!("{program} not found in PATH")),
            _ => err(format!("cannot run {program}: {e}")),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper may exit without reading stdin; a broken pipe then is not our error.
        let _ = stdin.write_all(input);
    }
    let out = child
        .wait_with_output()
        .map_err(|e| err(format!("{action}: {e}")))?;
    Ok(Run {
        ok: out.status.success(),
        stdout: String::from_utf8_lossy(&out.stdout).trim().to_string(),
        stderr: String::from_utf8_lossy(&out.stderr).trim().to_string(),
    })
}

fn is_not_found(r: &Run) -> bool {
    let text = format!("{} {}", r.stdout, r.stderr).to_ascii_lowercase();
    text.contains("credentials not found") || text.contains("not found in native keychain")
}

/// Failure text of a helper run (helpers print errors on stdout). Withheld when it quotes
/// the secret we gave it (`store`) or looks like credentials (a helper printing its JSON).
fn failure(helper: &str, action: &str, r: &Run, secret: Option<&str>) -> RegistryError {
    let msg = if r.stderr.is_empty() {
        &r.stdout
    } else {
        &r.stderr
    };
    let quotes_secret = secret.is_some_and(|s| !s.is_empty() && msg.contains(s));
    let shown = if quotes_secret || msg.to_ascii_lowercase().contains("\"secret\"") {
        "(output withheld: it may hold the credentials)".to_string()
    } else {
        msg.chars().take(300).collect()
    };
    RegistryError::Helper {
        helper: helper.to_string(),
        reason: format!("{action} failed: {shown}"),
    }
}

/// Asks `helper` for the credentials of `server`; `None` when it has none.
pub fn get(helper: &str, server: &str) -> Result<Option<Credentials>, RegistryError> {
    let r = run(helper, "get", server.as_bytes())?;
    if !r.ok {
        return if is_not_found(&r) {
            Ok(None)
        } else {
            Err(failure(helper, "get", &r, None))
        };
    }
    let creds: HelperCreds =
        serde_json::from_str(&r.stdout).map_err(|e| RegistryError::Helper {
            helper: helper.to_string(),
            reason: format!(
                "get: output is not the expected JSON ({})",
                e.classify_name()
            ),
        })?;
    Ok(match (creds.username.as_str(), creds.secret) {
        (_, s) if s.is_empty() => None,
        (TOKEN_USER, token) => Some(Credentials::IdentityToken {
            username: None,
            token,
        }),
        (user, password) => Some(Credentials::Basic {
            username: user.to_string(),
            password,
        }),
    })
}

/// Stores credentials for `server` in `helper`.
pub fn store(
    helper: &str,
    server: &str,
    username: &str,
    secret: &str,
) -> Result<(), RegistryError> {
    let input = serde_json::to_vec(&HelperCreds {
        server_url: server.to_string(),
        username: username.to_string(),
        secret: secret.to_string(),
    })
    .unwrap_or_default();
    let r = run(helper, "store", &input)?;
    if r.ok {
        Ok(())
    } else {
        Err(failure(helper, "store", &r, Some(secret)))
    }
}

/// Removes the credentials for `server` from `helper`; false when it had none.
pub fn erase(helper: &str, server: &str) -> Result<bool, RegistryError> {
    let r = run(helper, "erase", server.as_bytes())?;
    match (r.ok, is_not_found(&r)) {
        (true, _) => Ok(true),
        (false, true) => Ok(false),
        (false, false) => Err(failure(helper, "erase", &r, None)),
    }
}

trait ClassifyName {
    fn classify_name(&self) -> &'static str;
}

impl ClassifyName for serde_json::Error {
    /// The error class only: the message could quote the helper's output, which holds the secret.
    fn classify_name(&self) -> &'static str {
        match self.classify() {
            serde_json::error::Category::Io => "I/O error",
            serde_json::error::Category::Syntax => "syntax error",
            serde_json::error::Category::Data => "unexpected fields",
            serde_json::error::Category::Eof => "truncated",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run_output(stdout: &str, stderr: &str) -> Run {
        Run {
            ok: false,
            stdout: stdout.to_string(),
            stderr: stderr.to_string(),
        }
    }

    #[test]
    fn failures_never_echo_the_secret() {
        let echo = run_output("", "bad input: hunter2-xyz");
        let e = failure("h", "store", &echo, Some("hunter2-xyz")).to_string();
        assert!(!e.contains("hunter2") && e.contains("withheld"), "{e}");
        let json = run_output(r#"{"Username":"u","Secret":"s3cr3t"}"#, "");
        let e = failure("h", "get", &json, None).to_string();
        assert!(!e.contains("s3cr3t"), "{e}");
        let plain = run_output("no such keychain item", "");
        let e = failure("h", "erase", &plain, None).to_string();
        assert!(e.contains("no such keychain item"), "{e}");
    }
}
