//! Issue 14: two builds (two rbuild processes, one store) using one cache mount at once.
//! `sharing=locked` serialises them, `private` gives the second a fresh copy and lets both run,
//! `shared` lets both run on the same directory. Each step records when it starts and ends
//! (`/proc/uptime`, one clock for every process) in the cache mount and then waits at a gate the
//! test holds; what the test proves comes from who reached the gate and from the order of
//! those records, never from how long anything took.

mod common;

use std::path::Path;
use std::process::Child;
use std::time::{Duration, Instant};

use common::gate::Gate;
use common::mounts::{dockerfile, step_output, waits_for_lock_under};
use common::Env;

const LIMIT: Duration = Duration::from_secs(120);
const STEP: &str = "RUN --mount=type=cache,id=race,target=/c";

/// A context whose step appends `NAME start T`, passes the gate as NAME, appends `NAME end T`
/// and prints the cache's log (on the host's network, where the gate listens on loopback).
fn context(gate: &Gate, sharing: &str) -> tempfile::TempDir {
    let ctx = tempfile::tempdir().unwrap();
    let url = gate.url("$NAME");
    let now = "$(cut -d' ' -f1 /proc/uptime)";
    dockerfile(
        ctx.path(),
        &format!(
            "FROM busybox:latest\nARG NAME\n\
             {STEP},sharing={sharing} --network=host echo \"$NAME start {now}\" >> /c/log && wget -q -O /dev/null {url} \
             && echo \"$NAME end {now}\" >> /c/log && cat /c/log\n"
        ),
    );
    ctx
}

struct Build {
    child: Child,
    log: std::path::PathBuf,
}

impl Build {
    fn start(env: &Env, ctx: &Path, name: &str) -> Build {
        let log = env.root.path().join(format!("build-{name}.log"));
        let arg = format!("NAME={name}");
        let args = [
            "build",
            "--progress",
            "plain",
            "--allow",
            "network.host",
            "--build-arg",
            &arg,
            ctx.to_str().unwrap(),
        ];
        Build {
            child: env.spawn(&args, &log),
            log,
        }
    }

    fn text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for the build to end successfully; returns its step's lines as (name, event, t).
    fn finish(mut self) -> Vec<(String, String, f64)> {
        let start = Instant::now();
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            if start.elapsed() > LIMIT {
                let _ = self.child.kill();
                panic!("build did not end:\n{}", self.text());
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let log = self.text();
        assert!(status.success(), "build failed:\n{log}");
        step_output(&log, STEP)
            .iter()
            .map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                assert_eq!(f.len(), 3, "unexpected step output {l:?} in\n{log}");
                (f[0].to_string(), f[1].to_string(), f[2].parse().unwrap())
            })
            .collect()
    }
}

fn events(records: &[(String, String, f64)]) -> Vec<String> {
    records.iter().map(|(n, e, _)| format!("{n} {e}")).collect()
}

fn time_of(records: &[(String, String, f64)], what: &str) -> f64 {
    let found = records.iter().find(|(n, e, _)| format!("{n} {e}") == what);
    found
        .unwrap_or_else(|| panic!("no {what} in {records:?}"))
        .2
}

