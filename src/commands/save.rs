//! `rbuild save [--format oci|docker] -o FILE REF...`.

use std::io::{BufWriter, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use rbuild_oci::Descriptor;
use rbuild_store::Store;

use super::tag::stored_name;
use crate::cli::ArchiveFormat;

/// Writes the images to `output` (a temporary name renamed into place, or stdout for `-`).
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
    let mut tmp = output.as_os_str().to_owned();
    tmp.push(format!(".tmp-{}", std::process::id()));
    let tmp = std::path::PathBuf::from(tmp);
    let result = write_file(&tmp, output, write);
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.map(|()| ExitCode::SUCCESS)
}

/// Writes through `tmp`, synced, then renames over `dest`: never a truncated archive.
fn write_file(
    tmp: &Path,
    dest: &Path,
    write: impl FnOnce(&mut dyn Write) -> rbuild_store::Result<()>,
) -> anyhow::Result<()> {
    let file =
        std::fs::File::create(tmp).with_context(|| format!("cannot create {}", tmp.display()))?;
    let mut out = BufWriter::with_capacity(1 << 20, file);
    write(&mut out)?;
    let file = out
        .into_inner()
        .map_err(|e| e.into_error())
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    file.sync_all()
        .with_context(|| format!("cannot write {}", tmp.display()))?;
    std::fs::rename(tmp, dest).with_context(|| format!("cannot write {}", dest.display()))
}
