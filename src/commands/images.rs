//! `rbuild images`.

use std::process::ExitCode;

use rbuild_store::Store;

/// Lists tags with image ID, creation time, size (every distinct blob the image uses) and,
/// for multi-platform images, their platforms.
pub fn run(store: &Store) -> anyhow::Result<ExitCode> {
    crate::outln!(
        "{:<40} {:<14} {:<22} {:>10}  PLATFORMS",
        "REPOSITORY:TAG",
        "IMAGE ID",
        "CREATED",
        "SIZE"
    );
    for image in store.images()? {
        let id = image.config.as_ref().map_or("-", |d| d.short());
        let line = format!(
            "{:<40} {:<14} {:<22} {:>10}",
            image.tag,
            id,
            image.created.as_deref().unwrap_or("-"),
            human(image.size),
        );
        match platforms(store, &image.descriptor) {
            Some(p) => crate::outln!("{line}  {p}"),
            None => crate::outln!("{line}"),
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// The platforms an index lists (`None` for a single-platform image).
fn platforms(store: &Store, desc: &rbuild_oci::Descriptor) -> Option<String> {
    if !rbuild_oci::media_type::is_index(&desc.media_type) {
        return None;
    }
    let index: Option<rbuild_oci::Index> = store
        .read_blob(&desc.digest)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok());
    let specs: Vec<String> = index
        .map(|i| i.manifests)
        .unwrap_or_default()
        .iter()
        .filter_map(|m| m.platform.as_ref().map(|p| p.to_spec()))
        .collect();
    Some(specs.join(","))
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
