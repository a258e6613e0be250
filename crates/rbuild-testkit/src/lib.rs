//! Test fixtures: a busybox base image made from the host's busybox-static, a real registry
//! process on 127.0.0.1, and probes that fail loudly when a prerequisite is missing.

mod busybox;
mod probe;
mod registry;

pub use busybox::{busybox_rootfs, busybox_tarball, BUSYBOX};
pub use probe::{require_root, require_tool};
pub use registry::{Registry, RegistryAuth};
