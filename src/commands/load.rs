//! `rbuild load -i FILE`.

use std::io::BufReader;
use std::path::Path;
use std::process::ExitCode;

use anyhow::Context;
use rbuild_store::Store;

/// Loads every image of the archive, verifying digests; prints what it tagged.
pub fn run(store: &Store, input: &Path) -> anyhow::Result<ExitCode> {
    let images = if input.as_os_str() == "-" {
        store.import_archive(&mut BufReader::with_capacity(
            1 << 20,
            std::io::stdin().lock(),
        ))
    } else {
        let file = std::fs::File::open(input)
            .with_context(|| format!("cannot open {}", input.display()))?;
        store.import_archive(&mut BufReader::with_capacity(1 << 20, file))
    }
    .with_context(|| format!("cannot load {}", input.display()))?;
    for (tag, desc) in images {
        if tag.is_empty() {
            println!("Loaded image ID: {}", desc.digest);
        } else {
            println!("Loaded image: {tag}");
        }
    }
    Ok(ExitCode::SUCCESS)
}