#[test]
fn locked_cache_mounts_serialise_two_builds_on_one_store() {
    let env = Env::new();
    let gate = Gate::start();
    let ctx = context(&gate, "locked");
    let a = Build::start(&env, ctx.path(), "a");
    assert!(
        gate.wait_for(LIMIT, |v| v.iter().any(|n| n == "a")),
        "a never ran:\n{}",
        a.text()
    );
    let mut b = Build::start(&env, ctx.path(), "b");
    // While a is inside, b must be blocked on the cache mount's lock, not inside with it.
    let locks = env.store().join("cachemounts");
    let start = Instant::now();
    while !waits_for_lock_under(b.child.id(), &locks) {
        let inside = gate.arrived();
        assert!(
            !inside.contains(&"b".to_string()),
            "b ran while a held the locked cache mount"
        );
        assert!(
            b.child.try_wait().unwrap().is_none(),
            "b ended:\n{}",
            b.text()
        );
        assert!(
            start.elapsed() < LIMIT,
            "b never waited for the lock:\n{}",
            b.text()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    gate.release("a");
    let a = a.finish();
    assert!(
        gate.wait_for(LIMIT, |v| v.iter().any(|n| n == "b")),
        "b never ran"
    );
    gate.release("b");
    let b = b.finish();
    assert_eq!(events(&a), ["a start", "a end"]);
    // One directory, used in turn: b's log holds a's whole run, then its own.
    assert_eq!(events(&b), ["a start", "a end", "b start", "b end"]);
    let stamps: Vec<f64> = b.iter().map(|r| r.2).collect();
    assert!(stamps.windows(2).all(|w| w[0] <= w[1]), "{b:?}");
}

/// Starts builds a and b, and asserts both reach the gate while neither is released.
fn both_inside_at_once(env: &Env, gate: &Gate, ctx: &Path) -> (Build, Build) {
    let a = Build::start(env, ctx, "a");
    let b = Build::start(env, ctx, "b");
    let both = |v: &[String]| ["a", "b"].iter().all(|n| v.iter().any(|x| x == n));
    assert!(
        gate.wait_for(LIMIT, both),
        "the two steps were never inside at once (arrived: {:?}):\n{}\n{}",
        gate.arrived(),
        a.text(),
        b.text()
    );
    gate.release("a");
    gate.release("b");
    (a, b)
}

#[test]
fn private_cache_mounts_let_two_builds_run_at_once_on_separate_copies() {
    let env = Env::new();
    let gate = Gate::start();
    let ctx = context(&gate, "private");
    let (a, b) = both_inside_at_once(&env, &gate, ctx.path());
    let (a, b) = (a.finish(), b.finish());
    // Each saw only its own records: the second user got a fresh copy.
    assert_eq!(events(&a), ["a start", "a end"]);
    assert_eq!(events(&b), ["b start", "b end"]);
    assert!(time_of(&a, "a start") <= time_of(&b, "b end"));
    assert!(time_of(&b, "b start") <= time_of(&a, "a end"));
}

#[test]
fn shared_cache_mounts_let_two_builds_run_at_once_on_one_directory() {
    let env = Env::new();
    // Made beforehand: two first uses at once race (see the test below).
    warm(&env, "race");
    let gate = Gate::start();
    let ctx = context(&gate, "shared");
    let (a, b) = both_inside_at_once(&env, &gate, ctx.path());
    let (a, b) = (a.finish(), b.finish());
    // Both wrote their start into the same file before either was let through.
    for records in [&a, &b] {
        let ev = events(records);
        assert!(ev[..2].contains(&"a start".to_string()), "{ev:?}");
        assert!(ev[..2].contains(&"b start".to_string()), "{ev:?}");
    }
}

/// Puts cache mount `id` in the store (so concurrent users below share an existing one).
fn warm(env: &Env, id: &str) {
    let ctx = tempfile::tempdir().unwrap();
    dockerfile(
        ctx.path(),
        &format!("FROM busybox:latest\nRUN --mount=type=cache,id={id},target=/c true\n"),
    );
    env.build_ok(ctx.path(), "warm:1", &[]);
}

#[test]
fn concurrent_first_uses_of_a_shared_cache_mount_all_succeed() {
    // Eight stages of one build take the same new cache id at once; `shared` lets all of them
    // in, so all must find (or make) one directory, none fail because another made it first.
    let env = Env::new();
    for round in 0..3 {
        let ctx = tempfile::tempdir().unwrap();
        let mut df = String::new();
        for s in 0..8 {
            df.push_str(&format!(
                "FROM busybox:latest AS s{s}\n\
                 RUN --mount=type=cache,id=fresh-{round},target=/c,sharing=shared sh -c 'echo {s} >> /c/log'\n\n"
            ));
        }
        df.push_str("FROM busybox:latest\n");
        for s in 0..8 {
            df.push_str(&format!("COPY --from=s{s} /etc/passwd /s{s}\n"));
        }
        dockerfile(ctx.path(), &df);
        env.build_ok(ctx.path(), "first:1", &["--jobs", "8"]);
    }
}
