//! Build secrets (`--secret`) and SSH forwarding (`--ssh`) as the request carries them: where
//! each value comes from, never the value itself (a secret is read only when a step mounts it).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The largest secret read (BuildKit's limit is 500 KiB).
pub const MAX_SECRET_BYTES: u64 = 500 * 1024;

/// Where a `--secret` value comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SecretSource {
    /// A file's content.
    File(PathBuf),
    /// An environment variable of the rbuild process.
    Env(String),
}

/// What `--ssh` forwards for one id.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SshSource {
    /// An agent socket (`--ssh default` is `$SSH_AUTH_SOCK`).
    Agent(PathBuf),
    /// Private key files, served by an agent rbuild starts for the build.
    Keys(Vec<PathBuf>),
}

/// Why a `--secret`/`--ssh` value or a secret's content cannot be used. Never holds a value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The flag's text is malformed.
    #[error("--{flag} {spec:?}: {why}")]
    Spec {
        /// `secret` or `ssh`.
        flag: &'static str,
        /// The value as given (ids and paths only, never content).
        spec: String,
        /// What is wrong.
        why: &'static str,
    },
    /// The secret's file cannot be read.
    #[error("secret {id:?}: cannot read {path}")]
    Read {
        /// The secret id.
        id: String,
        /// The file.
        path: PathBuf,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// The secret's environment variable is not set.
    #[error("secret {id:?}: environment variable {var} is not set")]
    NoEnv {
        /// The secret id.
        id: String,
        /// The variable.
        var: String,
    },
    /// The secret is larger than [`MAX_SECRET_BYTES`].
    #[error("secret {id:?} is larger than {} KiB", MAX_SECRET_BYTES / 1024)]
    TooLarge {
        /// The secret id.
        id: String,
    },
}

fn spec_error(flag: &'static str, spec: &str, why: &'static str) -> SecretError {
    SecretError::Spec {
        flag,
        spec: spec.to_string(),
        why,
    }
}

/// Parses `--secret id=ID[,src=PATH|,env=VAR][,type=file|env]`, as buildx does: with neither
/// `src` nor `env`, the environment variable named like the id.
pub fn parse_secret(spec: &str) -> Result<(String, SecretSource), SecretError> {
    let bad = |why| spec_error("secret", spec, why);
    let mut fields: BTreeMap<&str, &str> = BTreeMap::new();
    for field in spec.split(',') {
        let (k, v) = field
            .split_once('=')
            .ok_or_else(|| bad("expected key=value fields"))?;
        let k = match k.trim() {
            "source" => "src",
            k => k,
        };
        if fields.insert(k, v).is_some() {
            return Err(bad("a key is given twice"));
        }
    }
    let id = fields
        .remove("id")
        .filter(|i| !i.is_empty())
        .ok_or_else(|| bad("id= is required"))?;
    let ty = fields.remove("type");
    let src = match (ty, fields.remove("src"), fields.remove("env")) {
        (_, Some(_), Some(_)) => return Err(bad("src= and env= exclude each other")),
        (None | Some("file"), Some(p), None) => SecretSource::File(p.into()),
        (None | Some("env"), None, Some(v)) => SecretSource::Env(v.to_string()),
        (Some("env"), Some(v), None) => SecretSource::Env(v.to_string()),
        (Some("file"), None, None) => SecretSource::File(id.into()),
        (None | Some("env"), None, None) => SecretSource::Env(id.to_string()),
        _ => return Err(bad("type= must be file or env")),
    };
    if !fields.is_empty() {
        return Err(bad("unknown key (expected id, src, env, type)"));
    }
    Ok((id.to_string(), src))
}

