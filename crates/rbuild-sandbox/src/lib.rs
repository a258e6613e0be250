//! Runs one process in an isolated rootfs: namespaces, overlayfs, pivot_root, cgroups
