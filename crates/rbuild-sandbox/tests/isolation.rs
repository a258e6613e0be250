//! Isolation: mounts, capabilities, network, masked paths and the chroot escape.

mod common;
use common::*;
use rbuild_sandbox::plan::{MASKED_PATHS, READONLY_PATHS};
use rbuild_sandbox::{ExitReason, NetworkMode};
use std::path::Path;

/// The sandbox's own mounts; the masked and read-only paths (Docker's lists, which the crate
/// exports) are mounted over too.
const SANDBOX_MOUNTS: &[&str] = &[
    "/",
    "/proc",
    "/dev",
    "/dev/pts",
    "/dev/shm",
    "/dev/mqueue",
    "/sys",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/hostname",
];

fn allowed_mount(point: &str) -> bool {
    [SANDBOX_MOUNTS, MASKED_PATHS, READONLY_PATHS]
        .iter()
        .any(|list| list.contains(&point))
}

#[test]
fn mountinfo_has_only_sandbox_mounts() {
    require_prereqs();
    let s = Scratch::new("mountinfo");
    let out = run_ok(&spec(&s, "cat /proc/self/mountinfo"));
    let mut points = Vec::new();
    for line in out.lines() {
        let point = line.split(' ').nth(4).unwrap();
        assert!(
            allowed_mount(point),
            "host mount visible in the sandbox: {line}"
        );
        points.push(point);
    }
    let root = out
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/"))
        .unwrap();
    assert!(
        root.contains(" - overlay "),
        "root is not the overlay: {root}"
    );
    for want in [
        "/proc",
        "/dev",
        "/dev/pts",
        "/dev/shm",
        "/sys",
        "/etc/hosts",
        "/etc/resolv.conf",
        "/etc/hostname",
        "/proc/sys",
    ] {
        assert!(points.contains(&want), "{want} not mounted: {out}");
    }
    let sys = out
        .lines()
        .find(|l| l.split(' ').nth(4) == Some("/sys"))
        .unwrap();
    assert!(
        sys.split(' ').nth(5).unwrap().starts_with("ro"),
        "/sys not read-only: {sys}"
    );
}

#[test]
fn no_cap_sys_admin_so_mount_fails() {
    require_prereqs();
    let s = Scratch::new("nomount");
    let r = run(&spec(&s, "mkdir -p /mnt && mount -t tmpfs none /mnt"));
    assert_ne!(
        r.reason,
        ExitReason::Exited(0),
        "mount succeeded inside the sandbox"
    );
    assert!(
        r.stderr.contains("ermission denied") || r.stderr.contains("not permitted"),
        "{}",
        r.stderr
    );
}

#[test]
fn root_has_docker_default_caps_and_no_new_privs() {
    require_prereqs();
    let s = Scratch::new("caps");
    let out = run_ok(&spec(
        &s,
        "grep -E '^(CapInh|CapPrm|CapEff|CapBnd|CapAmb|NoNewPrivs)' /proc/self/status",
    ));
    for want in [
        "CapInh:\t0000000000000000",
        "CapPrm:\t00000000a80425fb",
        "CapEff:\t00000000a80425fb",
        "CapBnd:\t00000000a80425fb",
        "CapAmb:\t0000000000000000",
        "NoNewPrivs:\t1",
    ] {
        assert!(out.contains(want), "missing {want:?} in\n{out}");
    }
}

#[test]
fn masked_and_read_only_proc_paths() {
    require_prereqs();
    let s = Scratch::new("masked");
    assert!(
        Path::new("/proc/keys").exists(),
        "this kernel has no /proc/keys to check masking with"
    );
    let script = "wc -c < /proc/keys; ls /proc/acpi 2>/dev/null | wc -l; \
                  echo 1 > /proc/sys/kernel/printk && echo WROTE; echo x > /proc/sysrq-trigger && echo WROTE2; true";
    let out = run_ok(&spec(&s, script));
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0].trim(), "0", "/proc/keys readable: {out}");
    assert_eq!(lines[1].trim(), "0", "/proc/acpi not empty: {out}");
    assert!(!out.contains("WROTE"), "read-only proc path written: {out}");
}

#[test]
fn network_none_has_only_loopback_up() {
    require_prereqs();
    let s = Scratch::new("netnone");
    let mut sp = spec(&s, "ls /sys/class/net; cat /sys/class/net/lo/flags");
    sp.network = NetworkMode::None;
    let out = run_ok(&sp);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "lo", "{out}");
    let flags = u32::from_str_radix(lines[1].trim_start_matches("0x"), 16).unwrap();
    assert_eq!(flags & 1, 1, "lo is not up: {out}");
    assert_eq!(lines.len(), 2, "{out}");
}

#[test]
fn host_network_on_request() {
    require_prereqs();
    let s = Scratch::new("nethost");
    let mut sp = spec(&s, "readlink /proc/self/ns/net; ls /sys/class/net");
    sp.network = NetworkMode::Host;
    let out = run_ok(&sp);
    let mut lines: Vec<&str> = out.lines().collect();
    let netns = lines.remove(0);
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_eq!(
        netns,
        host_ns.to_str().unwrap(),
        "the RUN is in another network namespace"
    );
    let mut host: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    host.sort();
    assert!(
        host.len() > 1,
        "the host has only lo: the check proves nothing"
    );
    lines.sort();
    assert_eq!(lines, host, "{out}");
}

const ESCAPE_C: &str = r#"
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>
int main(int argc, char **argv) {
    mkdir(".out", 0755);
    if (chroot(".out") != 0) { perror("chroot .out"); return 2; }
    if (chdir("../../../../../../../../") != 0) { perror("chdir"); return 2; }
    if (chroot(".") != 0) { perror("chroot ."); return 2; }
    FILE *f = fopen(argv[1], "r");
    if (f) { printf("ESCAPED\n"); return 1; }
    printf("contained\n");
    return 0;
}
"#;

#[test]
fn chroot_escape_cannot_see_host_files() {
    require_prereqs();
    let s = Scratch::new("escape");
    assert!(
        Path::new("/usr/bin/gcc").exists(),
        "gcc is missing (needed to build the escape program)"
    );
    let src = s.path("escape.c");
    std::fs::write(&src, ESCAPE_C).unwrap();
    let layer = s.path("escape-layer");
    std::fs::create_dir_all(layer.join("bin")).unwrap();
    let gcc = std::process::Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(layer.join("bin/escape"))
        .arg(&src)
        .output()
        .unwrap();
    assert!(
        gcc.status.success(),
        "gcc -static failed (glibc static libs from libc6-dev?): {}",
        String::from_utf8_lossy(&gcc.stderr)
    );
    let marker = std::env::temp_dir().join(format!("rbuild-escape-marker-{}", std::process::id()));
    std::fs::write(&marker, "host secret").unwrap();
    let mut sp = spec(&s, "");
    sp.lowers.insert(0, layer);
    sp.argv = vec!["/bin/escape".into(), marker.to_string_lossy().into_owned()];
    sp.cwd = "/tmp".into();
    let r = run(&sp);
    let _ = std::fs::remove_file(&marker);
    assert_eq!(
        r.reason,
        ExitReason::Exited(0),
        "stdout: {} stderr: {}",
        r.stdout,
        r.stderr
    );
    assert_eq!(r.stdout, "contained\n");
}