/// Parses `--ssh ID[=SOCKET|KEY[,KEY...]]`; `default` alone forwards `$SSH_AUTH_SOCK`.
pub fn parse_ssh(spec: &str, auth_sock: Option<&Path>) -> Result<(String, SshSource), SecretError> {
    let bad = |why| spec_error("ssh", spec, why);
    let (id, paths) = match spec.split_once('=') {
        Some((id, p)) => (id, Some(p)),
        None => (spec, None),
    };
    if id.is_empty() {
        return Err(bad("an id is required (e.g. default)"));
    }
    let source =
        match paths.filter(|p| !p.is_empty()) {
            None => SshSource::Agent(auth_sock.map(Path::to_path_buf).ok_or_else(|| {
                bad("SSH_AUTH_SOCK is not set: name an agent socket or key files")
            })?),
            Some(p) => {
                let paths: Vec<PathBuf> = p.split(',').map(PathBuf::from).collect();
                match paths.as_slice() {
                    [one] if is_socket(one) => SshSource::Agent(one.clone()),
                    _ => SshSource::Keys(paths),
                }
            }
        };
    Ok((id.to_string(), source))
}

fn is_socket(p: &Path) -> bool {
    use std::os::unix::fs::FileTypeExt;
    std::fs::metadata(p).is_ok_and(|m| m.file_type().is_socket())
}

/// Reads a secret's value (bounded); the caller keeps it in memory only.
pub fn read_secret(id: &str, source: &SecretSource) -> Result<Vec<u8>, SecretError> {
    use std::io::Read;
    let bytes = match source {
        SecretSource::Env(var) => std::env::var_os(var)
            .map(|v| std::os::unix::ffi::OsStrExt::as_bytes(v.as_os_str()).to_vec())
            .ok_or_else(|| SecretError::NoEnv {
                id: id.to_string(),
                var: var.clone(),
            })?,
        SecretSource::File(path) => {
            let read = |source| SecretError::Read {
                id: id.to_string(),
                path: path.clone(),
                source,
            };
            let mut out = Vec::new();
            std::fs::File::open(path)
                .map_err(read)?
                .take(MAX_SECRET_BYTES + 1)
                .read_to_end(&mut out)
                .map_err(read)?;
            out
        }
    };
    if bytes.len() as u64 > MAX_SECRET_BYTES {
        return Err(SecretError::TooLarge { id: id.to_string() });
    }
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_parse_as_buildx_spells_them() {
        let p = |s| parse_secret(s).unwrap();
        assert_eq!(
            p("id=a,src=/f"),
            ("a".into(), SecretSource::File("/f".into()))
        );
        assert_eq!(
            p("id=a,source=/f"),
            ("a".into(), SecretSource::File("/f".into()))
        );
        assert_eq!(
            p("id=a,env=TOKEN"),
            ("a".into(), SecretSource::Env("TOKEN".into()))
        );
        assert_eq!(
            p("id=NPM_TOKEN"),
            ("NPM_TOKEN".into(), SecretSource::Env("NPM_TOKEN".into()))
        );
        assert_eq!(
            p("id=a,type=file"),
            ("a".into(), SecretSource::File("a".into()))
        );
        for bad in [
            "src=/f",
            "id=",
            "id=a,src=/f,env=X",
            "id=a,bogus=1",
            "id=a,type=x",
            "x",
        ] {
            assert!(parse_secret(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn ssh_parses_agents_and_keys() {
        let sock = Path::new("/run/agent.sock");
        assert_eq!(
            parse_ssh("default", Some(sock)).unwrap(),
            ("default".into(), SshSource::Agent(sock.into()))
        );
        assert!(parse_ssh("default", None).is_err());
        assert_eq!(
            parse_ssh("deploy=/k1,/k2", None).unwrap(),
            (
                "deploy".into(),
                SshSource::Keys(vec!["/k1".into(), "/k2".into()])
            )
        );
    }

    #[test]
    fn secret_values_are_read_bounded_and_errors_hold_no_value() {
        let t = tempfile::tempdir().unwrap();
        let f = t.path().join("s");
        std::fs::write(&f, "s3cr3t").unwrap();
        assert_eq!(
            read_secret("a", &SecretSource::File(f.clone())).unwrap(),
            b"s3cr3t"
        );
        std::fs::write(&f, vec![b'x'; MAX_SECRET_BYTES as usize + 1]).unwrap();
        let e = read_secret("a", &SecretSource::File(f)).unwrap_err();
        assert!(matches!(e, SecretError::TooLarge { .. }));
        assert!(read_secret("a", &SecretSource::Env("RBUILD_NO_SUCH_VAR_X".into())).is_err());
    }
}
