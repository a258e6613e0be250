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

/// Steps that fill cache `sp` through its root, then mount parts of it with `source=`.
const SUBPATH_STEPS: [&str; 6] = [
    "RUN --mount=type=cache,id=sp,target=/c sh -c 'mkdir -p /c/sub && echo in-sub > /c/sub/f && echo at-root > /c/top && ln -sfn / /c/abs && ln -sfn ../../../../../.. /c/sub/up && ln -sfn /etc /c/etc-link'",
    "RUN --mount=type=cache,id=sp,target=/d,source=sub sh -c 'cat /d/f; echo written > /d/g'",
    "RUN --mount=type=cache,id=sp,target=/c cat /c/sub/g",
    "RUN --mount=type=cache,id=sp,target=/e,source=abs sh -c 'cat /e/top; test -e /e/etc/passwd && echo host root || echo cache root'",
    "RUN --mount=type=cache,id=sp,target=/u,source=sub/up cat /u/top",
    "RUN --mount=type=cache,id=sp,target=/p,source=../../../sub cat /p/f",
];

#[test]
fn cache_source_mounts_a_subdirectory_resolved_inside_the_cache() {
    // BuildKit mounts `path.Join("/", source)` of the cache for `source=` without `from`
    // (dockerfile2llb's llb.SourcePath) and resolves it with fs.RootPath: symlinks and `..`
    // are followed as if the cache were `/`, so they never lead out of it.
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let body = SUBPATH_STEPS.join("\n");
    dockerfile(ctx.path(), &format!("FROM busybox:latest\n{body}\n"));
    let log = env.build_ok(ctx.path(), "sp:1", &[]);
    let out = |i: usize| step_output(&log, &SUBPATH_STEPS[i][..50]);
    assert_eq!(
        out(1),
        ["in-sub"],
        "source=sub shows the cache's sub:\n{log}"
    );
    assert_eq!(
        out(2),
        ["written"],
        "writes land in the cache's sub:\n{log}"
    );
    assert_eq!(
        out(3),
        ["at-root", "cache root"],
        "a symlink to / stays in the cache"
    );
    assert_eq!(
        out(4),
        ["at-root"],
        "`..` in a symlink stops at the cache's root"
    );
    assert_eq!(
        out(5),
        ["in-sub"],
        "`..` in source stops at the cache's root"
    );
}

#[test]
fn cache_source_that_is_missing_or_leads_out_fails_naming_it() {
    // BuildKit's `sub` fails to open a selector that does not exist in the cache; a symlink
    // to a host path (/etc) resolves to the cache's own (missing) etc, never the host's.
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    for (i, source) in ["missing", "etc-link"].iter().enumerate() {
        dockerfile(
            ctx.path(),
            &format!("FROM busybox:latest\n{}\nRUN --mount=type=cache,id=sp,target=/x,source={source} ls /x\n", SUBPATH_STEPS[0]),
        );
        let log = env.build_fails(ctx.path(), &format!("spf:{i}"), &[]);
        assert!(
            log.contains(&format!("source={source}")) && log.contains("No such file"),
            "{log}"
        );
    }
}

/// Victim steps of the `source=` race; each mounts the cache's `sub` and reads through it.
const RACE_TRIES: usize = 12;

#[test]
fn cache_source_raced_by_a_step_swapping_it_for_symlinks_reads_no_host_file() {
    // BuildKit CVE-2024-23651: a step that shares the cache keeps pointing `sub` (renamed over
    // atomically, so it never goes missing) at a directory of the cache, at `/`, and at a host
    // directory holding a canary, absolutely and relatively, while other steps mount
    // `source=sub`. Each mount shows what `sub` names inside the cache (for the canary's path,
    // a decoy placed there in the cache); the canary is never opened nor its text printed.
    let env = Env::new();
    let c = rbuild_testkit::Canary::new(std::path::Path::new("/tmp"), &["secret"]).unwrap();
    let ctx = tempfile::tempdir().unwrap();
    dockerfile(ctx.path(), &race_dockerfile(&c.dir().display().to_string()));
    let out = env.build_with(ctx.path(), &["-t", "srace:1"]);
    let log = text(&out);
    c.assert_untouched("cache source= raced by symlink swaps (CVE-2024-23651)");
    for body in c.bodies() {
        assert!(!log.contains(body), "the canary was read:\n{log}");
    }
    assert!(out.status.success(), "{log}");
    let tries = log
        .lines()
        .filter(|l| l.contains(" try ") && !l.contains("RUN"))
        .count();
    assert_eq!(tries, RACE_TRIES, "every victim step ran:\n{log}");
    let decoys = log.lines().filter(|l| l.ends_with(" decoy")).count();
    assert!(decoys > 0, "no victim mounted a swapped symlink:\n{log}");
    let swaps = step_output(&log, "touch /c/started");
    assert!(
        swaps
            .iter()
            .any(|l| l.starts_with("swaps ") && l != "swaps 0"),
        "{log}"
    );
}

