//! rbuild.toml in the commands: read once at start, its `[registry."host"]` sections handed to
//! every command that reaches a registry, turned into the registry client's host options.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use rbuild_config::{Config, RegistryConfig};
use rbuild_registry::HostOptions;

use crate::cli::{CacheCommand, Command, RegistryFlags};

/// The configuration `--config` names, or the default files that exist.
pub fn load(explicit: Option<&Path>) -> anyhow::Result<Config> {
    rbuild_config::load(explicit).context("invalid configuration")
}

/// Gives the command's registry flags the configured registries (flags still win: see
/// `resolver::options`).
pub fn attach(command: &mut Command, config: &Config) {
    let configured = Arc::new(config.registry.clone());
    if let Some(flags) = registry_flags(command) {
        flags.configured = configured;
    }
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
