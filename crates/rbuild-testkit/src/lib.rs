//! Test fixtures: busybox base image, registry process, capability probes
