//! `rbuild logout [REGISTRY]`.

use std::process::ExitCode;

use anyhow::Context;

use super::login::DEFAULT_REGISTRY;

/// Removes the credentials stored for the registry (config.json entry and helper secret).
pub fn run(registry: Option<&str>) -> anyhow::Result<ExitCode> {
    let server = registry.unwrap_or(DEFAULT_REGISTRY);
    let removed = rbuild_registry::logout(None, server)
        .with_context(|| format!("cannot remove the credentials for {server}"))?;
    if removed {
        eprintln!("Removing login credentials for {server}");
    } else {
        eprintln!("Not logged in to {server}");
    }
    Ok(ExitCode::SUCCESS)
}
