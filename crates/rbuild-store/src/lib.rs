//! The local store: OCI layout, content ingest, tags, snapshots, cache index, locks
