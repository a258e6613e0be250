//! OCI and Docker image data types: digests, descriptors, configs, manifests, references.
//!
//! Data only, no I/O. JSON field order is fixed by struct order and maps are `BTreeMap`s,
//! so serializing the same value always yields the same bytes (and the same digest).

mod config;
mod descriptor;
mod digest;
mod manifest;
pub mod media_type;
pub mod platform;
mod reference;
pub mod user;

pub use config::{Healthcheck, History, ImageConfig, ImageConfigBody, RootFs};
pub use descriptor::{Descriptor, Platform};
pub use digest::{chain_id, sha256_hex, Digest, DigestError, Sha256Writer};
pub use manifest::{Index, Manifest};
pub use reference::{Reference, ReferenceError};

/// Serializes a value to canonical JSON bytes (fixed field order, no whitespace).
pub fn to_canonical_json<T: serde::Serialize>(value: &T) -> Vec<u8> {
    // Our types contain only strings, numbers, maps and vectors: serialization cannot fail.
    serde_json::to_vec(value).unwrap_or_default()
}
