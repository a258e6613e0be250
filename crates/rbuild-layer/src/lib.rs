//! Filesystem to tar and back: overlay diff to OCI layer, safe applier, compression
