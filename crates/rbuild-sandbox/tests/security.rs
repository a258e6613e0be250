//! Issue 17: Docker's default seccomp profile on every RUN, unconfined and insecure runs.

mod common;
use common::*;
use rbuild_sandbox::{RunSpec, SeccompMode};
use std::path::{Path, PathBuf};

/// Tries each syscall the default profile refuses and prints `name=OK` or `name=<errno name>`.
const PROBE_C: &str = r#"
#define _GNU_SOURCE
#include <stdio.h>
#include <errno.h>
#include <sched.h>
#include <unistd.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <linux/keyctl.h>
static void report(const char *name, long rc) {
    if (rc >= 0) { printf("%s=OK\n", name); return; }
    if (errno == EPERM) printf("%s=EPERM\n", name);
    else printf("%s=OTHER(%d)\n", name, errno);
}
int main(void) {
    report("keyctl", syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0));
    report("bpf", syscall(SYS_bpf, 0, NULL, 0));
    report("perf_event_open", syscall(SYS_perf_event_open, NULL, 0, -1, -1, 0));
    report("mount", mount("none", "/tmp", "tmpfs", 0, NULL));
    report("kexec_load", syscall(SYS_kexec_load, 0, 0, NULL, 0));
    report("getpid", syscall(SYS_getpid));
    /* Last: on success the probe is in a new user namespace. */
    report("unshare_user", unshare(CLONE_NEWUSER));
    return 0;
}
"#;

/// A layer with the probe at /bin/secprobe, built with gcc -static.
fn probe_layer(s: &Scratch) -> PathBuf {
    assert!(
        Path::new("/usr/bin/gcc").exists(),
        "gcc is missing (needed to build the seccomp probe)"
    );
    let src = s.path("secprobe.c");
    std::fs::write(&src, PROBE_C).unwrap();
    let layer = s.path("probe-layer");
    std::fs::create_dir_all(layer.join("bin")).unwrap();
    let out = std::process::Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(layer.join("bin/secprobe"))
        .arg(&src)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gcc -static failed (linux-libc-dev and libc6-dev needed): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    layer
}

fn probe_spec(s: &Scratch, layer: &Path, mode: SeccompMode) -> RunSpec {
    let mut sp = spec(
        s,
        "grep -E '^(Seccomp|NoNewPrivs|CapEff):' /proc/self/status; /bin/secprobe",
    );
    sp.lowers.insert(0, layer.to_path_buf());
    sp.seccomp = mode;
    sp
}

/// The value of a `Name:\tvalue` line of /proc/self/status.
fn status<'a>(out: &'a str, key: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}:")))
        .map_or("", str::trim)
}

#[test]
fn f17_default_run_is_filtered_by_dockers_profile() {
    require_prereqs();
    let s = Scratch::new("f17-seccomp");
    let layer = probe_layer(&s);
    let out = run_ok(&probe_spec(&s, &layer, SeccompMode::Default));
    assert_eq!(status(&out, "Seccomp"), "2", "{out}");
    assert_eq!(status(&out, "NoNewPrivs"), "1", "{out}");
    for name in [
        "keyctl",
        "bpf",
        "perf_event_open",
        "unshare_user",
        "mount",
        "kexec_load",
    ] {
        assert!(out.contains(&format!("{name}=EPERM")), "{name}: {out}");
    }
    assert!(out.contains("getpid=OK"), "{out}");
}

#[test]
fn f17_unconfined_run_shows_the_filter_made_the_difference() {
    require_prereqs();
    let s = Scratch::new("f17-unconfined");
    let layer = probe_layer(&s);
    let out = run_ok(&probe_spec(&s, &layer, SeccompMode::Unconfined));
    assert_eq!(status(&out, "Seccomp"), "0", "{out}");
    assert_eq!(status(&out, "NoNewPrivs"), "1", "{out}");
    // Without the filter these succeed or fail for other reasons than EPERM.
    assert!(out.contains("keyctl=OK"), "{out}");
    assert!(out.contains("unshare_user=OK"), "{out}");
    assert!(out.contains("perf_event_open=OTHER"), "{out}");
    // Capabilities alone still refuse mount (kexec_load depends on the kernel's config: the
    // filter refuses it before the kernel is asked).
    assert!(out.contains("mount=EPERM"), "{out}");
}

#[test]
fn f17_a_profile_file_replaces_the_default() {
    require_prereqs();
    let s = Scratch::new("f17-profile");
    let layer = probe_layer(&s);
    let profile = s.path("profile.json");
    // Allow everything but getpid, which fails with EACCES (13).
    std::fs::write(
        &profile,
        r#"{"defaultAction": "SCMP_ACT_ALLOW", "syscalls": [
            {"names": ["getpid"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]}"#,
    )
    .unwrap();
    let out = run_ok(&probe_spec(&s, &layer, SeccompMode::Profile(profile)));
    assert_eq!(status(&out, "Seccomp"), "2", "{out}");
    assert!(out.contains("getpid=OTHER(13)"), "{out}");
    assert!(out.contains("keyctl=OK"), "{out}");
    let broken = s.path("broken.json");
    std::fs::write(&broken, "{").unwrap();
    let e = try_run(&probe_spec(
        &s,
        &layer,
        SeccompMode::Profile(broken.clone()),
    ))
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        format!("parse seccomp profile {}", broken.display())
    );
}

#[test]
fn f17_insecure_run_has_every_capability_and_no_filter() {
    require_prereqs();
    let s = Scratch::new("f17-insecure");
    let layer = probe_layer(&s);
    let mut sp = probe_spec(&s, &layer, SeccompMode::Default);
    sp.insecure = true;
    let out = run_ok(&sp);
    // Every capability this process (the builder) holds.
    let ours = std::fs::read_to_string("/proc/self/status").unwrap();
    assert_eq!(status(&out, "CapEff"), status(&ours, "CapPrm"), "{out}");
    assert_eq!(status(&out, "Seccomp"), "0", "{out}");
    assert!(out.contains("mount=OK"), "CAP_SYS_ADMIN: {out}");
    // The default run, for contrast: Docker's 14 capabilities.
    let out = run_ok(&probe_spec(&s, &layer, SeccompMode::Default));
    assert_eq!(status(&out, "CapEff"), "00000000a80425fb", "{out}");
}

#[test]
fn f17_insecure_run_has_no_device_list_and_no_masks() {
    require_prereqs();
    let s = Scratch::new("f17-insecure-dev");
    let disk = LoopDisk::new(&s, "HOST-DISK-CONTENT-F17");
    let script = format!(
        "{}; grep -q ' /proc/sys ' /proc/self/mountinfo || echo PROC-AS-IS; \
         touch /sys/x 2>/dev/null; grep -c ' /sys .*rw,' /proc/self/mountinfo",
        disk_script(&disk)
    );
    let mut sp = spec(&s, &script);
    sp.insecure = true;
    let r = run(&sp);
    assert!(r.stdout.contains("HOST-DISK-CONTENT-F1"), "{r:?}");
    assert!(
        r.stdout.contains("PROC-AS-IS"),
        "no read-only /proc/sys: {r:?}"
    );
    assert!(r.stdout.ends_with("1\n"), "/sys is read-write: {r:?}");
    // The same step without insecure is refused the disk and sees the masks.
    let r = run(&spec(&s, &script));
    assert_disk_refused(&r, "HOST-DISK-CONTENT-F17");
    assert!(!r.stdout.contains("PROC-AS-IS"), "{r:?}");
}
