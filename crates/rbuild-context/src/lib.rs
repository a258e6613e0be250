//! The build context and filesystem views: walking, `.dockerignore`, hashing with a stat
//! cache, COPY/ADD source selection, writing copies, and remote sources (URLs, git).

pub mod archive;
pub mod chmod;
pub mod chown;
pub mod dest;
pub mod fcopy;
pub mod git;
mod git_checkout;
mod git_command;
mod git_url;
pub mod hash;
pub mod hashcache;
pub mod ignore;
pub mod local;
pub mod pattern;
pub mod remote;
pub mod remote_context;
pub mod select;
pub mod statkey;
pub mod tree;
pub mod upper;
mod walk;
pub mod write;
pub(crate) mod xattr;
