//! Issue 14: `RUN --mount=type=cache` end to end on a busybox base: the id (default: the
//! target), sharing modes, seeding from a stage, mode/uid/gid, `ro`, contents that outlive
//! builds (and never enter a layer or a key), `rbuild cache ls|prune`. Concurrent builds on one
//! store are in e2e_mounts_locking.rs.

mod common;

use common::context::rootfs;
use common::mounts::{dockerfile, step_cached, step_output};
use common::{text, Env};

const STEPS: [&str; 7] = [
    "RUN --mount=type=cache,target=/var/cc sh -c 'echo one > /var/cc/f'",
    "RUN --mount=type=cache,id=/var/cc,target=/other,sharing=private cat /other/f",
    "RUN --mount=type=cache,id=/var/cc,target=/l,sharing=locked cat /l/f",
    "RUN --mount=type=cache,id=seeded,target=/s,from=st,source=/data sh -c 'cat /s/f; echo more > /s/g'",
    "RUN --mount=type=cache,id=seeded,target=/s2,from=st,source=/data ls /s2",
    "RUN --mount=type=cache,id=owned,target=/o,mode=0700,uid=1000,gid=1000 stat -c '%a %u %g' /o",
    "RUN --mount=type=cache,id=/var/cc,target=/r,ro sh -c 'touch /r/x 2>/dev/null && echo writable || echo read-only'",
];

#[test]
fn cache_mount_id_sharing_seed_mode_owner_and_ro() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    dockerfile(
        ctx.path(),
        &format!(
            "FROM busybox:latest AS st\nRUN mkdir /data && echo seed > /data/f\n\nFROM busybox:latest\n{}\n",
            STEPS.join("\n")
        ),
    );
    let log = env.build_ok(ctx.path(), "cache:1", &[]);
    let out = |i: usize| step_output(&log, STEPS[i]);
    // The default id is the target: /var/cc, used again under other targets and sharing modes.
    assert_eq!(out(1), ["one"], "{log}");
    assert_eq!(out(2), ["one"], "{log}");
    // Seeded from the stage when created; not seeded again once it exists.
    assert_eq!(out(3), ["seed"], "{log}");
    assert_eq!(out(4), ["f", "g"], "{log}");
    assert_eq!(out(5), ["700 1000 1000"], "{log}");
    assert_eq!(out(6), ["read-only"], "{log}");
    let fs = rootfs(&env, "cache:1");
    for gone in ["var/cc", "other", "l", "s", "s2", "o", "r"] {
        assert!(
            !fs.join(gone).exists(),
            "/{gone} (a cache mount) in the image"
        );
    }
    let ls = env.rbuild_ok(&["cache", "ls"]);
    for id in ["/var/cc", "seeded", "owned"] {
        assert!(
            ls.lines().any(|l| l.split_whitespace().next() == Some(id)),
            "{id} not listed:\n{ls}"
        );
    }
}

const GROW: &str = "RUN --mount=type=cache,id=grow,target=/g";

fn grow_context(ctx: &std::path::Path) {
    dockerfile(
        ctx,
        &format!(
            "FROM busybox:latest\n{GROW} sh -c 'echo x >> /g/log; echo lines $(wc -l < /g/log)'\n\
             RUN --mount=type=cache,id=other,target=/o sh -c 'echo y >> /o/log'\n"
        ),
    );
}

#[test]
fn cache_mount_grows_across_builds_and_is_listed_and_pruned_by_id() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    grow_context(ctx.path());
    for n in 1..=3 {
        let log = env.build_ok(ctx.path(), "grow:1", &["--no-cache"]);
        assert_eq!(step_output(&log, GROW), [format!("lines {n}")], "{log}");
    }
    // Its contents are not part of the key: a plain rebuild is cached although they changed.
    let log = env.build_ok(ctx.path(), "grow:1", &[]);
    assert!(step_cached(&log, GROW), "{log}");
    let ids = |ls: &str| -> Vec<String> {
        ls.lines()
            .skip(1)
            .filter_map(|l| l.split_whitespace().next().map(String::from))
            .collect()
    };
    let ls = env.rbuild_ok(&["cache", "ls"]);
    assert_eq!(ids(&ls), ["grow", "other"], "{ls}");
    // Both were used just now: a day's age filter keeps them.
    let kept = env.rbuild_ok(&["cache", "prune", "--filter", "until=24h"]);
    assert!(!kept.contains("deleted cache mount"), "{kept}");
    assert_eq!(ids(&env.rbuild_ok(&["cache", "ls"])), ["grow", "other"]);
    let pruned = env.rbuild_ok(&["cache", "prune", "--filter", "id=grow"]);
    assert!(pruned.contains("deleted cache mount grow"), "{pruned}");
    assert!(!pruned.contains("deleted cache mount other"), "{pruned}");
    let ls = env.rbuild_ok(&["cache", "ls"]);
    assert_eq!(ids(&ls), ["other"], "{ls}");
    let log = env.build_ok(ctx.path(), "grow:1", &["--no-cache"]);
    assert_eq!(
        step_output(&log, GROW),
        ["lines 1"],
        "pruned: starts empty\n{log}"
    );
}

#[test]
fn store_df_counts_cache_mounts() {
    // Issue 14: cache mounts are "counted in `rbuild store df`".
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    grow_context(ctx.path());
    env.build_ok(ctx.path(), "grow:1", &[]);
    let df = env.rbuild_ok(&["store", "df"]);
    assert!(
        df.lines().any(|l| l.to_lowercase().contains("cache mount")),
        "rbuild store df does not count cache mounts:\n{df}"
    );
}

const SUBPATH: &str = "RUN --mount=type=cache,id=sp,target=/d,source=sub";

#[test]
fn cache_source_without_from_is_refused_naming_the_race() {
    // BuildKit mounts the cache's `sub` directory for `source=sub` without `from`
    // (dockerfile2llb's llb.SourcePath("/sub")). rbuild cannot yet bind a path inside a cache
    // other steps write without the CVE-2024-23651 race, so it refuses it, at the line, before
    // any step runs, instead of silently mounting the cache's root.
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    dockerfile(
        ctx.path(),
        &format!("FROM busybox:latest\nRUN touch /ran\n{SUBPATH} ls /d\n"),
    );
    let out = env.build_with(ctx.path(), &[]);
    assert!(!out.status.success(), "{}", text(&out));
    let err = text(&out);
    assert!(
        err.contains("Dockerfile:3") && err.contains("source=SUBDIR without from="),
        "{err}"
    );
    assert!(!err.contains("[2/3] RUN touch"), "a step ran first: {err}");
}
