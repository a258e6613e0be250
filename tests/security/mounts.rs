//! Issue 14 "Path safety": the known `RUN --mount` escapes of other builders, one regression
//! test each, named after its CVE. Each aims at a host canary (rbuild_testkit::Canary: files
//! in a fresh host directory watched by inotify from their creation), which must never be
//! opened, read, changed or deleted, nor anything created next to it.

use std::path::Path;

use crate::common::mounts::{dockerfile, step_output, TestAgent};
use crate::common::{text, Env};
use rbuild_testkit::Canary;

fn canary(names: &[&str]) -> Canary {
    Canary::new(Path::new("/tmp"), names).unwrap()
}

fn assert_no_canary_text(what: &str, log: &str, c: &Canary) {
    for body in c.bodies() {
        assert!(
            !log.contains(body),
            "{what}: a canary's content was read:\n{log}"
        );
    }
}

const BREAKOUT: &str = "/BIND_BREAKOUT";

/// buildah CVE-2024-1753: `RUN --mount=type=bind,rw,from=STAGE,source=/rootdir` where the
/// stage's /rootdir is a symlink to `/` mounted the host's root, writable.
#[test]
fn cve_2024_1753_bind_from_a_stage_symlink_to_root_shows_the_stage_not_the_host() {
    assert!(
        !Path::new(BREAKOUT).exists(),
        "{BREAKOUT} exists before the test: remove it"
    );
    let env = Env::new();
    let c = canary(&["secret"]);
    // The canary's host path, as the step would see it if the mount showed the host's root.
    let probe = c.path("secret").display().to_string();
    let ctx = tempfile::tempdir().unwrap();
    dockerfile(
        ctx.path(),
        &format!(
            "FROM busybox:latest AS base\nRUN ln -s / /rootdir && ln -s ../../.. /dots && echo stage > /stage-marker\n\n\
             FROM busybox:latest\n\
             RUN --mount=type=bind,rw,from=base,source=/rootdir,target=/mnt sh -c 'echo pwned > /mnt{BREAKOUT}; cat /mnt/stage-marker; cat /mnt{p} 2>/dev/null; echo rw-done'\n\
             RUN --mount=type=bind,from=base,source=/rootdir,target=/ro sh -c 'cat /ro/stage-marker; cat /ro{p} 2>/dev/null; test -e /ro{BREAKOUT} && echo leaked || echo ro-clean'\n\
             RUN --mount=type=bind,rw,from=base,source=/dots/../rootdir/..,target=/d sh -c 'cat /d/stage-marker; echo pwned > /d{BREAKOUT}.2; echo dots-done'\n",
            p = probe,
        ),
    );
    let log = env.build_ok(ctx.path(), "cve1753:1", &[]);
    assert!(
        !Path::new(BREAKOUT).exists(),
        "{BREAKOUT} appeared on the host"
    );
    assert!(
        !Path::new(&format!("{BREAKOUT}.2")).exists(),
        "{BREAKOUT}.2 on the host"
    );
    assert_eq!(
        step_output(&log, "target=/mnt"),
        ["stage", "rw-done"],
        "{log}"
    );
    assert_eq!(
        step_output(&log, "target=/ro"),
        ["stage", "ro-clean"],
        "{log}"
    );
    assert_eq!(
        step_output(&log, "target=/d "),
        ["stage", "dots-done"],
        "{log}"
    );
    assert_no_canary_text("bind from a stage", &log, &c);
    c.assert_untouched("buildah CVE-2024-1753");
}

/// buildah CVE-2024-9675: a cache `id` was joined to the cache directory, so
/// `id=../../../../root/dir` mounted (and let the step write to) any host directory.
#[test]
fn cve_2024_9675_cache_id_with_dotdot_stays_in_the_cache_area() {
    let env = Env::new();
    let c = canary(&["file.txt"]);
    let dir = c.dir().display().to_string();
    let ctx = tempfile::tempdir().unwrap();
    let step = "sh -c 'ls -A /var/tmp; cat /var/tmp/file.txt 2>/dev/null; touch /var/tmp/BREAKOUT; echo done'";
    dockerfile(
        ctx.path(),
        &format!(
            "FROM busybox:latest\n\
             RUN --mount=type=cache,id=../../../../../../../../../..{dir},target=/var/tmp {step}\n\
             RUN --mount=type=cache,id={dir},target=/var/tmp,sharing=locked {step}\n\
             RUN --mount=type=cache,id=../blobs,target=/var/tmp,sharing=private {step}\n"
        ),
    );
    let log = env.build_ok(ctx.path(), "cve9675:1", &[]);
    // Each id is a fresh, empty cache of its own.
    for needle in [
        format!("id=../../../../../../../../../..{dir},"),
        format!("id={dir},"),
        "id=../blobs,".into(),
    ] {
        assert_eq!(step_output(&log, &needle), ["done"], "{needle}:\n{log}");
    }
    assert_no_canary_text("cache ids with ../", &log, &c);
    c.assert_untouched("buildah CVE-2024-9675");
    // What the steps wrote is inside the store's cache area, nowhere else in the store.
    let breakouts = find_named(&env.store(), "BREAKOUT");
    assert_eq!(breakouts.len(), 3, "{breakouts:?}");
    let area = env.store().join("cachemounts");
    assert!(
        breakouts.iter().all(|p| p.starts_with(&area)),
        "{breakouts:?}"
    );
    let ls = env.rbuild_ok(&["cache", "ls"]);
    assert!(
        ls.contains(&format!("../../../../../../../../../..{dir}")),
        "{ls}"
    );
}

