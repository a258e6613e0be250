//! The portable form of cache mounts (`rbuild cache export --mounts` / `import`): media
//! types, annotations and the JSON of a part's config. See docs/ARCHITECTURE.md, "Portable
//! cache mounts".

use std::collections::BTreeMap;

use rbuild_oci::{Descriptor, Digest};
use serde::{Deserialize, Serialize};

/// `artifactType` of the index over every exported mount.
pub const CACHE_MOUNTS_ARTIFACT: &str = "application/vnd.rbuild.cachemounts.v1";
/// `artifactType` of one part of one mount (an OCI image manifest).
pub const CACHE_MOUNT_ARTIFACT: &str = "application/vnd.rbuild.cachemount.v1";
/// Media type of a part's config: the entries of the mount it lists.
pub const CACHE_MOUNT_CONFIG: &str = "application/vnd.rbuild.cachemount.v1+json";
/// Media type of a chunk (a pack): raw bytes of pieces of one or more files.
pub const CACHE_MOUNT_CHUNK: &str = "application/vnd.rbuild.cachemount.chunk.v1";
/// Annotation on each index entry: the mount's id.
pub const ANNOTATION_ID: &str = "dev.rbuild.cachemount.id";
/// Annotation on each index entry: the part's number, from 0.
pub const ANNOTATION_PART: &str = "dev.rbuild.cachemount.part";

/// Owner, permission bits and modification time of a mount's root directory.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RootMeta {
    /// Permission bits (`mode & 0o7777`).
    pub mode: u32,
    /// Owner.
    pub uid: u32,
    /// Group.
    pub gid: u32,
    /// Seconds and nanoseconds since the epoch.
    pub mtime: [i64; 2],
}

/// What an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// A directory.
    Dir,
    /// A regular file; its bytes are in `chunks`.
    File,
    /// A symbolic link to `target`.
    Symlink,
    /// Another name of the regular file at `target` (an earlier entry of the mount).
    Hardlink,
    /// A named pipe.
    Fifo,
}

/// One entry of a mount (the root excluded), in the mount's walk order: a directory comes
/// before what it contains.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Relative path, `/`-separated.
    pub path: String,
    /// What it is.
    #[serde(rename = "type")]
    pub kind: Kind,
    /// Permission bits (`mode & 0o7777`).
    #[serde(default)]
    pub mode: u32,
    /// Owner.
    #[serde(default)]
    pub uid: u32,
    /// Group.
    #[serde(default)]
    pub gid: u32,
    /// Seconds and nanoseconds since the epoch.
    #[serde(default)]
    pub mtime: [i64; 2],
    /// A file's size.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub size: u64,
    /// A symlink's target, or a hardlink's first path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target: Option<String>,
    /// A file's bytes in order, piece by piece.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunks: Vec<Piece>,
}

/// One piece of a file: `[layer, offset in that chunk, length, digest of the piece]`, `layer`
/// indexing the part manifest's layers. The digest lets a later export reuse the piece where
/// it is and an import check every byte it writes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Piece(pub u64, pub u64, pub u64, pub Digest);

fn is_zero(n: &u64) -> bool {
    *n == 0
}

/// The config of one part of a mount.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartConfig {
    /// The mount's id.
    pub id: String,
    /// This part's number, from 0.
    pub part: u32,
    /// How many parts the mount has.
    pub parts: u32,
    /// The mount's root directory.
    pub root: RootMeta,
    /// This part's entries.
    pub entries: Vec<Entry>,
}

/// An OCI image manifest or index with `artifactType` (which `rbuild_oci`'s types lack),
/// fields in the order and with the omissions of the OCI image spec.
#[derive(Serialize)]
pub(crate) struct Doc<'a> {
    #[serde(rename = "schemaVersion")]
    pub schema_version: u32,
    #[serde(rename = "mediaType")]
    pub media_type: &'a str,
    #[serde(rename = "artifactType")]
    pub artifact_type: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub config: Option<&'a Descriptor>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub layers: Option<&'a [Descriptor]>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub manifests: Option<&'a [Descriptor]>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub annotations: &'a BTreeMap<String, String>,
}

/// The annotations naming a part: its mount's id and its number.
pub(crate) fn part_annotations(id: &str, part: u32) -> BTreeMap<String, String> {
    BTreeMap::from([
        (ANNOTATION_ID.to_string(), id.to_string()),
        (ANNOTATION_PART.to_string(), part.to_string()),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_read_back_and_omit_what_does_not_apply() {
        let e = Entry {
            path: "a/b".into(),
            kind: Kind::File,
            mode: 0o644,
            uid: 1,
            gid: 2,
            mtime: [3, 4],
            size: 5,
            target: None,
            chunks: vec![Piece(0, 10, 5, Digest::of(b"x"))],
        };
        let json = serde_json::to_string(&e).unwrap();
        assert_eq!(
            json,
            format!(
                r#"{{"path":"a/b","type":"file","mode":420,"uid":1,"gid":2,"mtime":[3,4],"size":5,"chunks":[[0,10,5,"{}"]]}}"#,
                Digest::of(b"x")
            )
        );
        assert_eq!(serde_json::from_str::<Entry>(&json).unwrap(), e);
        let dir: Entry = serde_json::from_str(r#"{"path":"d","type":"dir"}"#).unwrap();
        assert_eq!((dir.kind, dir.size, dir.chunks.len()), (Kind::Dir, 0, 0));
        assert!(serde_json::from_str::<Entry>(r#"{"path":"d","type":"socket"}"#).is_err());
    }
}
