//! Test fixtures: a busybox base image made from the host's busybox-static, a real registry
//! process (plain HTTP or TLS), throwaway certificates, and probes that fail loudly when a
//! prerequisite is missing; a Debian base made with debootstrap, and inotify-watched host
//! canaries for escape tests; where run cgroups are; scratch directories removed at exit.

mod busybox;
mod canary;
mod cgroups;
mod debian;
mod probe;
mod registry;
mod scratch;
mod tls;

pub use busybox::{busybox_rootfs, busybox_tarball, BUSYBOX};
pub use canary::Canary;
pub use cgroups::run_cgroup_parents;
pub use debian::{debian_tarball, debian_tarball_path, DEBIAN_CACHE_DIR, DEBIAN_MIRROR};
pub use probe::{require_root, require_tool};
pub use registry::{Registry, RegistryAuth, RegistryTls, ID_HEADER};
pub use scratch::process_scratch_dir;
pub use tls::{host_address, make_certs, TestCerts};
