//! RUN sandbox isolation, limits and users, proven through real builds with the rbuild binary.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{run_output, text, Env};

fn dockerfile(ctx: &Path, body: &str) {
    std::fs::write(ctx.join("Dockerfile"), body).unwrap();
}

/// The first RUN output line starting with `prefix`, without it.
fn line_after<'a>(lines: &[&'a str], prefix: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no output line starting with {prefix:?} in {lines:#?}"))
}

/// The host's network interfaces, sorted.
fn host_interfaces() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

fn words(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.split_whitespace().map(String::from).collect();
    v.sort();
    v
}

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
    echo "net: $(ls /sys/class/net | tr '\n' ' ')"
RUN --network=none echo "net-none: $(ls /sys/class/net | tr '\n' ' ')"
"#
        ),
    );
    let log = env.build_ok(ctx.path(), "iso:1", &[]);
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
    assert_eq!(
        words(line_after(&out, "net: ")),
        host_interfaces(),
        "default network is the host's"
    );
    assert_eq!(words(line_after(&out, "net-none: ")), ["lo"], "{log}");
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
    let log = env.build_ok(ctx.path(), "net:1", &["--network", "none"]);
    let out = run_output(&log);
    assert_eq!(words(line_after(&out, "net-build: ")), ["lo"], "{log}");
    assert_eq!(
        words(line_after(&out, "net-host: ")),
        host_interfaces(),
        "{log}"
    );
    assert_eq!(words(line_after(&out, "net-default: ")), ["lo"], "{log}");
    // The network mode is part of the RUN cache key: the default build must run the step again.
    let log = env.build_ok(ctx.path(), "net:2", &[]);
    let out = run_output(&log);
    assert_eq!(
        words(line_after(&out, "net-build: ")),
        host_interfaces(),
        "{log}"
    );
}

fn mode_owner(path: &Path) -> (u32, u32) {
    let m = std::fs::symlink_metadata(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (m.uid(), m.gid())
}

#[test]
fn user_runs_as_its_uid_and_gid_and_owns_what_it_creates() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    dockerfile(
        ctx.path(),
        r#"FROM busybox:latest
USER app
RUN echo "id: $(id -u):$(id -g) $(id -un):$(id -gn)"; echo made > /home/app/by-app; mkdir /home/app/dir; touch /tmp/app-tmp
USER app:staff
RUN echo "id-staff: $(id -u):$(id -g)"; touch /tmp/app-staff
USER 0
RUN echo "id-root: $(id -u):$(id -g)"; if touch /home/app/root-made; then echo root-wrote; fi
"#,
    );
    let log = env.build_ok(ctx.path(), "user:1", &[]);
    let out = run_output(&log);
    assert_eq!(line_after(&out, "id: "), "1000:1000 app:app", "{log}");
    assert_eq!(line_after(&out, "id-staff: "), "1000:50", "{log}");
    assert_eq!(line_after(&out, "id-root: "), "0:0", "{log}");
    let rootfs = env.umoci_unpack("user:1").join("rootfs");
    assert_eq!(mode_owner(&rootfs.join("home/app/by-app")), (1000, 1000));
    assert_eq!(mode_owner(&rootfs.join("home/app/dir")), (1000, 1000));
    assert_eq!(mode_owner(&rootfs.join("tmp/app-tmp")), (1000, 1000));
    assert_eq!(mode_owner(&rootfs.join("tmp/app-staff")), (1000, 50));
    assert_eq!(mode_owner(&rootfs.join("home/app/root-made")), (0, 0));
}

#[test]
fn memory_limit_fails_the_build_with_an_oom_message_and_store_stays_usable() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let hog = "RUN x=$(head -c 300m /dev/zero | tr '\\0' a); echo \"survived ${#x}\"";
    dockerfile(
        ctx.path(),
        &format!("FROM busybox:latest\nRUN echo before-hog > /before\n{hog}\n"),
    );
    let log = env.build_fails(ctx.path(), "oom:1", &["--memory", "64m"]);
    assert!(log.contains("killed because it ran out of memory"), "{log}");
    assert!(
        log.contains(&format!("Dockerfile:3: {hog}")),
        "error must name the line and instruction:\n{log}"
    );
    assert!(
        !run_output(&log).iter().any(|l| l.starts_with("survived")),
        "{log}"
    );
    // Same limits, the hog replaced: the store is intact and the first RUN comes from the cache.
    dockerfile(
        ctx.path(),
        "FROM busybox:latest\nRUN echo before-hog > /before\nRUN echo after-oom\n",
    );
    let log = env.build_ok(ctx.path(), "oom:1", &["-m", "64M"]);
    assert!(run_output(&log).contains(&"after-oom"), "{log}");
    assert!(log.contains("#2 CACHED"), "{log}");
    // Limits are not part of the cache key: without them everything is cached.
    let log = env.build_ok(ctx.path(), "oom:2", &[]);
    assert!(
        !run_output(&log).contains(&"after-oom"),
        "a RUN ran again without limits:\n{log}"
    );
}

