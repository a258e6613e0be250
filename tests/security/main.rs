//! Issue 17's regression suite: one test per known escape of other image builders, each named
//! after its advisory (docs/SECURITY.md lists them with the threat model). Every test aims at
//! something outside the build (a host canary, the host's procfs, a victim directory) that a
//! vulnerable builder would reach, and checks it was not.
//!
//! Run with `cargo test --test security` as root (RUN needs namespaces and overlayfs).

#[path = "../common/mod.rs"]
mod common;

mod cache;
mod entitlements;
mod fds;
mod git;
mod masking;
mod mounts;
mod options;
mod tar;