/// Paths named `name` under `root` (not following symlinks).
fn find_named(root: &Path, name: &str) -> Vec<std::path::PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![root.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            if e.file_name() == name {
                found.push(e.path());
            }
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                todo.push(e.path());
            }
        }
    }
    found
}

/// BuildKit CVE-2024-23652: a step replaced the parent of its mount target with a symlink to
/// a host directory, and the cleanup that removes the empty files made for mount points
/// followed it and deleted the host file of the target's name.
#[test]
fn cve_2024_23652_mount_point_cleanup_never_deletes_through_a_symlink() {
    let env = Env::new();
    // What cleanup would remove as its own stubs: empty dirs for the tmpfs and cache mount
    // points, empty files for the secret, the bound file and the agent socket.
    let c = Canary::with_stubs(Path::new("/tmp"), &["x"], &["s", "b", "a"], &["t", "c"]).unwrap();
    let dir = c.dir().display().to_string();
    let agent = TestAgent::start("rbuild-cve-2024-23652");
    let ctx = tempfile::tempdir().unwrap();
    std::fs::write(ctx.path().join("b"), "context file\n").unwrap();
    std::fs::write(ctx.path().join("s"), "secret\n").unwrap();
    let relative = format!("../../../../../../../..{dir}");
    let swap = format!(
        "mv /m1 /m1.old && ln -s {dir} /m1 && mv /m2 /m2.old && ln -s {relative} /m2 && \
         mv /m3 /m3.old && ln -s {dir} /m3 && mv /m4 /m4.old && ln -s {relative} /m4 && \
         mv /m5 /m5.old && ln -s {dir} /m5 && ls -l /m1 /m5 && echo swapped"
    );
    dockerfile(
        ctx.path(),
        &format!(
            "FROM busybox:latest\n\
             RUN --mount=type=tmpfs,target=/m1/t --mount=type=cache,target=/m2/c \
             --mount=type=secret,id=s,target=/m3/s --mount=type=bind,source=b,target=/m4/b \
             --mount=type=ssh,target=/m5/a sh -c '{swap}'\n"
        ),
    );
    let secret = format!("id=s,src={}", ctx.path().join("s").display());
    let args = [
        "build",
        "--progress",
        "plain",
        "-t",
        "cve23652:1",
        "--secret",
        &secret,
    ];
    let args = [
        &args[..],
        &["--ssh", "default", ctx.path().to_str().unwrap()],
    ]
    .concat();
    let out = env.rbuild_env(&args, &[("SSH_AUTH_SOCK", agent.socket.to_str().unwrap())]);
    let log = text(&out);
    // Whether or not the build succeeds, the step must have swapped its mount points' parents.
    assert!(
        log.contains(" swapped\n"),
        "the step did not replace its mount points:\n{log}"
    );
    c.assert_untouched("BuildKit CVE-2024-23652");
    assert_no_canary_text("mount point cleanup", &log, &c);
}

const VICTIMS: usize = 4;
const TRIES: usize = 6;

