//! RUN sandbox isolation, proven through real builds with the rbuild binary: the chroot
//! escape, processes, mounts, hostname, capabilities and networks. Users and resource limits
//! are in e2e_sandbox_limits.rs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::sandbox::{dockerfile, host_interfaces, line_after, words, PRIVATE_NET};
use common::{run_output, text, Env};

/// Files the test plants on the host; removed on drop.
struct Markers(Vec<PathBuf>);

impl Drop for Markers {
    fn drop(&mut self) {
        for m in &self.0 {
            let _ = std::fs::remove_file(m);
        }
    }
}

const ESCAPE_C: &str = r#"
#include <fcntl.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

/* The classic chroot escape: chroot into a subdir while keeping the cwd outside it, walk
   up past the chroot, then chroot to where we ended up. */
int main(int argc, char **argv) {
    mkdir(".out", 0755);
    printf("chroot(.out): %s\n", chroot(".out") == 0 ? "ok" : "failed");
    for (int i = 0; i < 64; i++) chdir("..");
    printf("chroot(.): %s\n", chroot(".") == 0 ? "ok" : "failed");
    for (int i = 1; i < argc; i++) {
        int fd = open(argv[i], O_RDONLY);
        printf("probe %s: %s\n", argv[i], fd >= 0 ? "VISIBLE" : "not visible");
    }
    return 0;
}
"#;

fn compile_escape(dir: &Path) -> PathBuf {
    let gcc = rbuild_testkit::require_tool("gcc", "gcc and libc6-dev");
    let src = dir.join("escape.c");
    std::fs::write(&src, ESCAPE_C).unwrap();
    let bin = dir.join("escape");
    let out = Command::new(gcc)
        .arg("-static")
        .arg("-o")
        .arg(&bin)
        .arg(&src)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gcc -static failed (is libc6-dev installed?): {}",
        text(&out)
    );
    bin
}

#[test]
fn chroot_escape_in_run_cannot_see_host_files() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let bin = compile_escape(ctx.path());
    let unique = format!(
        "rbuild-escape-marker-{}-{}",
        std::process::id(),
        env.root.path().display()
    )
    .replace('/', "_");
    let markers = Markers(vec![
        Path::new("/tmp").join(&unique),
        Path::new("/root").join(&unique),
    ]);
    for m in &markers.0 {
        std::fs::write(m, "host secret\n").unwrap();
    }
    let paths: Vec<&str> = markers.0.iter().map(|m| m.to_str().unwrap()).collect();
    // Control: on the host the same program does see the markers, so "not visible" below means something.
    let work = tempfile::tempdir().unwrap();
    let host = Command::new(&bin)
        .args(&paths)
        .current_dir(work.path())
        .output()
        .unwrap();
    assert_eq!(
        text(&host).matches(": VISIBLE").count(),
        2,
        "control run: {}",
        text(&host)
    );

    let run = format!("RUN /escape {}", paths.join(" "));
    dockerfile(
        ctx.path(),
        &format!("FROM busybox:latest\nCOPY escape /escape\nWORKDIR /work\n{run}\n"),
    );
    let log = env.build_ok(ctx.path(), "escape:1", &[]);
    let out = run_output(&log);
    assert_eq!(line_after(&out, "chroot(.out): "), "ok", "{log}");
    assert_eq!(line_after(&out, "chroot(.): "), "ok", "{log}");
    for p in &paths {
        assert_eq!(
            line_after(&out, &format!("probe {p}: ")),
            "not visible",
            "{log}"
        );
    }
    assert!(!log.contains("VISIBLE"), "{log}");
}

/// Mount points a RUN may see: the rootfs, the three provided files, and pseudo filesystems.
fn check_mountinfo(lines: &[&str]) {
    let mounts: Vec<&str> = lines
        .iter()
        .filter_map(|l| l.strip_prefix("mnt: "))
        .collect();
    assert!(mounts.len() > 5, "no mountinfo printed: {lines:#?}");
    let mut points = Vec::new();
    for m in &mounts {
        let (left, right) = m.split_once(" - ").unwrap();
        let point = left.split(' ').nth(4).unwrap();
        let fstype = right.split(' ').next().unwrap();
        let provided = ["/etc/hosts", "/etc/resolv.conf", "/etc/hostname"].contains(&point);
        let pseudo = ["proc", "tmpfs", "devpts", "mqueue", "sysfs"].contains(&fstype)
            && ["/proc", "/dev", "/sys"]
                .iter()
                .any(|p| point == *p || point.starts_with(&format!("{p}/")));
        let root = point == "/" && fstype == "overlay";
        assert!(
            root || provided || pseudo,
            "unexpected mount {point} ({fstype}) in RUN: {m}"
        );
        points.push(point);
    }
    for want in [
        "/",
        "/etc/hosts",
        "/etc/resolv.conf",
        "/etc/hostname",
        "/proc",
        "/dev",
        "/sys",
    ] {
        assert!(points.contains(&want), "{want} not mounted: {mounts:#?}");
    }
}

