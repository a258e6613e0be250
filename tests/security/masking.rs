//! runc CVE-2025-31133 / CVE-2025-52565 / CVE-2025-52881: the masks of /proc are binds of
//! /dev/null, /dev/console is a bind of a pty, and the runtime reads and writes /proc files;
//! when a container's /dev/null, /dev/console or /proc entries were symlinks (or mounts the
//! container chose) at that moment, the bind or write landed on another file, such as the
//! host-wide /proc/sys/kernel/core_pattern (a write there runs a program as root on the host).
//!
//! A Dockerfile reaches the same moment without any race: `RUN --mount` binds a directory of
//! its choice (from a stage, or a cache an earlier step filled) on /dev or /proc/sys before
//! the step starts, and an image's layers may hold /dev entries of any kind. The static case
//! is the worst a racing step could arrange, so it is what these tests build. None of them
//! writes a sysctl: a hole shows as a mask that is not the null device, a bounding set that
//! was not reduced, or a write permission where there must be none.

use crate::common::mounts::{dockerfile, step_output};
use crate::common::Env;

/// Masked paths this kernel has (kcore, sched_debug and latency_stats may be compiled out).
const MASKED: [&str; 3] = ["/proc/interrupts", "/proc/keys", "/proc/timer_list"];

/// The stage `evil`: /fakedev whose null and console are symlinks to core_pattern, and a
/// /fakesys whose kernel/cap_last_cap says 0 (a kernel with a single capability).
const EVIL: &str = "FROM busybox:latest AS evil\n\
    RUN mkdir -p /fakedev /fakesys/kernel && \
    ln -s /proc/sys/kernel/core_pattern /fakedev/null && \
    ln -s /proc/sys/kernel/core_pattern /fakedev/console && \
    echo 0 > /fakesys/kernel/cap_last_cap\n\n";

/// Shell that prints `TAG: <type> <major:minor>` of each masked path, then how many mounts
/// show core_pattern anywhere. (Nothing is written: with /dev bound from the stage, /dev/null
/// is that symlink; busybox's `test -w` says yes to root on a read-only mount, so it proves
/// nothing either.)
fn probe(tag: &str) -> String {
    let stats: String = MASKED
        .iter()
        .map(|p| format!("echo {tag}: $(stat -c '%F %t:%T' {p}); "))
        .collect();
    format!("sh -c \"{stats}echo {tag}: mounts $(grep -c core_pattern /proc/self/mountinfo)\"")
}

/// Each masked path is the null device, and nothing but devices is writable.
fn assert_masked(log: &str, needle: &str, tag: &str) {
    let out = step_output(log, needle);
    let want: Vec<String> = MASKED
        .iter()
        .map(|_| format!("{tag}: character special file 1:3"))
        .chain([format!("{tag}: mounts 0")])
        .collect();
    assert_eq!(out, want, "{tag}: masks redirected:\n{log}");
}

#[test]
fn cve_2025_31133_dev_null_swapped_for_a_symlink_never_becomes_a_mask() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    dockerfile(
        ctx.path(),
        &format!(
            "{EVIL}FROM busybox:latest\n\
             RUN --mount=type=cache,id=evildev,target=/c ln -sf /proc/sys/kernel/core_pattern /c/null\n\
             RUN --mount=type=bind,from=evil,source=/fakedev,target=/dev {bind}\n\
             RUN --mount=type=cache,id=evildev,target=/dev {cache}\n\
             COPY --from=evil /fakedev/ /dev/\n\
             RUN {image}\n",
            bind = probe("bind"),
            cache = probe("cache"),
            image = probe("image"),
        ),
    );
    let log = env.build_ok(ctx.path(), "cve31133:1", &["--no-cache"]);
    assert_masked(&log, "source=/fakedev,target=/dev", "bind");
    assert_masked(&log, "id=evildev,target=/dev", "cache");
    assert_masked(&log, "RUN sh -c \"echo image", "image");
}

#[test]
fn cve_2025_52565_dev_console_is_never_bound_from_what_the_step_or_image_holds() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let check = "sh -c 'test -e /dev/console && echo console: $(stat -L -c %F /dev/console) \
                 || echo console: none; echo mounts: $(grep -c -e core_pattern -e console \
                 /proc/self/mountinfo)'";
    dockerfile(
        ctx.path(),
        &format!("{EVIL}FROM busybox:latest\nCOPY --from=evil /fakedev/ /dev/\nRUN {check}\n"),
    );
    let log = env.build_ok(ctx.path(), "cve52565:1", &["--no-cache"]);
    // The image's /dev/console (a symlink to core_pattern) is hidden by the fresh /dev, and
    // no console is bound: a RUN has no terminal.
    assert_eq!(
        step_output(&log, "RUN sh -c 'test -e /dev/console"),
        ["console: none", "mounts: 0"],
        "{log}"
    );
}

#[test]
fn cve_2025_52881_proc_under_the_steps_own_mounts_is_never_trusted() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    // The capability sets, and whether a sysctl can be written: domainname, which belongs to
    // the step's own UTS namespace, so even a write that should have failed harms nothing.
    // (Where the step's mount covers /proc/sys, there is no sysctl to try.)
    let caps = "sh -c \"grep -E '^Cap(Bnd|Eff)' /proc/self/status | tr -s '\\t' ' '; echo end\"";
    let write = "sh -c \"grep -E '^Cap(Bnd|Eff)' /proc/self/status | tr -s '\\t' ' '; \
                 (echo rbuild > /proc/sys/kernel/domainname) 2>&- && echo writable sysctl; echo end\"";
    dockerfile(
        ctx.path(),
        &format!(
            "{EVIL}FROM busybox:latest\n\
             RUN --mount=type=cache,id=evilsys,target=/c sh -c 'mkdir -p /c/kernel && echo 0 > /c/kernel/cap_last_cap'\n\
             RUN --mount=type=bind,from=evil,source=/fakesys,target=/proc/sys {caps}\n\
             RUN --mount=type=cache,id=evilsys,target=/proc/sys {caps}\n\
             RUN --mount=type=bind,from=evil,source=/fakedev,target=/dev {write}\n\
             RUN {write}\n"
        ),
    );
    let log = env.build_ok(ctx.path(), "cve52881:1", &["--no-cache"]);
    // Docker's 14 capabilities, in the bounding set too: the kernel's capability count was
    // read from the real procfs, not from the step's /proc/sys.
    let docker = "00000000a80425fb";
    let want = [
        format!("CapEff: {docker}"),
        format!("CapBnd: {docker}"),
        "end".to_string(),
    ];
    for needle in [
        "source=/fakesys,target=/proc/sys",
        "id=evilsys,target=/proc/sys",
        "source=/fakedev,target=/dev",
        "RUN sh -c \"grep",
    ] {
        let out = step_output(&log, needle);
        assert_eq!(out, want, "{needle}:\n{log}");
    }
}
