//! `rbuild import TARBALL REF`.

use std::io::Read;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use rbuild_store::Store;

/// Imports a root filesystem tarball as a one-layer image.
pub fn run(store: &Store, tarball: &Path, reference: &str) -> anyhow::Result<ExitCode> {
    let reader: Box<dyn Read + Send> = if tarball.as_os_str() == "-" {
        Box::new(std::io::stdin())
    } else {
        Box::new(
            std::fs::File::open(tarball)
                .with_context(|| format!("cannot open {}", tarball.display()))?,
        )
    };
    let created_by = format!("rbuild import {}", tarball.display());
    let desc = rbuild_build::import::import_rootfs(store, reader, reference, &created_by)?;
    crate::outln!("{}", desc.digest);
    Ok(ExitCode::SUCCESS)
}
