//! Hostile tars: nothing is ever written outside the target.

mod common;

use std::fs;
use std::path::Path;

use rbuild_layer::{apply_layer, ApplyOptions, LayerError, WhiteoutMode};
use tar::{EntryType, Header};

/// A tar built entry by entry with raw (unchecked) names.
struct Evil(Vec<u8>);

impl Evil {
    fn new() -> Self {
        Evil(Vec::new())
    }
    fn raw(mut self, name: &[u8], kind: EntryType, link: &[u8], data: &[u8]) -> Self {
        let mut h = Header::new_gnu();
        {
            let gnu = h.as_gnu_mut().unwrap();
            gnu.name[..name.len()].copy_from_slice(name);
            gnu.linkname[..link.len()].copy_from_slice(link);
        }
        h.set_entry_type(kind);
        h.set_mode(0o644);
        h.set_size(data.len() as u64);
        h.set_cksum();
        self.0.extend_from_slice(h.as_bytes());
        self.0.extend_from_slice(data);
        self.0.resize(self.0.len().div_ceil(512) * 512, 0);
        self
    }
    fn file(self, name: &str, data: &[u8]) -> Self {
        self.raw(name.as_bytes(), EntryType::Regular, b"", data)
    }
    fn done(mut self) -> Vec<u8> {
        self.0.extend_from_slice(&[0; 1024]);
        self.0
    }
}

/// A sandbox: `outside/` is what must stay untouched, `outside/target/` is where we unpack.
fn sandbox() -> (tempfile::TempDir, std::path::PathBuf) {
    let t = tempfile::tempdir().unwrap();
    let target = t.path().join("target");
    fs::create_dir(&target).unwrap();
    fs::write(t.path().join("secret"), b"secret").unwrap();
    (t, target)
}

fn apply(tar: &[u8], target: &Path, mode: WhiteoutMode) -> Result<(), LayerError> {
    apply_layer(
        &mut &tar[..],
        target,
        &ApplyOptions {
            whiteouts: mode,
            ..Default::default()
        },
    )
    .map(|_| ())
}

/// Everything outside `target` (relative names), to check nothing changed.
fn outside(root: &Path) -> Vec<String> {
    let mut v: Vec<String> = fs::read_dir(root)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn dotdot_and_absolute_paths_are_clamped_inside() {
    let (t, target) = sandbox();
    let tar = Evil::new()
        .file("../escape", b"x")
        .file("../../../../tmp/escape2", b"x")
        .file("/abs", b"x")
        .file("a/../../b", b"x")
        .done();
    apply(&tar, &target, WhiteoutMode::Apply).unwrap();
    assert_eq!(outside(t.path()), ["secret", "target"]);
    assert!(target.join("escape").is_file());
    assert!(target.join("tmp/escape2").is_file());
    assert!(target.join("abs").is_file());
    assert!(target.join("b").is_file());
}

#[test]
fn symlink_in_path_resolves_inside_root() {
    let (t, target) = sandbox();
    let up = t.path().to_str().unwrap().to_string();
    let tar = Evil::new()
        .raw(b"link", EntryType::Symlink, b"/", b"")
        .file("link/etc/passwd", b"pwned")
        .raw(b"up", EntryType::Symlink, b"../..", b"")
        .file("up/secret", b"pwned")
        .done();
    apply(&tar, &target, WhiteoutMode::Apply).unwrap();
    // An absolute link to a path that does not exist inside the root: refused, not followed.
    let tar = Evil::new()
        .raw(b"abs", EntryType::Symlink, up.as_bytes(), b"")
        .file("abs/secret", b"pwned")
        .done();
    assert!(apply(&tar, &target, WhiteoutMode::Apply).is_err());
    assert_eq!(fs::read(t.path().join("secret")).unwrap(), b"secret");
    assert_eq!(outside(t.path()), ["secret", "target"]);
    assert_eq!(fs::read(target.join("etc/passwd")).unwrap(), b"pwned");
    assert_eq!(fs::read(target.join("secret")).unwrap(), b"pwned");
    // The links themselves stay links (never replaced by writing through them).
    assert!(fs::symlink_metadata(target.join("link"))
        .unwrap()
        .file_type()
        .is_symlink());
}

#[test]
fn final_symlink_is_replaced_not_followed() {
    let (t, target) = sandbox();
    let secret = t.path().join("secret");
    let tar = Evil::new()
        .raw(
            b"s",
            EntryType::Symlink,
            secret.to_str().unwrap().as_bytes(),
            b"",
        )
        .file("s", b"pwned")
        .done();
    apply(&tar, &target, WhiteoutMode::Apply).unwrap();
    assert_eq!(fs::read(&secret).unwrap(), b"secret");
    assert_eq!(fs::read(target.join("s")).unwrap(), b"pwned");
}

#[test]
fn hardlinks_escaping_are_refused() {
    let (t, target) = sandbox();
    for link in [
        &b"../secret"[..],
        b"a/../../secret",
        b"../../../../etc/passwd",
    ] {
        let tar = Evil::new().raw(b"h", EntryType::Link, link, b"").done();
        let err = apply(&tar, &target, WhiteoutMode::Apply).unwrap_err();
        assert!(err.to_string().contains("escapes"), "{err}");
    }
    // Through a symlinked directory: resolved inside the root, so the outside file is unreachable.
    let up = t.path().to_str().unwrap().to_string();
    let tar = Evil::new()
        .raw(b"out", EntryType::Symlink, up.as_bytes(), b"")
        .raw(b"h2", EntryType::Link, b"out/secret", b"")
        .done();
    assert!(apply(&tar, &target, WhiteoutMode::Apply).is_err());
    assert!(!target.join("h2").exists());
    use std::os::unix::fs::MetadataExt;
    assert_eq!(fs::metadata(t.path().join("secret")).unwrap().nlink(), 1);
}

#[test]
fn whiteouts_cannot_delete_outside() {
    let (t, target) = sandbox();
    let tar = Evil::new()
        .file("../.wh.secret", b"")
        .raw(b"up", EntryType::Symlink, b"..", b"")
        .file("up/.wh.secret", b"")
        .done();
    apply(&tar, &target, WhiteoutMode::Apply).unwrap();
    assert_eq!(fs::read(t.path().join("secret")).unwrap(), b"secret");
}

#[test]
fn whiteouts_and_opaque_in_apply_mode() {
    let (_t, target) = sandbox();
    common::write(&target.join("etc/old"), b"o");
    common::write(&target.join("etc/keep"), b"k");
    common::write(&target.join("var/lib/a"), b"a");
    let tar = Evil::new()
        .file("etc/.wh.old", b"")
        .raw(b"var/", EntryType::Directory, b"", b"")
        .file("var/.wh..wh..opq", b"")
        .file("var/new", b"n")
        .done();
    apply(&tar, &target, WhiteoutMode::Apply).unwrap();
    assert!(!target.join("etc/old").exists());
    assert!(target.join("etc/keep").exists());
    assert!(!target.join("var/lib").exists());
    assert!(target.join("var/new").exists());
}
