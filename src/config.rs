//! rbuild.toml in the commands: read once at start, its `[registry."host"]` sections handed to
//! every command that reaches a registry (turned into the registry client's host options), and
//! its `[build]` cache defaults, typed, given to a build whose flags name none.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rbuild_build::remote_cache::{parse_cache_from, parse_cache_to};
use rbuild_config::{Config, RegistryConfig, Sourced};
use rbuild_registry::HostOptions;

use crate::cli::{CacheCommand, Command, RegistryFlags};

/// The configuration `--config` names, or the default files that exist.
pub fn load(explicit: Option<&Path>) -> anyhow::Result<Config> {
    rbuild_config::load(explicit).context("invalid configuration")
}

/// Gives the command's registry flags the configured registries (flags still win: see
/// `resolver::options`), and a build without `--cache-from`/`--cache-to` the configured ones.
pub fn attach(command: &mut Command, config: &Config) -> anyhow::Result<()> {
    let configured = Arc::new(config.registry.clone());
    if let Some(flags) = registry_flags(command) {
        flags.configured = configured;
    }
    if let Command::Build(args) = command {
        let defaults = &config.build;
        if args.cache_from.is_empty() {
            args.cache_from = typed(defaults.cache_from.as_ref(), "cache-from", parse_cache_from)?;
        }
        if args.cache_to.is_empty() {
            args.cache_to = typed(defaults.cache_to.as_ref(), "cache-to", parse_cache_to)?;
        }
    }
    Ok(())
}

/// The values of `[build] key`, each parsed as its flag is; an error names file and key.
fn typed<T, E: std::error::Error + Send + Sync + 'static>(
    sourced: Option<&Sourced>,
    key: &str,
    parse: fn(&str) -> Result<T, E>,
) -> anyhow::Result<Vec<T>> {
    let Some(s) = sourced else {
        return Ok(Vec::new());
    };
    s.values
        .iter()
        .map(|v| {
            parse(v).with_context(|| {
                format!(
                    "invalid configuration: {}: build.{key}: {v:?}",
                    s.file.display()
                )
            })
        })
        .collect()
}

fn registry_flags(command: &mut Command) -> Option<&mut RegistryFlags> {
    match command {
        Command::Build(args) => Some(&mut args.registry),
        Command::Pull(args) => Some(&mut args.registry),
        Command::Push(args) => Some(&mut args.registry),
        Command::Login(args) => Some(&mut args.registry),
        Command::Cache {
            command: CacheCommand::Export { registry, .. } | CacheCommand::Import { registry, .. },
        } => Some(registry),
        _ => None,
    }
}

/// The registry client's per-host options for the configured sections.
pub fn host_options(
    configured: &BTreeMap<String, RegistryConfig>,
) -> BTreeMap<String, HostOptions> {
    configured
        .iter()
        .map(|(host, c)| {
            let opts = HostOptions {
                mirrors: c.mirrors.clone().unwrap_or_default(),
                http: c.http,
                skip_verify: c.skip_verify(),
                ca: c.ca.clone().unwrap_or_default(),
                // More than one keypair is refused when the file is read.
                client_cert: c
                    .keypair
                    .iter()
                    .flatten()
                    .next()
                    .map(|k| (k.cert.clone(), k.key.clone())),
            };
            (host.clone(), opts)
        })
        .collect()
}
