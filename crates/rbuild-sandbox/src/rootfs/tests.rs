use super::*;
use crate::plan::StubKind;
use std::collections::BTreeMap;
use std::io;

/// An in-memory filesystem that records mounts.
#[derive(Default)]
struct FakeSys {
    nodes: BTreeMap<PathBuf, FileType>,
    links: BTreeMap<PathBuf, PathBuf>,
    mounts: Vec<(String, PathBuf, String, u64)>,
    trees: Vec<PathBuf>,
    /// Made by "another sandbox" between our stat and our create: the create finds it.
    raced: BTreeMap<PathBuf, FileType>,
}

impl FakeSys {
    fn with(paths: &[(&str, FileType)]) -> Self {
        let mut f = FakeSys::default();
        f.nodes.insert("/".into(), FileType::Dir);
        for (p, t) in paths {
            f.nodes.insert(p.into(), *t);
        }
        f
    }
    fn resolve(&self, p: &Path) -> PathBuf {
        let mut out = PathBuf::from("/");
        for c in p.components().skip(1) {
            out.push(c);
            if let Some(t) = self.links.get(&out) {
                out = t.clone();
            }
        }
        out
    }
}

impl FakeSys {
    fn create(&mut self, path: &Path, kind: FileType) -> io::Result<()> {
        if let Some(other) = self.raced.remove(path) {
            if other == FileType::Symlink {
                self.links.insert(path.into(), "/elsewhere".into());
            } else {
                self.nodes.insert(path.into(), other);
            }
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        if self.nodes.contains_key(path) || self.links.contains_key(path) {
            return Err(io::Error::from(io::ErrorKind::AlreadyExists));
        }
        self.nodes.insert(path.into(), kind);
        Ok(())
    }
}

fn nf() -> io::Error {
    io::Error::from(io::ErrorKind::NotFound)
}

impl Sys for FakeSys {
    fn mount(
        &mut self,
        source: &str,
        target: &Path,
        fstype: &str,
        flags: u64,
        _data: &str,
    ) -> io::Result<()> {
        self.mounts
            .push((source.into(), target.into(), fstype.into(), flags));
        Ok(())
    }
    fn mount_overlay(&mut self, _: &Path, _: &OverlayDirs) -> io::Result<()> {
        Ok(())
    }
    fn pivot_root(&mut self, _: &Path) -> io::Result<()> {
        Ok(())
    }
    fn clone_tree(&mut self, path: &Path) -> io::Result<usize> {
        self.trees.push(path.into());
        Ok(self.trees.len() - 1)
    }
    fn new_fs(&mut self, fstype: &str, _: u64) -> io::Result<usize> {
        self.trees.push(PathBuf::from(format!("new:{fstype}")));
        Ok(self.trees.len() - 1)
    }
    fn attach_tree(&mut self, handle: usize, target: &Path) -> io::Result<()> {
        let src = self
            .trees
            .get(handle)
            .ok_or_else(nf)?
            .to_string_lossy()
            .into_owned();
        self.mounts.push((src, target.into(), "bind".into(), 0));
        Ok(())
    }
    fn lstat(&mut self, path: &Path) -> io::Result<Option<FileType>> {
        let parent = self.resolve(path.parent().unwrap_or(Path::new("/")));
        let p = parent.join(path.file_name().unwrap_or_default());
        Ok(self
            .nodes
            .get(&p)
            .copied()
            .or(self.links.get(&p).map(|_| FileType::Symlink)))
    }
    fn stat(&mut self, path: &Path) -> io::Result<Option<FileType>> {
        Ok(self.nodes.get(&self.resolve(path)).copied())
    }
    fn canonicalize(&mut self, path: &Path) -> io::Result<PathBuf> {
        let r = self.resolve(path);
        self.nodes.get(&r).map(|_| r).ok_or_else(nf)
    }
    fn mkdir(&mut self, path: &Path) -> io::Result<()> {
        self.create(path, FileType::Dir)
    }
    fn create_file(&mut self, path: &Path) -> io::Result<()> {
        self.create(path, FileType::Other)
    }
    fn mknod_char(&mut self, path: &Path, _: u32, _: u32) -> io::Result<()> {
        self.create_file(path)
    }
    fn symlink(&mut self, target: &str, link: &Path) -> io::Result<()> {
        self.links.insert(link.into(), target.into());
        Ok(())
    }
    fn write_file(&mut self, path: &Path, _: &[u8], _: u32, _: (u32, u32)) -> io::Result<()> {
        self.create_file(path)
    }
}

fn stub(path: &str, kind: StubKind) -> Stub {
    Stub {
        path: path.into(),
        kind,
    }
}

#[test]
fn existing_targets_create_no_stubs() {
    let mut sys = FakeSys::with(&[("/etc", FileType::Dir), ("/etc/hosts", FileType::Other)]);
    let mut stubs = vec![];
    let t = ensure_mountpoint(&mut sys, "/etc/hosts", Kind::File, &mut stubs).unwrap();
    assert_eq!(t, PathBuf::from("/etc/hosts"));
    assert!(stubs.is_empty());
}

#[test]
fn missing_file_and_parent_are_recorded_parent_first() {
    let mut sys = FakeSys::with(&[]);
    let mut stubs = vec![];
    ensure_mountpoint(&mut sys, "/etc/hosts", Kind::File, &mut stubs).unwrap();
    ensure_mountpoint(&mut sys, "/etc/hostname", Kind::File, &mut stubs).unwrap();
    assert_eq!(
        stubs,
        vec![
            stub("/etc", StubKind::Dir),
            stub("/etc/hosts", StubKind::File),
            stub("/etc/hostname", StubKind::File)
        ]
    );
}

#[test]
fn existing_parents_are_marked_copied_up() {
    let mut sys = FakeSys::with(&[("/a", FileType::Dir), ("/a/b", FileType::Dir)]);
    let mut stubs = vec![];
    ensure_mountpoint(&mut sys, "/a/b/c", Kind::Dir, &mut stubs).unwrap();
    assert_eq!(
        stubs,
        vec![
            stub("/a", StubKind::CopiedUp),
            stub("/a/b", StubKind::CopiedUp),
            stub("/a/b/c", StubKind::Dir)
        ]
    );
}

#[test]
fn symlinked_parent_is_resolved_inside_root() {
    let mut sys = FakeSys::with(&[("/private", FileType::Dir), ("/private/etc", FileType::Dir)]);
    sys.links.insert("/etc".into(), "/private/etc".into());
    let mut stubs = vec![];
    let t = ensure_mountpoint(&mut sys, "/etc/hosts", Kind::File, &mut stubs).unwrap();
    assert_eq!(t, PathBuf::from("/private/etc/hosts"));
    assert_eq!(
        stubs.last(),
        Some(&stub("/private/etc/hosts", StubKind::File))
    );
}

#[test]
fn relative_or_dotdot_targets_are_rejected() {
    let mut sys = FakeSys::with(&[]);
    assert!(ensure_mountpoint(&mut sys, "etc", Kind::Dir, &mut vec![]).is_err());
    assert!(ensure_mountpoint(&mut sys, "/a/../b", Kind::Dir, &mut vec![]).is_err());
}

#[test]
fn full_plan_runs_against_fake_and_masks_only_existing() {
    let mut sys = FakeSys::with(&[
        ("/proc", FileType::Dir),
        ("/proc/kcore", FileType::Other),
        ("/proc/sys", FileType::Dir),
        ("/proc/acpi", FileType::Dir),
    ]);
    let spec = crate::spec::RunSpec {
        cwd: "/".into(),
        ..Default::default()
    };
    let steps = crate::plan::build(
        &spec,
        Path::new("/tmp/e"),
        Path::new("/tmp/s"),
        crate::plan::Userns::Host,
    );
    let mut sources = Opened::default();
    for s in crate::plan::bind_sources(&steps) {
        sources.binds.insert(s.clone(), sys.clone_tree(&s).unwrap());
    }
    let mut stubs = vec![];
    apply(&mut sys, &steps, &sources, &mut stubs).unwrap();
    let targets: Vec<&PathBuf> = sys.mounts.iter().map(|m| &m.1).collect();
    assert!(targets.contains(&&PathBuf::from("/proc/kcore")));
    assert!(targets.contains(&&PathBuf::from("/proc/acpi")));
    assert!(!targets.contains(&&PathBuf::from("/proc/keys")));
    let kcore = sys
        .mounts
        .iter()
        .find(|m| m.1 == Path::new("/proc/kcore"))
        .unwrap();
    assert_eq!(kcore.0, "/dev/null");
    let hosts = sys
        .mounts
        .iter()
        .find(|m| m.1 == Path::new("/etc/hosts"))
        .unwrap();
    assert_eq!(hosts.0, "/tmp/e/hosts");
    assert!(stubs.contains(&stub("/etc/hosts", StubKind::File)));
    assert!(stubs.contains(&stub("/dev", StubKind::Dir)));
    assert!(!stubs.iter().any(|s| s.path == "/proc"));
}

/// mount/testCacheMountParallel failed now and then: two steps at once mount one cache at
/// /foo/bar and below it at /foo/bar/baz, and both create `baz` in the shared cache.
#[test]
fn a_mountpoint_another_sandbox_just_made_is_used_and_not_recorded() {
    let mut sys = FakeSys::with(&[("/foo", FileType::Dir), ("/foo/bar", FileType::Dir)]);
    sys.raced.insert("/foo/bar/baz".into(), FileType::Dir);
    let mut stubs = vec![];
    let t = ensure_mountpoint(&mut sys, "/foo/bar/baz", Kind::Dir, &mut stubs).unwrap();
    assert_eq!(t, PathBuf::from("/foo/bar/baz"));
    assert!(!stubs.iter().any(|s| s.path == "/foo/bar/baz"), "{stubs:?}");

    let mut sys = FakeSys::with(&[]);
    sys.raced.insert("/run".into(), FileType::Dir);
    let mut stubs = vec![];
    ensure_mountpoint(&mut sys, "/run/s/f", Kind::File, &mut stubs).unwrap();
    let paths: Vec<&str> = stubs.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["/run/s", "/run/s/f"]);
}

#[test]
fn a_raced_mountpoint_of_the_wrong_kind_or_a_symlink_is_refused() {
    for (kind, other) in [
        (Kind::Dir, FileType::Other),
        (Kind::File, FileType::Dir),
        (Kind::Dir, FileType::Symlink),
        (Kind::File, FileType::Symlink),
    ] {
        let mut sys = FakeSys::with(&[("/foo", FileType::Dir)]);
        sys.raced.insert("/foo/baz".into(), other);
        let mut stubs = vec![];
        let e = ensure_mountpoint(&mut sys, "/foo/baz", kind, &mut stubs).unwrap_err();
        assert!(e.to_string().contains("/foo/baz"), "{e}");
    }
}
