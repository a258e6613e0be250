//! The store under stress: builds SIGKILLed at random moments leave it consistent and their
//! finished steps reusable, and four builders share one store at once.

mod common;

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::images::skopeo_inspect;
use common::sandbox::cgroups_of;
use common::{text, write_file, Env};

/// Waits for `child`, failing the test (not hanging it) if it runs past `limit`.
fn wait_timeout(child: &mut std::process::Child, limit: Duration) -> std::process::ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(s) = child.try_wait().unwrap() {
            return s;
        }
        assert!(
            start.elapsed() < limit,
            "process did not finish in {limit:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Steps that take a while and write a few MB each, so kills land in RUN, in layer writing,
/// in ingest and in snapshot commits. `N` makes the last steps new in every iteration.
fn crash_context(dir: &Path) {
    let mut big = Vec::with_capacity(3 << 20);
    let mut x: u32 = 7;
    for _ in 0..(3 << 20) {
        x = x.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        big.push((x >> 24) as u8);
    }
    write_file(&dir.join("big.bin"), &big, 0o644);
    let dockerfile = "FROM busybox:latest
RUN head -c 4000000 /dev/urandom > /r1 && sleep 0.2
COPY big.bin /big.bin
ARG N
RUN echo $N > /n && head -c 3000000 /dev/urandom > /r2
RUN for i in 1 2 3 4 5 6 7 8; do head -c 500000 /dev/urandom > /f$i; done; sleep 0.1
RUN cat /n /r1 /r2 | md5sum > /sum
";
    write_file(&dir.join("Dockerfile"), dockerfile.as_bytes(), 0o644);
}

/// Step numbers whose DONE line a (killed) build printed: their results were recorded.
fn done_steps(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains(" DONE "))
        .filter_map(|l| l.split_whitespace().next().map(str::to_string))
        .collect()
}

/// A cheap xorshift, seeded from the clock: kill moments differ per run but are printed.
fn rng(seed: &mut u64) -> u64 {
    *seed ^= *seed << 13;
    *seed ^= *seed >> 7;
    *seed ^= *seed << 17;
    *seed
}

/// Milliseconds a build of the crash context takes when only the `ARG N` steps are new, as in
/// every iteration below (the first steps are cached after a warm-up build).
fn iteration_time(env: &Env, ctx: &Path) -> u64 {
    env.build_ok(ctx, "crash:0", &["--build-arg", "N=0"]);
    let start = Instant::now();
    env.build_ok(ctx, "crash:0", &["--build-arg", "N=-1"]);
    start.elapsed().as_millis() as u64
}

/// The build of iteration `n`: `--no-cache` every fourth time, so kills also land in the
/// early, larger steps.
fn iteration_args<'a>(n: &'a str, c: &'a str, i: u32) -> Vec<&'a str> {
    let no_cache = if i.is_multiple_of(4) {
        "--no-cache"
    } else {
        "--jobs=2"
    };
    let mut args = vec!["build", "--progress", "plain", no_cache];
    args.extend(["--build-arg", n, "-t", "crash:x", c]);
    args
}

/// What the killed builds may not leave once the store was opened again: run cgroups, scratch
/// dirs in the store, sandbox dirs in the temp dir.
fn assert_no_leftovers(env: &Env, killed: &[u32]) {
    let cgroups: Vec<PathBuf> = killed.iter().flat_map(|&pid| cgroups_of(pid)).collect();
    // Left empty by their dead owners: removed whatever the verdict, to keep the host clean.
    for dir in &cgroups {
        let _ = std::fs::remove_dir(dir);
    }
    assert_eq!(
        cgroups,
        Vec::<PathBuf>::new(),
        "cgroups of killed builds left behind"
    );
    let tmp: Vec<_> = std::fs::read_dir(env.store().join("tmp"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .collect();
    assert_eq!(
        tmp,
        Vec::<PathBuf>::new(),
        "scratch of killed builds left in the store"
    );
    let sandbox: Vec<_> = std::fs::read_dir(std::env::temp_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().to_string())
        .filter(|n| {
            killed
                .iter()
                .any(|pid| n.starts_with(&format!("rbuild-sandbox-{pid}-")))
        })
        .collect();
    assert_eq!(
        sandbox,
        Vec::<String>::new(),
        "sandbox dirs of killed builds left"
    );
}

#[test]
fn sigkill_at_random_moments_never_corrupts_and_committed_steps_are_reused() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    crash_context(ctx.path());
    let c = ctx.path().to_str().unwrap();
    let span = iteration_time(&env, ctx.path());
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}, iteration build {span} ms");
    let log = env.root.path().join("killed.log");
    let mut killed = Vec::new();
    const ROUNDS: u32 = 22;
    for i in 1..=ROUNDS {
        let n = format!("N={i}");
        let mut child = env.spawn(&iteration_args(&n, c, i), &log);
        // Within the first 80 % of a build's time: nearly every kill lands mid-build.
        let delay = rng(&mut seed) % (span * 4 / 5).max(1);
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill(); // SIGKILL
        let status = wait_timeout(&mut child, Duration::from_secs(60));
        if status.signal() == Some(9) {
            killed.push(child.id());
        }
        let killed_log = std::fs::read_to_string(&log).unwrap();
        env.check_ok();
        rebuild_reuses_what_was_done(
            &env,
            &n,
            c,
            &killed_log,
            &format!("iteration {i} (killed after {delay} ms, {status})"),
        );
    }
    // Each kill that came after the build had finished proves nothing: most must have hit.
    assert!(
        killed.len() as u32 * 3 >= ROUNDS * 2,
        "only {} of {ROUNDS} builds were killed before they finished",
        killed.len()
    );
    env.check_ok();
    assert_no_leftovers(&env, &killed);
    // The image is whole: the files are there.
    let rootfs = env.umoci_unpack("crash:x").join("rootfs");
    assert_eq!(
        std::fs::read_to_string(rootfs.join("n")).unwrap(),
        format!("{ROUNDS}\n")
    );
    assert_eq!(
        std::fs::metadata(rootfs.join("big.bin")).unwrap().len(),
        3 << 20
    );
}

