//! `rbuild save [--format oci|docker] -o FILE REF...`.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use rbuild_oci::Descriptor;
use rbuild_store::{OutputFile, Store};

use super::tag::stored_name;
use crate::cli::ArchiveFormat;

/// Writes the images to `output`: stdout for `-`, else through [`OutputFile`] (a regular
/// file is replaced atomically, a device or FIFO is written into, a directory is refused).
pub fn run(
    store: &Store,
    format: ArchiveFormat,
    output: &Path,
    references: &[String],
) -> anyhow::Result<ExitCode> {
    let mut refs: Vec<(String, Descriptor)> = Vec::new();
    for reference in references {
        let (name, desc) = stored_name(store, reference)?
            .with_context(|| format!("no such image: {reference}"))?;
        refs.push((name, desc));
    }
    let write = |out: &mut dyn Write| match format {
        ArchiveFormat::Oci => store.export_oci_archive(&refs, out),
        ArchiveFormat::Docker => store.export_docker_archive(&refs, out),
    };
    if output.as_os_str() == "-" {
        let mut out = BufWriter::with_capacity(1 << 20, std::io::stdout().lock());
        write(&mut out)?;
        out.flush().context("cannot write to stdout")?;
        return Ok(ExitCode::SUCCESS);
    }
    // OutputFile's errors name the destination.
    let mut out = OutputFile::create(output)?;
    write(&mut out)?;
    out.finish()?;
    Ok(ExitCode::SUCCESS)
}
