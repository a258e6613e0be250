//! Importing from layouts written on the fly (no root needed).

use std::path::{Path, PathBuf};

use rbuild_oci::{media_type, Descriptor, Digest, Index, Platform};
use rbuild_store::{Store, REF_NAME};

use super::{import, OciLayoutError, OciLayoutRef};

/// An OCI layout under construction in a temporary directory.
struct Layout {
    tmp: tempfile::TempDir,
    entries: Vec<Descriptor>,
}

impl Layout {
    fn new() -> Layout {
        let tmp = tempfile::tempdir().unwrap();
        let blobs = tmp.path().join("blobs/sha256");
        std::fs::create_dir_all(blobs).unwrap();
        std::fs::write(
            tmp.path().join("oci-layout"),
            r#"{"imageLayoutVersion":"1.0.0"}"#,
        )
        .unwrap();
        Layout {
            tmp,
            entries: Vec::new(),
        }
    }

    fn path(&self) -> &Path {
        self.tmp.path()
    }

    fn blob_file(&self, d: &Digest) -> PathBuf {
        self.path().join("blobs/sha256").join(d.hex())
    }

    fn blob(&self, mt: &str, data: &[u8]) -> Descriptor {
        let d = Digest::of(data);
        std::fs::write(self.blob_file(&d), data).unwrap();
        Descriptor::new(mt, d, data.len() as u64)
    }

    /// A one-layer image for `arch`; returns the manifest descriptor and the layer.
    fn image(&self, arch: &str, layer_mt: &str) -> (Descriptor, Descriptor) {
        let layer = self.blob(layer_mt, format!("layer for {arch}").as_bytes());
        let config = serde_json::json!({
            "architecture": arch, "os": "linux",
            "rootfs": {"type": "layers", "diff_ids": [Digest::of(arch.as_bytes()).to_string()]},
        });
        let config = self.blob(media_type::OCI_CONFIG, config.to_string().as_bytes());
        let manifest = serde_json::json!({
            "schemaVersion": 2, "mediaType": media_type::OCI_MANIFEST,
            "config": config, "layers": [layer],
        });
        let m = self.blob(media_type::OCI_MANIFEST, manifest.to_string().as_bytes());
        (m, layer)
    }

    fn tag(&mut self, mut d: Descriptor, tag: &str) {
        d.annotations = Some([(REF_NAME.to_string(), tag.to_string())].into());
        self.entries.push(d);
        let index = Index {
            manifests: self.entries.clone(),
            ..Index::default()
        };
        let bytes = serde_json::to_vec(&index).unwrap();
        std::fs::write(self.path().join("index.json"), bytes).unwrap();
    }

    fn at(&self, suffix: &str) -> OciLayoutRef {
        OciLayoutRef::parse(&format!("{}{suffix}", self.path().display())).unwrap()
    }
}

fn store() -> (tempfile::TempDir, Store) {
    let t = tempfile::tempdir().unwrap();
    let s = Store::open(t.path()).unwrap();
    (t, s)
}

fn amd64() -> Platform {
    Platform {
        architecture: "amd64".into(),
        os: "linux".into(),
        variant: None,
    }
}

