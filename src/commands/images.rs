//! `rbuild images`.

use std::process::ExitCode;

use rbuild_store::Store;

/// Lists tags with image ID, creation time and size (every distinct blob the image uses).
pub fn run(store: &Store) -> anyhow::Result<ExitCode> {
    crate::outln!(
        "{:<40} {:<14} {:<22} {:>10}",
        "REPOSITORY:TAG",
        "IMAGE ID",
        "CREATED",
        "SIZE"
    );
    for image in store.images()? {
        let id = image.config.as_ref().map_or("-", |d| d.short());
        crate::outln!(
            "{:<40} {:<14} {:<22} {:>10}",
            image.tag,
            id,
            image.created.as_deref().unwrap_or("-"),
            human(image.size)
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Decimal units as docker prints them (`5.2MB`).
pub fn human(n: u64) -> String {
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
