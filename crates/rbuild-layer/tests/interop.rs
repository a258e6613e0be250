//! Interoperability with GNU tar, a tar implementation nobody here wrote: it extracts our
//! layers to the same tree, and we apply its PAX and GNU archives to the same tree.

mod common;

use std::fs;
use std::os::unix::fs::symlink;
use std::path::Path;
use std::process::Command;

use common::*;
use rbuild_layer::{apply_layer, ApplyOptions, WhiteoutMode};

fn gnu_tar(args: &[&str], dir: &Path) {
    let out = Command::new("tar")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("GNU tar must be installed for the interop tests");
    assert!(
        out.status.success(),
        "tar {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn sample(d: &Path) {
    write(&d.join("etc/os-release"), b"ID=test");
    write(&d.join("usr/bin/tool"), b"#!/bin/sh");
    chmod(&d.join("usr/bin/tool"), 0o4755);
    symlink("usr/bin", d.join("bin")).unwrap();
    fs::hard_link(d.join("usr/bin/tool"), d.join("usr/bin/tool2")).unwrap();
    let long = format!("{}/{}", "p".repeat(130), "q".repeat(140));
    write(&d.join(long), b"long");
    setx(&d.join("etc/os-release"), "user.origin", b"interop");
}

#[test]
fn gnu_tar_extracts_our_layer_identically() {
    let (src, dst) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    sample(src.path());
    let tar_path = dst.path().join("layer.tar");
    fs::write(&tar_path, layer_tar(src.path())).unwrap();
    let out = dst.path().join("out");
    fs::create_dir(&out).unwrap();
    let tar_arg = tar_path.to_str().unwrap().to_string();
    gnu_tar(
        &[
            "--xattrs",
            "--xattrs-include=*",
            "-xpf",
            &tar_arg,
            "-C",
            "out",
        ],
        dst.path(),
    );
    let mut want = describe(src.path());
    let mut got = describe(&out);
    // The root dir's own mtime is not part of a layer.
    want.remove("");
    got.remove("");
    assert_eq!(want, got);
}

#[test]
fn we_apply_gnu_tar_pax_and_gnu_archives_identically() {
    for format in ["posix", "gnu"] {
        let (src, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        sample(src.path());
        let tar_path = work.path().join("a.tar");
        let tar_arg = tar_path.to_str().unwrap().to_string();
        let mut args = vec!["--format", format, "-cf", &tar_arg, "."];
        if format == "posix" {
            args.splice(0..0, ["--xattrs", "--xattrs-include=*"]);
        }
        gnu_tar(&args, src.path());
        let out = work.path().join("out");
        fs::create_dir(&out).unwrap();
        let data = fs::read(&tar_path).unwrap();
        let opts = ApplyOptions {
            whiteouts: WhiteoutMode::Apply,
            ..Default::default()
        };
        apply_layer(&mut data.as_slice(), &out, &opts).unwrap();
        let mut want = describe(src.path());
        let mut got = describe(&out);
        if format == "gnu" {
            // The GNU format has no xattrs: compare everything else.
            for map in [&mut want, &mut got] {
                for v in map.values_mut() {
                    *v = v.split(" xattrs=").next().unwrap().to_string();
                }
            }
        }
        assert_eq!(want, got, "{format}");
    }
}
