//! Filesystem trees as tests compare them: what umoci, runc and rbuild unpacked.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;

/// One filesystem entry as a test compares it: kind, permission bits, owner, content (see
/// [`file_data`]) or link target, and (for regular files) the hardlink group (first path of
/// the inode).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub kind: char,
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub data: String,
    pub link_group: Option<String>,
}

/// Every entry under `root` (relative paths, root excluded), without following symlinks.
pub fn tree(root: &Path) -> BTreeMap<String, Entry> {
    use std::os::unix::fs::{FileTypeExt, MetadataExt};
    let mut out = BTreeMap::new();
    let mut inodes: HashMap<(u64, u64), String> = Default::default();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let mut names: Vec<_> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        names.sort();
        for path in names {
            let m = std::fs::symlink_metadata(&path).unwrap();
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .to_string();
            let ft = m.file_type();
            let (kind, data) = if ft.is_dir() {
                stack.push(path.clone());
                ('d', String::new())
            } else if ft.is_symlink() {
                (
                    'l',
                    std::fs::read_link(&path)
                        .unwrap()
                        .to_string_lossy()
                        .to_string(),
                )
            } else if ft.is_file() {
                ('f', file_data(&std::fs::read(&path).unwrap()))
            } else if ft.is_char_device() {
                ('c', format!("{}", m.rdev()))
            } else if ft.is_block_device() {
                ('b', format!("{}", m.rdev()))
            } else {
                ('p', String::new())
            };
            let link_group = (kind == 'f' && m.nlink() > 1).then(|| {
                inodes
                    .entry((m.dev(), m.ino()))
                    .or_insert_with(|| rel.clone())
                    .clone()
            });
            let entry = Entry {
                kind,
                mode: m.mode() & 0o7777,
                uid: m.uid(),
                gid: m.gid(),
                data,
                link_group,
            };
            out.insert(rel, entry);
        }
    }
    out
}

/// How a regular file's content is compared: short text as itself (readable in a failed
/// assertion), anything else by its sha256 digest and size. Every byte of every file counts.
pub fn file_data(bytes: &[u8]) -> String {
    match std::str::from_utf8(bytes) {
        Ok(text) if bytes.len() <= 64 => text.to_string(),
        _ => format!("{} ({} bytes)", rbuild_oci::Digest::of(bytes), bytes.len()),
    }
}

/// Asserts two trees are equal, naming only the entries that differ (a whole tree in a
/// failure message hides the one file that matters).
pub fn assert_same_tree(left: &Path, right: &Path, what: &str) {
    let (a, b) = (tree(left), tree(right));
    let mut diffs = Vec::new();
    for path in a.keys().chain(b.keys().filter(|k| !a.contains_key(*k))) {
        let (x, y) = (a.get(path), b.get(path));
        if x != y {
            diffs.push(format!(
                "{path}:\n  {}: {x:?}\n  {}: {y:?}",
                left.display(),
                right.display()
            ));
        }
    }
    assert!(
        diffs.is_empty(),
        "{what}: {} entries differ:\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}
