//! Filesystem to tar and back: overlay diff to OCI layer, safe applier, compression.
//!
//! * [`write_layer`] turns an overlay-format directory (an upper dir, or a snapshot) into a
//!   deterministic, compressed OCI layer in one streaming pass, returning diffID and digest.
//! * [`detect`] recognises tar, gzip, zstd, bzip2 and xz by content; [`decompress`] opens a
//!   layer blob (tar, gzip or zstd).
//! * [`apply_layer`] unpacks a layer tar into a directory without ever writing outside it;
//!   [`apply_layer_verified`] also proves the stream hashes to the diff_id the image claims.

mod apply;
mod compression;
mod error;
mod pgzip;
mod pool;
mod privilege;
mod recompress;
mod sniff;
mod tarwriter;
mod verify;
mod walk;
mod writer;
mod xattrs;

pub use apply::{
    apply_layer, apply_layer_over, ApplyOptions, ApplyStats, Beneath, DirMeta, Underlay,
    WhiteoutMode,
};
pub use compression::{decompress, Compression};
pub use error::LayerError;
pub use privilege::host_root;
pub use recompress::{recompress, Recompressed};
pub use sniff::{detect, is_tar_header, Detected, SNIFF_LEN};
pub use verify::{apply_layer_verified, HashingReader};
pub use writer::{write_layer, LayerDigests, WriteOptions, OPAQUE_MARKER};
