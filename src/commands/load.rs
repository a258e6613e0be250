//! `rbuild load -i FILE|DIR|-`.

use std::io::BufReader;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use rbuild_store::Store;

/// Loads every image of the archive (docker-archive or OCI layout tar, `-` for stdin) or OCI
/// layout directory, verifying digests; prints what it tagged.
pub fn run(store: &Store, input: &Path) -> anyhow::Result<ExitCode> {
    let images = if input.as_os_str() == "-" {
        let stdin = std::io::stdin().lock();
        store.import_archive(&mut BufReader::with_capacity(1 << 20, stdin))
    } else if input.is_dir() {
        store.import_layout_dir(input)
    } else {
        let file = std::fs::File::open(input)
            .with_context(|| format!("cannot open {}", input.display()))?;
        store.import_archive(&mut BufReader::with_capacity(1 << 20, file))
    }
    .with_context(|| format!("cannot load {}", input.display()))?;
    for (tag, desc) in images {
        if tag.is_empty() {
            crate::outln!("Loaded image ID: {}", desc.digest);
        } else {
            crate::outln!("Loaded image: {tag}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