/// A swapper stage that, in a shared cache mount, keeps replacing `sub` by a directory, a
/// symlink to `/` and absolute and relative symlinks to the canary's directory (the image holds
/// a decoy at that same path, so every symlink resolves inside the container) until every
/// victim is done or `cap` seconds pass (the cache exists before, as two first uses at once
/// race: see e2e_mounts_locking.rs); victim stages that meanwhile mount that cache and read
/// through its `sub` again and again, and with `targets` also place tmpfs and secret mount
/// points under it. (BuildKit's cache subpath, `source=sub` without `from`, resolved inside
/// the cache under the same race, is e2e_mounts_cache.rs's
/// `cache_source_raced_by_a_step_swapping_it_for_symlinks_reads_no_host_file`.)
fn race_dockerfile(ctx: &Path, dir: &str, targets: bool, cap: u32) {
    let relative = format!("../../../../../../../..{dir}");
    let mut df = format!(
        "FROM busybox:latest AS base\nRUN mkdir -p {dir} && echo decoy > {dir}/secret\n\
         RUN --mount=type=cache,id=race,target=/c true\n\n\
         FROM base AS swapper\n\
         RUN --mount=type=cache,id=race,target=/c sh -c 'mkdir -p /c/sub; touch /c/started; \
         end=$(( $(date +%s) + {cap} )); n=0; \
         while [ $(ls /c | grep -c ^done-) -lt {VICTIMS} ] && [ $(date +%s) -lt $end ]; do \
         rm -rf /c/sub; ln -s / /c/sub; rm -f /c/sub; ln -s {dir} /c/sub; rm -f /c/sub; \
         ln -s {relative} /c/sub; rm -f /c/sub; mkdir /c/sub; n=$((n+1)); done; echo swaps $n > /swaps'\n\n"
    );
    for v in 0..VICTIMS {
        df.push_str(&format!(
            "FROM base AS v{v}\n\
             RUN --mount=type=cache,id=race,target=/all sh -c 'n=0; until [ -e /all/started ] || [ $n -gt 1200 ]; do sleep 0.05; n=$((n+1)); done'\n"
        ));
        for k in 0..TRIES {
            let extra = if targets {
                format!("--mount=type=tmpfs,target=/all/sub/t{k} --mount=type=secret,id=s,target=/all/sub/s{k}")
            } else {
                String::new()
            };
            df.push_str(&format!(
                "RUN --mount=type=cache,id=race,target=/m --mount=type=cache,id=race,target=/all {extra} \
                 sh -c 'cat /m/sub/secret /all/sub/secret 2>/dev/null; echo v{v} try {k}'\n"
            ));
        }
        df.push_str(&format!(
            "RUN --mount=type=cache,id=race,target=/all touch /all/done-{v}\n\n"
        ));
    }
    df.push_str("FROM busybox:latest\nCOPY --from=swapper /swaps /swaps\n");
    for v in 0..VICTIMS {
        df.push_str(&format!("COPY --from=v{v} /etc/passwd /v{v}\n"));
    }
    dockerfile(ctx, &df);
}

/// Builds the race of [`race_dockerfile`]; returns the build's output, whether it succeeded,
/// and how many victim steps started (their mounts were set up while the swapper ran).
fn race(targets: bool, cap: u32) -> (Env, Canary, String, bool, usize) {
    let env = Env::new();
    let c = canary(&["secret", "t0", "s0"]);
    let ctx = tempfile::tempdir().unwrap();
    race_dockerfile(ctx.path(), &c.dir().display().to_string(), targets, cap);
    std::fs::write(ctx.path().join("s"), "step secret\n").unwrap();
    let secret = format!("id=s,src={}", ctx.path().join("s").display());
    let out = env.build_with(ctx.path(), &["-t", "race:1", "--secret", &secret]);
    let log = text(&out);
    // A victim step's header is printed when it starts, before its mounts are set up.
    let started = log
        .lines()
        .filter(|l| {
            l.starts_with('#') && l.contains("] RUN --mount=type=cache,id=race,target=/m --mount")
        })
        .count();
    (env, c, log, out.status.success(), started)
}

/// BuildKit CVE-2024-23651 (two steps sharing a cache mount with subpaths race so that a
/// mount source becomes a symlink to a host path) and buildah CVE-2024-11218 (a mount source
/// swapped for a symlink by a concurrent step): sources are resolved inside the container,
/// whatever the other steps do meanwhile, and every victim step runs.
#[test]
fn cve_2024_23651_concurrent_steps_swapping_a_mount_source_for_a_symlink_read_no_host_file() {
    let (env, c, log, ok, _) = race(false, 90);
    c.assert_untouched("BuildKit CVE-2024-23651 / buildah CVE-2024-11218");
    assert_no_canary_text("racing mount sources", &log, &c);
    assert!(ok, "{log}");
    let tries = log
        .lines()
        .filter(|l| l.contains(" try ") && !l.contains("RUN"))
        .count();
    assert_eq!(tries, VICTIMS * TRIES, "every victim step ran:\n{log}");
    let swaps = std::fs::read_to_string(env.umoci_unpack("race:1").join("rootfs/swaps")).unwrap();
    let n: u64 = swaps.trim().trim_start_matches("swaps ").parse().unwrap();
    assert!(n > 0, "the swapper never swapped: {swaps}");
}

/// The same race aimed at mount targets: tmpfs and secret mount points placed under the
/// directory being swapped for symlinks to the canary's directory. A step may fail (its mount
/// point vanished under it); no mount point is ever made or mounted in the host directory.
#[test]
fn cve_2024_23651_concurrent_swaps_of_a_mount_target_parent_touch_no_host_file() {
    let (_env, c, log, ok, started) = race(true, 15);
    c.assert_untouched("mount targets under a racing symlink");
    assert_no_canary_text("racing mount targets", &log, &c);
    assert!(started > 0, "no victim step started:\n{log}");
    if !ok {
        let error = log
            .lines()
            .find(|l| l.starts_with("ERROR: "))
            .unwrap_or_default();
        assert!(
            error.contains("sandbox setup failed"),
            "unexpected failure:\n{log}"
        );
    }
}