#[test]
fn parses_path_tag_and_digest_as_buildx_does() {
    let d = Digest::of(b"m");
    let p = |s: &str| OciLayoutRef::parse(s);
    let r = p("/a/b").unwrap();
    assert_eq!(
        (r.path, r.tag, r.digest),
        (PathBuf::from("/a/b"), None, None)
    );
    let r = p(&format!("rel/dir:v1.2@{d}")).unwrap();
    assert_eq!(r.path, PathBuf::from("rel/dir"));
    assert_eq!(
        (r.tag.as_deref(), r.digest.as_ref()),
        (Some("v1.2"), Some(&d))
    );
    let r = p(&format!("/x@{d}")).unwrap();
    assert_eq!((r.tag, r.digest), (None, Some(d.clone())));
    assert_eq!(p("/a:b/c").unwrap().path, PathBuf::from("/a:b/c"));
    assert_eq!(p("/a/me@home").unwrap().path, PathBuf::from("/a/me@home"));
    assert_eq!(
        p(&format!("/l:t@{d}")).unwrap().to_string(),
        format!("oci-layout:///l:t@{d}")
    );
    for bad in ["", ":v1", "/l@sha256:abc", "/l@md5:abc"] {
        assert!(p(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn imports_a_tagged_image_into_the_store() {
    let (_t, store) = store();
    let mut l = Layout::new();
    let (m, layer) = l.image("amd64", media_type::OCI_LAYER_GZIP);
    l.tag(m.clone(), "v1");
    let got = import(&store, &l.at(":v1"), &amd64()).unwrap();
    assert_eq!((got.digest.clone(), got.size), (m.digest.clone(), m.size));
    assert!(store.has_blob(&m.digest) && store.has_blob(&layer.digest));
    assert_eq!(store.blobs().unwrap().len(), 3);
    // Again: nothing new, same manifest; and the lone image is the default.
    assert_eq!(import(&store, &l.at(""), &amd64()).unwrap(), got);
    let err = import(&store, &l.at(":v2"), &amd64()).unwrap_err();
    assert!(matches!(err, OciLayoutError::TagNotFound { .. }), "{err}");
}

#[test]
fn picks_the_platform_from_an_index_also_by_unlisted_digest() {
    let (_t, store) = store();
    let mut l = Layout::new();
    let (arm, _) = l.image("arm64", media_type::OCI_LAYER_GZIP);
    let (amd, _) = l.image("amd64", media_type::OCI_LAYER_ZSTD);
    let plat = |mut d: Descriptor, arch: &str| {
        d.platform = Some(Platform {
            architecture: arch.into(),
            ..amd64()
        });
        d
    };
    let index = Index {
        manifests: vec![plat(arm, "arm64"), plat(amd.clone(), "amd64")],
        ..Index::default()
    };
    let ix = l.blob(media_type::OCI_INDEX, &serde_json::to_vec(&index).unwrap());
    l.tag(ix.clone(), "multi");
    let got = import(&store, &l.at(":multi"), &amd64()).unwrap();
    assert_eq!(got.digest, amd.digest);
    let s390x = Platform {
        architecture: "s390x".into(),
        ..amd64()
    };
    let err = import(&store, &l.at(":multi"), &s390x)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("linux/s390x") && err.contains("linux/arm64, linux/amd64"),
        "{err}"
    );
    // By digest, the manifest need not be listed in index.json.
    let by_digest = l.at(&format!("@{}", amd.digest));
    assert_eq!(
        import(&store, &by_digest, &amd64()).unwrap().digest,
        amd.digest
    );
}

#[test]
fn a_tampered_blob_is_refused_and_nothing_enters_the_store() {
    let (_t, store) = store();
    let mut l = Layout::new();
    let (m, layer) = l.image("amd64", media_type::OCI_LAYER_GZIP);
    l.tag(m.clone(), "v1");
    std::fs::write(l.blob_file(&layer.digest), b"layer for amd65").unwrap();
    let err = import(&store, &l.at(":v1"), &amd64()).unwrap_err();
    let text = err.to_string();
    assert!(
        text.contains("digest mismatch") && text.contains(layer.digest.hex()),
        "{text}"
    );
    assert!(store.blobs().unwrap().is_empty(), "{:?}", store.blobs());
    // A tampered manifest is refused before anything is read through it.
    std::fs::write(l.blob_file(&m.digest), b"{}").unwrap();
    let err = import(&store, &l.at(":v1"), &amd64()).unwrap_err();
    assert!(matches!(err, OciLayoutError::Blob { .. }), "{err}");
}

#[test]
fn symlinks_missing_blobs_and_strange_media_types_are_refused() {
    let (_t, store) = store();
    let mut l = Layout::new();
    let (m, layer) = l.image("amd64", media_type::OCI_LAYER_GZIP);
    l.tag(m, "v1");
    let file = l.blob_file(&layer.digest);
    let saved = std::fs::read(&file).unwrap();
    let outside = l.path().join("outside");
    std::fs::write(&outside, &saved).unwrap();
    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink(&outside, &file).unwrap();
    let err = import(&store, &l.at(":v1"), &amd64()).unwrap_err();
    assert!(matches!(err, OciLayoutError::NotRegular { .. }), "{err}");
    std::fs::remove_file(&file).unwrap();
    let err = import(&store, &l.at(":v1"), &amd64()).unwrap_err();
    assert!(matches!(err, OciLayoutError::BlobMissing { .. }), "{err}");
    let (odd, _) = l.image("arm64", "application/x-something");
    l.tag(odd, "odd");
    let err = import(&store, &l.at(":odd"), &amd64()).unwrap_err();
    assert!(err.to_string().contains("application/x-something"), "{err}");
    assert!(store.blobs().unwrap().is_empty());
}

#[test]
fn a_directory_that_is_not_a_layout_is_named() {
    let (_t, store) = store();
    let l = Layout::new();
    let err = import(&store, &l.at(""), &amd64()).unwrap_err().to_string();
    assert!(err.contains("no index.json"), "{err}");
    std::fs::remove_file(l.path().join("oci-layout")).unwrap();
    let err = import(&store, &l.at(""), &amd64()).unwrap_err().to_string();
    assert!(
        err.contains("no oci-layout file") && err.contains(&l.path().display().to_string()),
        "{err}"
    );
    let gone = l.at("/nowhere");
    let err = import(&store, &gone, &amd64()).unwrap_err();
    assert!(matches!(err, OciLayoutError::NotALayout { .. }), "{err}");
}