/// The killed build again: it succeeds, and every step the killed one finished is reused
/// (DONE is printed after the cache record is written).
fn rebuild_reuses_what_was_done(env: &Env, n: &str, c: &str, killed_log: &str, what: &str) {
    let done = done_steps(killed_log);
    let out = env.rbuild(&[
        "build",
        "--progress",
        "plain",
        "--build-arg",
        n,
        "-t",
        "crash:x",
        c,
    ]);
    let again = text(&out);
    assert!(out.status.success(), "{what}:\n{again}");
    for step in &done {
        assert!(
            again.contains(&format!("{step} CACHED")),
            "{what}: step {step} finished before the kill but was not reused:\n{killed_log}\n---\n{again}"
        );
    }
}

/// Four contexts: all share the first two steps, pairs share the third.
fn shared_contexts() -> Vec<tempfile::TempDir> {
    let ctxs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    for (i, ctx) in ctxs.iter().enumerate() {
        let own = format!("own {i}\n");
        write_file(&ctx.path().join("own.txt"), own.as_bytes(), 0o644);
        let dockerfile = format!(
            "FROM busybox:latest\nRUN echo common > /common && head -c 2000000 /dev/zero > /zeros\n\
             RUN mkdir /shared && echo shared > /shared/s\nRUN echo pair-{} > /pair && sleep 0.3\n\
             COPY own.txt /own.txt\nRUN cat /common /pair /own.txt > /all\nCMD [\"cat\", \"/all\"]\n",
            i / 2
        );
        write_file(&ctx.path().join("Dockerfile"), dockerfile.as_bytes(), 0o644);
    }
    ctxs
}

/// Builds every context as `multi:<i>` at the same time; asserts each succeeded.
fn build_all_at_once(env: &Env, ctxs: &[tempfile::TempDir]) {
    let logs: Vec<_> = (0..ctxs.len())
        .map(|i| env.root.path().join(format!("b{i}.log")))
        .collect();
    let mut children: Vec<_> = ctxs
        .iter()
        .enumerate()
        .map(|(i, ctx)| {
            let tag = format!("multi:{i}");
            // With SOURCE_DATE_EPOCH, a step two builders both ran gives the same layer.
            let epoch = "SOURCE_DATE_EPOCH=1700000000";
            let mut args = vec!["build", "--progress", "plain", "--build-arg", epoch];
            args.extend(["-t", &tag, ctx.path().to_str().unwrap()]);
            env.spawn(&args, &logs[i])
        })
        .collect();
    for (i, child) in children.iter_mut().enumerate() {
        let status = wait_timeout(child, Duration::from_secs(300));
        let log = std::fs::read_to_string(&logs[i]).unwrap();
        assert!(status.success(), "builder {i}: {log}");
    }
}

/// The layer digests of `multi:<i>`, as skopeo reads them.
fn layers(env: &Env, i: usize) -> Vec<String> {
    let m = skopeo_inspect(&format!("oci:{}:multi:{i}", env.store().display()));
    m["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["digest"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn four_builders_share_one_store_at_once() {
    let env = Env::new();
    let ctxs = shared_contexts();
    build_all_at_once(&env, &ctxs);
    env.check_ok();
    for i in 0..4 {
        let bundle = env.umoci_unpack(&format!("multi:{i}"));
        let all = std::fs::read_to_string(bundle.join("rootfs/all")).unwrap();
        assert_eq!(all, format!("common\npair-{}\nown {i}\n", i / 2));
        assert_eq!(env.runc_run(&bundle), all);
    }
    // The shared steps give the same blobs, whether one builder reused another's record or
    // both ran the step at once (no cross-process dedup: there is no daemon).
    let l0 = layers(&env, 0);
    for i in 1..4 {
        let li = layers(&env, i);
        assert_eq!(
            li[..3],
            l0[..3],
            "builder {i} does not share the common layers"
        );
    }
}
