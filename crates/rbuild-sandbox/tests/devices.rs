//! F3: Docker's device allow-list applies to every RUN (here through the host's layout: the v1
//! devices controller on this hybrid host, the eBPF filter on a pure v2 host).

mod common;
use common::*;

#[test]
fn f3_device_allow_list_refuses_block_devices() {
    require_prereqs();
    let s = Scratch::new("f3-v1");
    let disk = LoopDisk::new(&s, "HOST-DISK-CONTENT-F3");
    let host = std::fs::read(&disk.dev).unwrap();
    assert!(
        host.starts_with(b"HOST-DISK-CONTENT-F3"),
        "control read failed"
    );
    // No limits: the allow-list must not depend on them.
    let r = run(&spec(&s, &disk_script(&disk)));
    assert_disk_refused(&r, "HOST-DISK-CONTENT-F3");
}

#[test]
fn f3_standard_devices_keep_working() {
    require_prereqs();
    let s = Scratch::new("f3-std");
    let script = "head -c 4 /dev/urandom | wc -c; head -c 4 /dev/random | wc -c; \
                  echo x > /dev/full || echo FULL-REFUSED; mknod /tmp/z c 1 5 && head -c 2 /tmp/z | wc -c; \
                  cat /dev/mem 2>&1 | head -c 0; head -c 1 /dev/mem 2>/dev/null || echo MEM-REFUSED";
    let r = run(&spec(&s, script));
    assert_eq!(
        r.stdout, "4\n4\nFULL-REFUSED\n2\nMEM-REFUSED\n",
        "{}",
        r.stderr
    );
    assert!(
        r.stderr.contains("No space left"),
        "/dev/full: {}",
        r.stderr
    );
}
