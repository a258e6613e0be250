//! Removes mountpoint stubs from the upper dir after a run, so the layer holds only what the
//! command changed.

use crate::error::SandboxError;
use crate::plan::{Stub, StubKind};
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Component, Path, PathBuf};

/// Removes `stubs` (as reported by the init) from `upper`, deepest first. A stub is removed only
/// while it is still what the init left: an empty file, an empty dir, or an empty copied-up dir
/// whose mode and owner match the lowers'.
pub fn remove_stubs(upper: &Path, lowers: &[PathBuf], stubs: &[Stub]) -> Result<(), SandboxError> {
    for stub in stubs.iter().rev() {
        let Some(rel) = relative(&stub.path) else {
            continue;
        };
        if !parents_are_real_dirs(upper, &rel) {
            continue;
        }
        let p = upper.join(&rel);
        let Ok(meta) = fs::symlink_metadata(&p) else {
            continue;
        };
        let remove = match stub.kind {
            StubKind::File => meta.file_type().is_file() && meta.len() == 0,
            StubKind::Dir => meta.is_dir() && is_empty_dir(&p),
            StubKind::CopiedUp => {
                meta.is_dir() && is_empty_dir(&p) && same_as_lower(lowers, &rel, &meta)
            }
        };
        if remove {
            let r = if meta.is_dir() {
                fs::remove_dir(&p)
            } else {
                fs::remove_file(&p)
            };
            r.map_err(SandboxError::io("remove mountpoint stub", &p))?;
        }
    }
    Ok(())
}

/// The stub path relative to the rootfs, or None if it is not a plain absolute path.
fn relative(path: &str) -> Option<PathBuf> {
    let p = Path::new(path);
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::RootDir => {}
            Component::Normal(n) => out.push(n),
            _ => return None,
        }
    }
    (p.is_absolute() && !out.as_os_str().is_empty()).then_some(out)
}

/// The command may have replaced a parent with a symlink; never follow one out of upper.
fn parents_are_real_dirs(upper: &Path, rel: &Path) -> bool {
    let mut cur = upper.to_path_buf();
    let parents: Vec<_> = rel.components().collect();
    for c in &parents[..parents.len().saturating_sub(1)] {
        cur.push(c);
        match fs::symlink_metadata(&cur) {
            Ok(m) if m.is_dir() => {}
            _ => return false,
        }
    }
    true
}

fn is_empty_dir(p: &Path) -> bool {
    fs::read_dir(p)
        .map(|mut d| d.next().is_none())
        .unwrap_or(false)
}

fn same_as_lower(lowers: &[PathBuf], rel: &Path, meta: &fs::Metadata) -> bool {
    lowers
        .iter()
        .find_map(|l| fs::symlink_metadata(l.join(rel)).ok())
        .is_some_and(|lm| {
            lm.is_dir()
                && lm.mode() == meta.mode()
                && lm.uid() == meta.uid()
                && lm.gid() == meta.gid()
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stub(path: &str, kind: StubKind) -> Stub {
        Stub {
            path: path.into(),
            kind,
        }
    }

    #[test]
    fn removes_created_stubs_but_keeps_changes() {
        let t = tempfile_dir("stubs1");
        let upper = t.join("upper");
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::write(upper.join("etc/hosts"), "").unwrap();
        fs::write(upper.join("etc/hostname"), "").unwrap();
        fs::create_dir_all(upper.join("proc")).unwrap();
        let stubs = vec![
            stub("/proc", StubKind::Dir),
            stub("/etc", StubKind::Dir),
            stub("/etc/hosts", StubKind::File),
            stub("/etc/hostname", StubKind::File),
        ];
        remove_stubs(&upper, &[], &stubs).unwrap();
        assert_eq!(fs::read_dir(&upper).unwrap().count(), 0);
        // A file the command wrote next to a stub keeps the parent.
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::write(upper.join("etc/hosts"), "").unwrap();
        fs::write(upper.join("etc/new"), "x").unwrap();
        remove_stubs(&upper, &[], &stubs).unwrap();
        assert!(upper.join("etc/new").exists());
        assert!(!upper.join("etc/hosts").exists());
        fs::remove_dir_all(&t).unwrap();
    }

    #[test]
    fn copied_up_parent_removed_only_when_unchanged() {
        use std::os::unix::fs::PermissionsExt;
        let t = tempfile_dir("stubs2");
        let (lower, upper) = (t.join("lower"), t.join("upper"));
        fs::create_dir_all(lower.join("etc")).unwrap();
        fs::create_dir_all(upper.join("etc")).unwrap();
        fs::set_permissions(lower.join("etc"), fs::Permissions::from_mode(0o755)).unwrap();
        fs::set_permissions(upper.join("etc"), fs::Permissions::from_mode(0o700)).unwrap();
        let stubs = vec![stub("/etc", StubKind::CopiedUp)];
        remove_stubs(&upper, std::slice::from_ref(&lower), &stubs).unwrap();
        assert!(
            upper.join("etc").exists(),
            "chmod by the command is a change"
        );
        fs::set_permissions(upper.join("etc"), fs::Permissions::from_mode(0o755)).unwrap();
        remove_stubs(&upper, &[lower], &stubs).unwrap();
        assert!(!upper.join("etc").exists());
        fs::remove_dir_all(&t).unwrap();
    }

    #[test]
    fn never_follows_symlinked_parents_or_odd_paths() {
        let t = tempfile_dir("stubs3");
        let (outside, upper) = (t.join("outside"), t.join("upper"));
        fs::create_dir_all(&outside).unwrap();
        fs::create_dir_all(&upper).unwrap();
        fs::write(outside.join("hosts"), "").unwrap();
        std::os::unix::fs::symlink(&outside, upper.join("etc")).unwrap();
        remove_stubs(
            &upper,
            &[],
            &[
                stub("/etc/hosts", StubKind::File),
                stub("/../x", StubKind::File),
            ],
        )
        .unwrap();
        assert!(outside.join("hosts").exists());
        fs::remove_dir_all(&t).unwrap();
    }

    fn tempfile_dir(name: &str) -> PathBuf {
        let d =
            std::env::temp_dir().join(format!("rbuild-sandbox-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&d);
        fs::create_dir_all(&d).unwrap();
        d
    }
}
