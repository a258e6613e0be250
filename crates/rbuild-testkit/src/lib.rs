//! Test fixtures: a busybox base image made from the host's busybox-static, a real registry
//! process (plain HTTP or TLS), throwaway certificates, and probes that fail loudly when a
//! prerequisite is missing.

mod busybox;
mod probe;
mod registry;
mod tls;

pub use busybox::{busybox_rootfs, busybox_tarball, BUSYBOX};
pub use probe::{require_root, require_tool};
pub use registry::{Registry, RegistryAuth, RegistryTls, ID_HEADER};
pub use tls::{host_address, make_certs, TestCerts};
