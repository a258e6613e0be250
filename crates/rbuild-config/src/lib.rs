//! rbuild.toml: the settings read once at startup, typed here, used by the commands.
//!
//! Files: `/etc/rbuild/rbuild.toml`, then `$XDG_CONFIG_HOME/rbuild/rbuild.toml` (default
//! `~/.config`), later keys replacing earlier ones; or exactly the file `--config` names.
//! Every key is known (an unknown one is an error naming file, line and key), in the spirit
//! of buildkitd.toml: `[registry."host"]`, `[build]`, `[gc]`.

mod error;
mod gc;
mod load;
mod registry;
pub mod units;

#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

pub use error::ConfigError;
pub use gc::{Gc, GcPolicy};
pub use load::{default_files, load, load_files};
pub use registry::{mirror_host, KeyPair, RegistryConfig};

/// The whole configuration (every part optional: an absent file is an empty one).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Config {
    /// Per-registry settings, by host as written (`docker.io`, `host:port`).
    pub registry: BTreeMap<String, RegistryConfig>,
    /// Defaults for `rbuild build`.
    pub build: BuildDefaults,
    /// Garbage collection after builds (`None`: not configured, builds never prune).
    pub gc: Option<Gc>,
    /// The files read, in order (for messages).
    pub files: Vec<PathBuf>,
}

/// `[build]`: what a build uses when its flag is not given.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct BuildDefaults {
    /// `cache-from`: `--cache-from` values (same syntax), used when none is given.
    pub cache_from: Option<Sourced>,
    /// `cache-to`: `--cache-to` values (same syntax), used when none is given.
    pub cache_to: Option<Sourced>,
}

/// Values and the file that set them, so the command that parses them can name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sourced {
    /// The values as written.
    pub values: Vec<String>,
    /// The file they come from.
    pub file: PathBuf,
}

/// `[build]` as written in one file.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
struct BuildSection {
    cache_from: Option<Vec<String>>,
    cache_to: Option<Vec<String>>,
}

/// One file as written (before merging).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    registry: BTreeMap<String, RegistryConfig>,
    build: Option<BuildSection>,
    gc: Option<Gc>,
}

impl Config {
    /// The policy builds apply afterwards, if one is configured and not turned off.
    pub fn gc_policy(&self) -> Option<&GcPolicy> {
        self.gc.as_ref().and_then(Gc::policy)
    }

    /// `later` (read from `path`) replaces this one's keys (registries host by host, then key
    /// by key).
    fn merge(&mut self, later: File, path: &Path) {
        for (host, reg) in later.registry {
            self.registry.entry(host).or_default().merge(reg);
        }
        if let Some(b) = later.build {
            let sourced = |values| Sourced {
                values,
                file: path.to_path_buf(),
            };
            if let Some(v) = b.cache_from {
                self.build.cache_from = Some(sourced(v));
            }
            if let Some(v) = b.cache_to {
                self.build.cache_to = Some(sourced(v));
            }
        }
        if let Some(gc) = later.gc {
            self.gc = Some(match self.gc.take() {
                Some(earlier) => earlier.merge(gc),
                None => gc,
            });
        }
    }
}
