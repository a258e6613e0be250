//! Hostile archives: tars that aim outside the root filesystem (written with python's tarfile,
//! which, unlike ours, writes whatever names it is told) and the host directory they aim at.

use std::path::Path;
use std::process::{Command, Output};

use super::text;

/// Writes a tar holding `ok/file` ("fine\n") and whatever `script` adds with the helpers
/// `f(name, data)`, `sym(name, target)`, `hard(name, target)` and `d(name)`.
pub fn evil_tar(out: &Path, script: &str) {
    let py = format!(
        "import tarfile, io, sys\nt = tarfile.open({out:?}, 'w', format=tarfile.PAX_FORMAT)\n\
def f(name, data=b'pwned\\n'):\n    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))\n\
def sym(name, target):\n    i = tarfile.TarInfo(name); i.type = tarfile.SYMTYPE; i.linkname = target; t.addfile(i)\n\
def hard(name, target):\n    i = tarfile.TarInfo(name); i.type = tarfile.LNKTYPE; i.linkname = target; t.addfile(i)\n\
def d(name):\n    i = tarfile.TarInfo(name); i.type = tarfile.DIRTYPE; i.mode = 0o755; t.addfile(i)\n\
d('ok')\nf('ok/file', b'fine\\n')\n{script}\nt.close()\n",
        out = out.to_str().unwrap()
    );
    let res = Command::new(rbuild_testkit::require_tool("python3", "python3"))
        .args(["-c", &py])
        .output()
        .unwrap();
    assert!(res.status.success(), "python: {}", text(&res));
}

/// Asserts that `ok/file` of an [`evil_tar`] arrived, at `path`, intact.
pub fn assert_fine(path: &Path) {
    assert_eq!(std::fs::read_to_string(path).unwrap(), "fine\n");
}

/// A host directory the archives aim at, with a victim file that must stay untouched.
pub struct Target {
    dir: tempfile::TempDir,
}

impl Target {
    /// A fresh target holding only the victim.
    pub fn new() -> Target {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("victim"), "original\n").unwrap();
        Target { dir }
    }

    /// The target directory, as the attack scripts name it.
    pub fn path(&self) -> String {
        self.dir.path().to_str().unwrap().to_string()
    }

    /// Nothing new in the target directory, and the victim unchanged with one link.
    pub fn assert_untouched(&self, what: &str) {
        use std::os::unix::fs::MetadataExt;
        let names: Vec<_> = std::fs::read_dir(self.dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["victim"], "{what}: files appeared outside the root");
        let victim = self.dir.path().join("victim");
        assert_eq!(
            std::fs::read_to_string(&victim).unwrap(),
            "original\n",
            "{what}: victim written"
        );
        assert_eq!(
            std::fs::metadata(&victim).unwrap().nlink(),
            1,
            "{what}: victim hard-linked"
        );
    }

    /// Asserts the target untouched after `out`, the rbuild run fed attack `name` (`what` says
    /// how); logs whether rbuild refused it. Returns true when rbuild accepted it, so that the
    /// caller checks that what was kept is harmless too.
    pub fn after(&self, name: &str, what: &str, out: &Output) -> bool {
        self.assert_untouched(&format!("{what}: {}", text(out)));
        let accepted = out.status.success();
        let verdict = if accepted {
            "accepted, contained"
        } else {
            "refused"
        };
        eprintln!("{name}: {verdict}");
        accepted
    }
}

/// Attacks on the directory `t`, each its own archive so that one refusal does not hide another.
pub fn attacks(t: &str) -> Vec<(&'static str, String)> {
    let depth = "../".repeat(30);
    vec![
        (
            "dotdot",
            format!("f('{depth}{t}/dotdot')\nf('ok/../../{depth}{t}/dotdot2')"),
        ),
        ("absolute", format!("f('{t}/absolute')")),
        (
            "symlink-abs",
            format!("sym('s', '{t}')\nf('s/through-abs')"),
        ),
        (
            "symlink-rel",
            format!("sym('ok/up', '{depth}{t}')\nf('ok/up/through-rel')"),
        ),
        (
            "symlink-chain",
            format!("sym('a', 'b/../../..{t}')\nd('b')\nf('a/chained')"),
        ),
        (
            "symlink-then-dir",
            format!("sym('x', '{t}')\nd('x/newdir')\nf('x/newdir/f')"),
        ),
        (
            "hardlink-dotdot",
            format!("hard('h', '{depth}{t}/victim')\nf('h', b'PWNED\\n')"),
        ),
        (
            "hardlink-abs",
            format!("hard('h', '{t}/victim')\nf('h', b'PWNED\\n')"),
        ),
        (
            "hardlink-via-symlink",
            format!("sym('sv', '{t}')\nhard('h', 'sv/victim')\nf('h', b'PWNED\\n')"),
        ),
        (
            "symlink-overwrite",
            format!("sym('ok/file2', '{t}/victim')\nf('ok/file2', b'PWNED\\n')"),
        ),
    ]
}

/// An OCI archive with one (hostile) layer, built by hand so nothing sanitises it.
pub fn oci_archive_with_layer(layer_tar: &Path, out: &Path, tag: &str) {
    let py = format!(
        r#"import hashlib, json, tarfile, io
layer = open({layer:?}, 'rb').read()
ld = hashlib.sha256(layer).hexdigest()
config = json.dumps({{"architecture": "amd64", "os": "linux", "config": {{}},
    "rootfs": {{"type": "layers", "diff_ids": ["sha256:" + ld]}}}}).encode()
cd = hashlib.sha256(config).hexdigest()
manifest = json.dumps({{"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
    "config": {{"mediaType": "application/vnd.oci.image.config.v1+json", "digest": "sha256:" + cd, "size": len(config)}},
    "layers": [{{"mediaType": "application/vnd.oci.image.layer.v1.tar", "digest": "sha256:" + ld, "size": len(layer)}}]}}).encode()
md = hashlib.sha256(manifest).hexdigest()
index = json.dumps({{"schemaVersion": 2, "manifests": [{{"mediaType": "application/vnd.oci.image.manifest.v1+json",
    "digest": "sha256:" + md, "size": len(manifest), "annotations": {{"org.opencontainers.image.ref.name": {tag:?}}}}}]}}).encode()
t = tarfile.open({out:?}, 'w')
def add(name, data):
    i = tarfile.TarInfo(name); i.size = len(data); t.addfile(i, io.BytesIO(data))
add('oci-layout', b'{{"imageLayoutVersion": "1.0.0"}}')
add('index.json', index)
for d, b in ((ld, layer), (cd, config), (md, manifest)):
    add('blobs/sha256/' + d, b)
t.close()
"#,
        layer = layer_tar.to_str().unwrap(),
        out = out.to_str().unwrap(),
    );
    let res = Command::new("python3").args(["-c", &py]).output().unwrap();
    assert!(res.status.success(), "python: {}", text(&res));
}
