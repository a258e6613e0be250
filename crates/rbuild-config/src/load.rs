//! Finding, reading and merging the files.

use std::path::{Path, PathBuf};

use crate::error::ConfigError;
use crate::{Config, File, Gc};

/// The system-wide file, read first.
const SYSTEM_FILE: &str = "/etc/rbuild/rbuild.toml";

/// The files read when `--config` is not given, in order: the system's, then the user's
/// (`$XDG_CONFIG_HOME/rbuild/rbuild.toml`, default `~/.config/rbuild/rbuild.toml`).
pub fn default_files() -> Vec<PathBuf> {
    let user = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".config")));
    let mut files = vec![PathBuf::from(SYSTEM_FILE)];
    files.extend(user.map(|dir| dir.join("rbuild/rbuild.toml")));
    files
}

/// The configuration: exactly `explicit` when given (it must exist), else the default files
/// that exist.
pub fn load(explicit: Option<&Path>) -> Result<Config, ConfigError> {
    match explicit {
        Some(path) => load_files(&[path.to_path_buf()], true),
        None => load_files(&default_files(), false),
    }
}

/// Reads `paths` in order, later keys replacing earlier ones; a missing file is skipped
/// unless `must_exist`.
pub fn load_files(paths: &[PathBuf], must_exist: bool) -> Result<Config, ConfigError> {
    let mut config = Config::default();
    for path in paths {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound && !must_exist => continue,
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.clone(),
                    source,
                })
            }
        };
        let file = parse(path, &text)?;
        let hosts: Vec<String> = file.registry.keys().cloned().collect();
        config.merge(file, path);
        config.files.push(path.clone());
        check(&config, path, &hosts)?;
    }
    Ok(config)
}

/// One file's text, typed; relative certificate paths anchored at the file's directory.
fn parse(path: &Path, text: &str) -> Result<File, ConfigError> {
    let mut file: File = toml::from_str(text).map_err(|e| {
        let (line, column) = e.span().map_or((1, 1), |s| line_column(text, s.start));
        ConfigError::Parse {
            path: path.to_path_buf(),
            line,
            column,
            message: e.message().trim_end().to_string(),
        }
    })?;
    let dir = path.parent().unwrap_or(Path::new("/"));
    for reg in file.registry.values_mut() {
        reg.anchor(dir);
    }
    Ok(file)
}

/// What the merged settings cannot do, blamed on `path`, the file that just changed them.
fn check(config: &Config, path: &Path, hosts: &[String]) -> Result<(), ConfigError> {
    let invalid = |key: String, reason: String| ConfigError::Invalid {
        path: path.to_path_buf(),
        key,
        reason,
    };
    for host in hosts {
        if let Some((key, reason)) = config.registry.get(host).and_then(|r| r.refusal()) {
            return Err(invalid(format!("registry.{host:?}.{key}"), reason));
        }
    }
    if let Some(Gc::Policy(p)) = &config.gc {
        if p.keep_storage.is_none() && p.keep_duration.is_none() {
            let why = "sets no limit: give keep-storage and/or keep-duration (or gc = false)";
            return Err(invalid("gc".to_string(), why.to_string()));
        }
    }
    Ok(())
}

/// 1-based line and column (in characters) of byte `offset` of `text`.
fn line_column(text: &str, offset: usize) -> (usize, usize) {
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let start = before.rfind('\n').map_or(0, |i| i + 1);
    let column = before.get(start..).map_or(0, |s| s.chars().count()) + 1;
    (line, column)
}