#[test]
fn run_sees_only_its_processes_mounts_hostname_and_no_admin_caps() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let me = std::process::id();
    dockerfile(
        ctx.path(),
        &format!(
            r#"FROM busybox:latest
RUN echo "pids: $(ls /proc | grep -cE '^[0-9]+$')"; \
    if [ -e /proc/{me} ]; then echo "host pid: visible"; else echo "host pid: hidden"; fi; \
    echo "hostname: $(hostname)"; \
    sed 's/^/mnt: /' /proc/self/mountinfo; \
    mkdir -p /mnt; if mount -t tmpfs none /mnt 2>/dev/null; then echo "tmpfs-mount: allowed"; else echo "tmpfs-mount: refused"; fi; \
    echo "net: $(ls /sys/class/net | tr '\n' ' ')"; echo "netns: $(readlink /proc/self/ns/net)"
RUN --network=none echo "net-none: $(ls /sys/class/net | tr '\n' ' ')"
RUN --network=host echo "net-host: $(ls /sys/class/net | tr '\n' ' ')"
"#
        ),
    );
    let log = env.build_ok(ctx.path(), "iso:1", &["--allow", "network.host"]);
    let out = run_output(&log);
    let pids: usize = line_after(&out, "pids: ").parse().unwrap();
    assert!((1..10).contains(&pids), "RUN sees {pids} processes:\n{log}");
    assert_eq!(line_after(&out, "host pid: "), "hidden", "{log}");
    let host_name = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap();
    assert_eq!(line_after(&out, "hostname: "), "rbuild", "{log}");
    assert_ne!(
        host_name.trim(),
        "rbuild",
        "the host is named like the sandbox; the check proves nothing"
    );
    check_mountinfo(&out);
    assert_eq!(
        line_after(&out, "tmpfs-mount: "),
        "refused",
        "RUN could mount a tmpfs:\n{log}"
    );
    // A private network by default (issue 17): its own namespace, lo and slirp4netns's eth0.
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    assert_ne!(
        line_after(&out, "netns: "),
        host_ns.to_str().unwrap(),
        "{log}"
    );
    assert_eq!(words(line_after(&out, "net: ")), PRIVATE_NET, "{log}");
    assert_eq!(words(line_after(&out, "net-none: ")), ["lo"], "{log}");
    assert_eq!(
        words(line_after(&out, "net-host: ")),
        host_interfaces(),
        "{log}"
    );
}

#[test]
fn build_network_none_leaves_only_lo_and_run_flag_overrides_it() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    assert!(
        host_interfaces().len() > 1,
        "the host has only lo; the network checks prove nothing"
    );
    dockerfile(
        ctx.path(),
        "FROM busybox:latest\n\
         RUN echo \"net-build: $(ls /sys/class/net | tr '\\n' ' ')\"\n\
         RUN --network=host echo \"net-host: $(ls /sys/class/net | tr '\\n' ' ')\"\n\
         RUN --network=default echo \"net-default: $(ls /sys/class/net | tr '\\n' ' ')\"\n",
    );
    let net_none = ["--network", "none", "--allow", "network.host"];
    let log = env.build_ok(ctx.path(), "net:1", &net_none);
    let out = run_output(&log);
    assert_eq!(words(line_after(&out, "net-build: ")), ["lo"], "{log}");
    assert_eq!(
        words(line_after(&out, "net-host: ")),
        host_interfaces(),
        "{log}"
    );
    assert_eq!(words(line_after(&out, "net-default: ")), ["lo"], "{log}");
    // The network mode is part of the RUN cache key: the default build must run the step again,
    // on the private default network.
    let log = env.build_ok(ctx.path(), "net:2", &["--allow", "network.host"]);
    let out = run_output(&log);
    assert_eq!(words(line_after(&out, "net-build: ")), PRIVATE_NET, "{log}");
    assert_eq!(
        words(line_after(&out, "net-default: ")),
        PRIVATE_NET,
        "{log}"
    );
}
