//! Shared helpers for end-to-end tests: run the real rbuild binary against a fresh store.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use rbuild_testkit::{busybox_tarball, require_root, require_tool};

/// A fresh store with a busybox base imported as `busybox:latest`.
pub struct Env {
    pub root: tempfile::TempDir,
}

impl Env {
    /// Creates the store and imports the busybox base.
    pub fn new() -> Env {
        require_root("building images (RUN needs namespaces and overlayfs)");
        let root = tempfile::tempdir().unwrap();
        let env = Env { root };
        let tar = env.root.path().join("busybox.tar");
        busybox_tarball(&tar).unwrap();
        let out = env.rbuild(&["import", tar.to_str().unwrap(), "busybox:latest"]);
        assert!(out.status.success(), "import failed: {}", text(&out));
        env
    }

    /// The store directory.
    pub fn store(&self) -> PathBuf {
        self.root.path().join("store")
    }

    /// Runs rbuild with `--root` set to this store.
    pub fn rbuild(&self, args: &[&str]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_rbuild"))
            .arg("--root")
            .arg(self.store())
            .args(args)
            .output()
            .unwrap()
    }

    /// Builds `context` (with optional extra args), asserting success; returns stderr.
    pub fn build_ok(&self, context: &Path, tag: &str, extra: &[&str]) -> String {
        let mut args = vec!["build", "--progress", "plain", "-t", tag];
        args.extend_from_slice(extra);
        let ctx = context.to_str().unwrap();
        args.push(ctx);
        let out = self.rbuild(&args);
        assert!(out.status.success(), "build of {ctx} failed:\n{}", text(&out));
        text(&out)
    }

    /// The manifest digest a tag points to, from `rbuild inspect`.
    pub fn manifest_digest(&self, tag: &str) -> String {
        let out = self.rbuild(&["inspect", tag]);
        assert!(out.status.success(), "{}", text(&out));
        let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        v["Digest"].as_str().unwrap().to_string()
    }

    /// The image config as skopeo reads it from the store's OCI layout.
    pub fn skopeo_config(&self, tag: &str) -> serde_json::Value {
        let skopeo = require_tool("skopeo", "skopeo");
        let out = Command::new(skopeo)
            .args(["inspect", "--config"])
            .arg(format!("oci:{}:{tag}", self.store().display()))
            .output()
            .unwrap();
        assert!(out.status.success(), "skopeo inspect failed: {}", text(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    }

    /// Unpacks the image with umoci into a runtime bundle; returns the bundle dir.
    pub fn umoci_unpack(&self, tag: &str) -> PathBuf {
        let umoci = require_tool("umoci", "umoci");
        let bundle = self.root.path().join(format!("bundle-{}", tag.replace([':', '/'], "-")));
        let out = Command::new(umoci)
            .args(["unpack", "--image"])
            .arg(format!("{}:{tag}", self.store().display()))
            .arg(&bundle)
            .output()
            .unwrap();
        assert!(out.status.success(), "umoci unpack failed: {}", text(&out));
        bundle
    }

    /// Runs an unpacked bundle with runc (no terminal); returns stdout.
    pub fn runc_run(&self, bundle: &Path) -> String {
        let runc = require_tool("runc", "runc");
        let config = bundle.join("config.json");
        let mut spec: serde_json::Value = serde_json::from_slice(&std::fs::read(&config).unwrap()).unwrap();
        spec["process"]["terminal"] = serde_json::Value::Bool(false);
        std::fs::write(&config, serde_json::to_vec(&spec).unwrap()).unwrap();
        let state = self.root.path().join("runc-state");
        let id = format!("rbuild-test-{}", std::process::id());
        let out = Command::new(runc)
            .arg("--root")
            .arg(&state)
            .args(["run", "-b"])
            .arg(bundle)
            .arg(&id)
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap();
        assert!(out.status.success(), "runc run failed: {}", text(&out));
        String::from_utf8_lossy(&out.stdout).to_string()
    }
}

/// stdout and stderr of a command, for assertion messages.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// The project's directory.
pub fn project() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}
