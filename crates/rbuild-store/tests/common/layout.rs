//! OCI layouts written on the fly, as a directory or a tar of it.

use std::path::{Path, PathBuf};

use rbuild_oci::{media_type, Descriptor, Digest, Index, Platform};
use rbuild_store::{Selector, REF_NAME};

/// An OCI layout under construction in a temporary directory.
pub struct Layout {
    tmp: tempfile::TempDir,
    entries: Vec<Descriptor>,
}

impl Layout {
    pub fn new() -> Layout {
        let tmp = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(tmp.path().join("blobs/sha256")).unwrap();
        let version = r#"{"imageLayoutVersion":"1.0.0"}"#;
        std::fs::write(tmp.path().join("oci-layout"), version).unwrap();
        Layout {
            tmp,
            entries: Vec::new(),
        }
    }

    pub fn path(&self) -> &Path {
        self.tmp.path()
    }

    pub fn blob_file(&self, d: &Digest) -> PathBuf {
        self.path().join("blobs/sha256").join(d.hex())
    }

    pub fn blob(&self, mt: &str, data: &[u8]) -> Descriptor {
        let d = Digest::of(data);
        std::fs::write(self.blob_file(&d), data).unwrap();
        Descriptor::new(mt, d, data.len() as u64)
    }

    /// A one-layer image for `arch`; returns the manifest descriptor and the layer.
    pub fn image(&self, arch: &str, layer_mt: &str) -> (Descriptor, Descriptor) {
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

    /// Lists `d` in `index.json` under `tag` (untagged if empty).
    pub fn tag(&mut self, mut d: Descriptor, tag: &str) {
        if !tag.is_empty() {
            d.annotations = Some([(REF_NAME.to_string(), tag.to_string())].into());
        }
        self.entries.push(d);
        let index = Index {
            manifests: self.entries.clone(),
            ..Index::default()
        };
        let bytes = serde_json::to_vec(&index).unwrap();
        std::fs::write(self.path().join("index.json"), bytes).unwrap();
    }

    /// The layout as a tar stream, symlinks kept as symlinks.
    pub fn tar(&self) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        b.append_dir_all(".", self.path()).unwrap();
        b.into_inner().unwrap()
    }
}

/// `[:tag][@digest]`.
pub fn sel(tag: Option<&str>, digest: Option<&Digest>) -> Selector {
    Selector {
        tag: tag.map(str::to_string),
        digest: digest.cloned(),
    }
}

pub fn amd64() -> Platform {
    Platform {
        architecture: "amd64".into(),
        os: "linux".into(),
        variant: None,
    }
}
