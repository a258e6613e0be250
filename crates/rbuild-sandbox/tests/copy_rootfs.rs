//! The copy rootfs (no overlayfs, the fallback of kernels that cannot mount one in a user
//! namespace): a step sees the layers as overlayfs shows them and leaves in upper what
//! overlayfs would write.

mod common;
use common::*;
use rbuild_sandbox::RootfsMode;
use std::fs;
use std::os::unix::fs::{FileTypeExt, MetadataExt};

#[test]
fn a_copied_rootfs_runs_the_step_and_upper_holds_only_its_changes() {
    require_prereqs();
    let s = Scratch::new("copyrootfs");
    let mut sp = spec(
        &s,
        "cat /etc/hosts /etc/hostname > /dev/null; echo data > /etc/new-file; \
         rm /etc/doomed; cat /etc/kept; grep -c . /proc/self/mountinfo > /dev/null",
    );
    fs::write(s.path("rootfs/etc/doomed"), "bye\n").unwrap();
    fs::write(s.path("rootfs/etc/kept"), "kept\n").unwrap();
    sp.rootfs = RootfsMode::Copy;
    assert_eq!(run_ok(&sp), "kept\n");
    assert_eq!(
        tree(&s.path("upper")),
        ["etc", "etc/doomed", "etc/new-file"]
            .map(String::from)
            .to_vec(),
        "no stub, mountpoint or untouched file in upper"
    );
    let w = fs::symlink_metadata(s.path("upper/etc/doomed")).unwrap();
    assert!(
        w.file_type().is_char_device() && w.rdev() == 0,
        "a whiteout"
    );
    // The layer itself is untouched, and the copy is gone.
    assert_eq!(
        fs::read_to_string(s.path("rootfs/etc/doomed")).unwrap(),
        "bye\n"
    );
    assert!(!sp.work.join("merged").exists());
}
