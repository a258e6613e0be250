//! `rbuild images`.

use std::process::ExitCode;

use rbuild_build::image::read_image;
use rbuild_store::Store;

/// Lists tags with image ID, creation time and size.
pub fn run(store: &Store) -> anyhow::Result<ExitCode> {
    println!(
        "{:<40} {:<14} {:<22} {:>10}",
        "REPOSITORY:TAG", "IMAGE ID", "CREATED", "SIZE"
    );
    for (name, desc) in store.tags()? {
        let (manifest, config) = read_image(store, &desc)?;
        let size: u64 = manifest.layers.iter().map(|l| l.size).sum::<u64>() + manifest.config.size;
        let created = config.created.clone().unwrap_or_else(|| "-".into());
        println!(
            "{:<40} {:<14} {:<22} {:>10}",
            name,
            manifest.config.digest.short(),
            created,
            human(size)
        );
    }
    Ok(ExitCode::SUCCESS)
}

fn human(n: u64) -> String {
    let units = ["B", "kB", "MB", "GB", "TB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1000.0 && u + 1 < units.len() {
        v /= 1000.0;
        u += 1;
    }
    if u == 0 {
        format!("{n}B")
    } else {
        format!("{v:.1}{}", units[u])
    }
}
