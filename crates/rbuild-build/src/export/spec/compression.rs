//! `compression=`, `compression-level=` and the options around them, and the one layer
//! compression several outputs must agree on.

use rbuild_layer::Compression;

use super::{flag, Kv, OutputSpec, SpecError};
use crate::export::ExportError;

/// Takes the compression options out of `kv`; `None` when none is given.
pub(crate) fn take(kv: &mut Kv) -> Result<Option<Compression>, SpecError> {
    let kind = kv.remove("compression");
    let level = kv.remove("compression-level");
    if flag(kv, "force-compression")? == Some(true) {
        // New layers always get the asked compression; recompressing base layers is not done.
        return Err(SpecError::NotSupported(
            "force-compression=true is not supported (base image layers are kept as they are)",
        ));
    }
    if flag(kv, "oci-mediatypes")? == Some(false) {
        return Err(SpecError::NotSupported(
            "only OCI media types are produced (oci-mediatypes=true)",
        ));
    }
    let level: Option<i64> = match level {
        None => None,
        Some(l) => Some(l.parse().map_err(|_| SpecError::Value {
            key: "compression-level",
            value: l.clone(),
            expected: "not a number",
        })?),
    };
    let compression = match (kind.as_deref(), level) {
        (None, None) => return Ok(None),
        (None | Some("gzip"), l) => gzip(l.unwrap_or(6))?,
        (Some("zstd"), l) => zstd(l.unwrap_or(3))?,
        (Some("uncompressed"), None) => Compression::None,
        (Some("uncompressed"), Some(_)) => {
            return Err(SpecError::NotSupported(
                "uncompressed takes no compression-level",
            ))
        }
        (Some(other), _) => {
            return Err(SpecError::Value {
                key: "compression",
                value: other.to_string(),
                expected: "expected gzip, zstd or uncompressed",
            })
        }
    };
    Ok(Some(compression))
}

fn level_error(level: i64, expected: &'static str) -> SpecError {
    SpecError::Value {
        key: "compression-level",
        value: level.to_string(),
        expected,
    }
}

fn gzip(level: i64) -> Result<Compression, SpecError> {
    match u32::try_from(level) {
        Ok(level @ 0..=9) => Ok(Compression::Gzip { level }),
        _ => Err(level_error(level, "gzip levels are 0-9")),
    }
}

fn zstd(level: i64) -> Result<Compression, SpecError> {
    match i32::try_from(level) {
        Ok(level @ 1..=22) => Ok(Compression::Zstd { level }),
        _ => Err(level_error(level, "zstd levels are 1-22")),
    }
}

/// The one layer compression the outputs agree on (gzip level 6 when none asks).
pub fn layer_compression(specs: &[OutputSpec]) -> Result<Compression, ExportError> {
    let mut chosen: Option<Compression> = None;
    for c in specs.iter().filter_map(|s| s.compression) {
        match chosen {
            Some(prev) if prev != c => return Err(ExportError::Conflict(prev, c)),
            _ => chosen = Some(c),
        }
    }
    Ok(chosen.unwrap_or_default())
}