/// The swapper and victim stages of the `source=` race aimed at the canary directory `dir`.
fn race_dockerfile(dir: &str) -> String {
    let up = format!("../../../../../../../..{dir}");
    let mut df = format!(
        "FROM busybox:latest AS base\n\
         RUN --mount=type=cache,id=srace,target=/c mkdir -p /c/real /c{dir} && echo decoy > /c{dir}/secret && ln -s real /c/sub\n\n\
         FROM base AS swapper\n\
         RUN --mount=type=cache,id=srace,target=/c sh -c 'touch /c/started; \
         end=$(( $(date +%s) + 60 )); n=0; \
         while [ ! -e /c/done ] && [ $(date +%s) -lt $end ]; do \
         for t in real / {dir} {up}; do ln -s $t /c/new && mv -Tf /c/new /c/sub; done; \
         n=$((n+1)); done; echo swaps $n'\n\n\
         FROM base AS victim\n\
         RUN --mount=type=cache,id=srace,target=/all sh -c 'n=0; until [ -e /all/started ] || [ $n -gt 1200 ]; do sleep 0.05; n=$((n+1)); done'\n"
    );
    for k in 0..RACE_TRIES {
        df.push_str(&format!(
            "RUN --mount=type=cache,id=srace,target=/m,source=sub sh -c 'cat /m/secret 2>/dev/null; echo try {k}'\n"
        ));
    }
    df.push_str(
        "RUN --mount=type=cache,id=srace,target=/all touch /all/done\n\n\
         FROM busybox:latest\nCOPY --from=swapper /etc/passwd /s\nCOPY --from=victim /etc/passwd /v\n",
    );
    df
}

/// Stages that run at once and mount one cache at /n and another below it at /n/in.
const NESTED_STAGES: usize = 6;
/// Builds, each with caches of its own, so each one's stages race to create /n/in.
const NESTED_ROUNDS: usize = 30;

/// BuildKit's testCacheMountParallel, made to race harder: steps running at once mount a
/// shared cache at /n and a second cache at /n/in, so each creates the mountpoint `in` inside
/// the first cache, which the others see. It failed now and then with "create mountpoint
/// /n/in: File exists" when another step created it first.
#[test]
fn steps_at_once_create_one_mountpoint_in_a_shared_cache() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let mut df = String::from("ARG ROUND\n");
    for s in 0..NESTED_STAGES {
        df.push_str(&format!(
            "FROM busybox:latest AS s{s}\nARG ROUND\n\
             RUN --mount=type=cache,id=outer-$ROUND,target=/n \
             --mount=type=cache,id=inner-$ROUND,target=/n/in \
             sh -c 'echo {s} > /n/in/s{s} && ls /n/in > /listed-{s}'\n\n"
        ));
    }
    df.push_str("FROM busybox:latest\n");
    for s in 0..NESTED_STAGES {
        df.push_str(&format!("COPY --from=s{s} /listed-{s} /\n"));
    }
    dockerfile(ctx.path(), &df);
    for round in 0..NESTED_ROUNDS {
        let arg = format!("ROUND={round}");
        let out = env.build_with(
            ctx.path(),
            &["--jobs", "8", "--build-arg", &arg, "-t", "nested:1"],
        );
        assert!(out.status.success(), "round {round}:\n{}", text(&out));
    }
}
