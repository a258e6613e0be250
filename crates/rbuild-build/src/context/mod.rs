//! The build context and filesystem views: source selection, hashing, writing copies.

pub mod chown;
pub mod hash;
pub mod pattern;
pub mod select;
pub mod tree;
pub mod write;
pub(crate) mod xattr;