#[test]
fn ulimits_and_shm_size_reach_the_run() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    dockerfile(
        ctx.path(),
        "FROM busybox:latest\n\
         RUN echo \"nofile: $(ulimit -Sn) $(ulimit -Hn)\"; echo \"shm: $(df -k /dev/shm | tail -n 1 | awk '{print $2}')\"\n",
    );
    let flags = [
        "--ulimit",
        "nofile=512:1024",
        "--shm-size",
        "16m",
        "--cpus",
        "1",
        "--pids-limit",
        "100",
    ];
    let log = env.build_ok(ctx.path(), "ulimit:1", &flags);
    let out = run_output(&log);
    assert_eq!(line_after(&out, "nofile: "), "512 1024", "{log}");
    assert_eq!(line_after(&out, "shm: "), "16384", "{log}");
    let bad = env.rbuild(&["build", "--memory", "64x", ctx.path().to_str().unwrap()]);
    assert!(
        !bad.status.success() && text(&bad).contains("--memory"),
        "{}",
        text(&bad)
    );
}

/// Host processes whose command line contains `needle`.
fn host_processes_with(needle: &str) -> Vec<String> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            if cmd.contains(needle) {
                found.push(format!("{}: {cmd}", e.file_name().to_string_lossy()));
            }
        }
    }
    found
}

#[test]
fn fork_bomb_is_stopped_by_pids_limit_and_next_build_succeeds() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    // The first RUN proves the limit is in force (a child shell cannot keep 100 sleeps alive;
    // counted with builtins only, as no fork is left) and fails the build if it is not, so
    // the bomb never runs unbounded on the host.
    dockerfile(
        ctx.path(),
        r#"FROM busybox:latest
RUN sh -c 'i=0; while [ $i -lt 100 ]; do sleep 10 & i=$((i+1)); done' 2>/dev/null; \
    n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo "alive: $n"; [ "$n" -le 64 ]
RUN echo bomb-start; timeout -s KILL 5 sh -c 'bomb(){ bomb|bomb& }; bomb; sleep 30' 2>/tmp/bomb.err; \
    echo bomb-done; echo "fork refused: $(grep -c "can't fork" /tmp/bomb.err)"; rm -f /tmp/bomb.err
"#,
    );
    let started = std::time::Instant::now();
    let out = env.rbuild(&[
        "build",
        "--progress",
        "plain",
        "-t",
        "bomb:1",
        "--pids-limit",
        "64",
        ctx.path().to_str().unwrap(),
    ]);
    let log = text(&out);
    let lines = run_output(&log);
    let n: usize = line_after(&lines, "alive: ").parse().unwrap();
    assert!(
        (20..=64).contains(&n),
        "{n} processes alive under --pids-limit 64:\n{log}"
    );
    assert!(lines.contains(&"bomb-start"), "{log}");
    assert!(
        started.elapsed().as_secs() < 120,
        "the bomb ran for {:?}",
        started.elapsed()
    );
    if out.status.success() {
        let refused: usize = line_after(&lines, "fork refused: ").parse().unwrap();
        assert!(refused > 0, "the bomb never hit the limit:\n{log}");
    }
    assert_eq!(
        host_processes_with("bomb(){"),
        Vec::<String>::new(),
        "bomb processes outlived the build"
    );
    let host = Command::new("sh")
        .args(["-c", "echo host-ok"])
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&host.stdout), "host-ok\n");
    dockerfile(ctx.path(), "FROM busybox:latest\nRUN echo after-bomb\n");
    let log = env.build_ok(ctx.path(), "bomb:2", &["--pids-limit", "64"]);
    assert!(run_output(&log).contains(&"after-bomb"), "{log}");
}

#[test]
fn base_image_of_120_layers_still_runs() {
    let env = Env::new();
    let base = tempfile::tempdir().unwrap();
    let mut df = String::from("FROM busybox:latest\n");
    for n in 1..=120 {
        df.push_str(&format!("RUN echo {n} > /f{n}\n"));
    }
    dockerfile(base.path(), &df);
    env.build_ok(base.path(), "many:1", &[]);
    let layers = env.skopeo_config("many:1")["rootfs"]["diff_ids"]
        .as_array()
        .unwrap()
        .len();
    assert_eq!(layers, 121, "busybox plus 120 RUN layers");
    let ctx = tempfile::tempdir().unwrap();
    dockerfile(
        ctx.path(),
        "FROM many:1\nRUN echo \"files: $(ls / | grep -c '^f[0-9]')\"; echo \"ends: $(cat /f1) $(cat /f120)\"; echo top > /top\n",
    );
    let log = env.build_ok(ctx.path(), "many:2", &[]);
    let out = run_output(&log);
    assert_eq!(line_after(&out, "files: "), "120", "{log}");
    assert_eq!(line_after(&out, "ends: "), "1 120", "{log}");
    let rootfs = env.umoci_unpack("many:2").join("rootfs");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("top")).unwrap(),
        "top\n"
    );
    assert_eq!(std::fs::read_to_string(rootfs.join("f77")).unwrap(), "77\n");
}
