//! Deep layer stacks and a clean upper dir.

mod common;
use common::*;
use std::fs;

#[test]
fn one_hundred_twenty_lowers_still_run() {
    require_prereqs();
    let s = Scratch::new("lowers");
    let mut sp = spec(&s, "ls /layers | wc -l; cat /layers/f0 /layers/f119");
    let long = "a-rather-long-directory-name-to-overflow-the-legacy-mount-option-page";
    for i in 0..120 {
        let d = s.path(&format!("{long}-{i:03}"));
        fs::create_dir_all(d.join("layers")).unwrap();
        fs::write(d.join(format!("layers/f{i}")), format!("{i}\n")).unwrap();
        sp.lowers.insert(0, d);
    }
    assert_eq!(sp.lowers.len(), 121);
    let total: usize = sp.lowers.iter().map(|l| l.as_os_str().len() + 1).sum();
    assert!(
        total > 4096,
        "the stack must not fit one mount option page ({total} bytes)"
    );
    assert_eq!(run_ok(&sp), "120\n0\n119\n");
}

#[test]
fn upper_holds_only_what_the_command_changed() {
    require_prereqs();
    let s = Scratch::new("cleanupper");
    run_ok(&spec(
        &s,
        "cat /etc/hosts /etc/resolv.conf /etc/hostname > /dev/null",
    ));
    assert_eq!(
        tree(&s.path("upper")),
        Vec::<String>::new(),
        "stubs left in upper"
    );
    run_ok(&spec(&s, "echo data > /etc/new-file; echo 1 >> /etc/hosts"));
    assert_eq!(
        tree(&s.path("upper")),
        vec!["etc".to_string(), "etc/new-file".to_string()]
    );
}

#[test]
fn existing_etc_files_are_shadowed_not_copied() {
    require_prereqs();
    let s = Scratch::new("etcexist");
    let mut sp = spec(&s, "cat /etc/hosts");
    fs::write(s.path("rootfs/etc/hosts"), "image hosts\n").unwrap();
    sp.hosts = Some("10.0.0.1 given\n".into());
    assert_eq!(run_ok(&sp), "10.0.0.1 given\n");
    assert_eq!(tree(&s.path("upper")), Vec::<String>::new());
    assert_eq!(
        fs::read_to_string(s.path("rootfs/etc/hosts")).unwrap(),
        "image hosts\n"
    );
}

#[test]
fn extra_bind_and_tmpfs_mounts() {
    require_prereqs();
    let s = Scratch::new("extra");
    let src = s.path("ctx");
    fs::create_dir_all(&src).unwrap();
    fs::write(src.join("input"), "from host\n").unwrap();
    let mut sp = spec(&s, "cat /src/input; touch /src/x 2>/dev/null && echo WRITABLE; echo t > /cache/t && cat /cache/t");
    sp.extra_mounts = vec![
        rbuild_sandbox::MountSpec::Bind {
            source: src.clone(),
            target: "/src".into(),
            readonly: true,
        },
        rbuild_sandbox::MountSpec::Tmpfs {
            target: "/cache".into(),
            size: Some(1 << 20),
        },
    ];
    assert_eq!(run_ok(&sp), "from host\nt\n");
    assert_eq!(
        tree(&s.path("upper")),
        Vec::<String>::new(),
        "mountpoints left in upper"
    );
}

#[test]
fn legacy_overlay_fallback_uses_short_names_for_deep_stacks() {
    require_prereqs();
    let s = Scratch::new("legacy");
    let mut sp = spec(&s, "ls /layers | wc -l; grep ' / ' /proc/self/mountinfo");
    let long = "another-quite-long-directory-name-so-absolute-lowerdirs-overflow-a-page";
    for i in 0..150 {
        let d = s.path(&format!("{long}-{i:03}"));
        fs::create_dir_all(d.join("layers")).unwrap();
        fs::write(d.join(format!("layers/f{i}")), "").unwrap();
        sp.lowers.insert(0, d);
    }
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_rbuild-sandbox-test-init"));
    let mut out = Vec::new();
    let r = rbuild_sandbox::run_with_legacy_overlay(&sp, exe, &mut |_, b| out.extend_from_slice(b))
        .unwrap();
    let out = String::from_utf8_lossy(&out);
    assert_eq!(r.reason, rbuild_sandbox::ExitReason::Exited(0), "{out}");
    assert!(out.starts_with("150\n"), "{out}");
    assert!(
        out.contains("lowerdir=0:1:2:"),
        "legacy mount not used: {out}"
    );
}
