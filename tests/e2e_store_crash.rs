//! The store under stress: builds SIGKILLed at random moments leave it consistent and their
//! finished steps reusable, and four builders share one store at once.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::images::skopeo_inspect;
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

#[test]
fn sigkill_at_random_moments_never_corrupts_and_committed_steps_are_reused() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    crash_context(ctx.path());
    let c = ctx.path().to_str().unwrap();
    // One uninterrupted build measures how long a build takes.
    let start = Instant::now();
    env.build_ok(ctx.path(), "crash:0", &["--build-arg", "N=0"]);
    let full = start.elapsed().as_millis() as u64 + 200;
    let mut seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos() as u64
        | 1;
    eprintln!("seed {seed}, full build {full} ms");
    let log = env.root.path().join("killed.log");
    for i in 1..=22 {
        let n = format!("N={i}");
        let no_cache = if i % 4 == 0 { "--no-cache" } else { "--jobs=2" };
        let mut child = env.spawn(
            &[
                "build",
                "--progress",
                "plain",
                no_cache,
                "--build-arg",
                &n,
                "-t",
                "crash:x",
                c,
            ],
            &log,
        );
        let delay = rng(&mut seed) % full;
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill(); // SIGKILL
        let status = wait_timeout(&mut child, Duration::from_secs(60));
        let killed_log = std::fs::read_to_string(&log).unwrap();
        env.check_ok();
        let done = done_steps(&killed_log);
        // The same build again: it succeeds, and every step the killed one finished is reused.
        let out = env.rbuild(&[
            "build",
            "--progress",
            "plain",
            "--build-arg",
            &n,
            "-t",
            "crash:x",
            c,
        ]);
        let again = text(&out);
        assert!(
            out.status.success(),
            "iteration {i} (killed after {delay} ms, {status}):\n{again}"
        );
        // DONE is printed after the cache record is written, so each such step is reusable.
        for step in &done {
            assert!(again.contains(&format!("{step} CACHED")), "iteration {i}: step {step} finished before the kill but was not reused:\n{killed_log}\n---\n{again}");
        }
    }
    env.check_ok();
    // The image is whole: runc runs it and the files are there.
    let rootfs = env.umoci_unpack("crash:x").join("rootfs");
    assert_eq!(std::fs::read_to_string(rootfs.join("n")).unwrap(), "22\n");
    assert_eq!(
        std::fs::metadata(rootfs.join("big.bin")).unwrap().len(),
        3 << 20
    );
}

#[test]
fn four_builders_share_one_store_at_once() {
    let env = Env::new();
    let ctxs: Vec<tempfile::TempDir> = (0..4).map(|_| tempfile::tempdir().unwrap()).collect();
    for (i, ctx) in ctxs.iter().enumerate() {
        write_file(
            &ctx.path().join("own.txt"),
            format!("own {i}\n").as_bytes(),
            0o644,
        );
        // All share the first two steps; pairs share the third.
        let dockerfile = format!(
            "FROM busybox:latest\nRUN echo common > /common && head -c 2000000 /dev/zero > /zeros\n\
             RUN mkdir /shared && echo shared > /shared/s\nRUN echo pair-{} > /pair && sleep 0.3\n\
             COPY own.txt /own.txt\nRUN cat /common /pair /own.txt > /all\nCMD [\"cat\", \"/all\"]\n",
            i / 2
        );
        write_file(&ctx.path().join("Dockerfile"), dockerfile.as_bytes(), 0o644);
    }
    let logs: Vec<_> = (0..4)
        .map(|i| env.root.path().join(format!("b{i}.log")))
        .collect();
    let mut children: Vec<_> = ctxs
        .iter()
        .enumerate()
        .map(|(i, ctx)| {
            let tag = format!("multi:{i}");
            // With SOURCE_DATE_EPOCH, a step two builders both ran gives the same layer.
            let args = [
                "build",
                "--progress",
                "plain",
                "--build-arg",
                "SOURCE_DATE_EPOCH=1700000000",
            ];
            let mut args = args.to_vec();
            args.extend(["-t", &tag, ctx.path().to_str().unwrap()]);
            env.spawn(&args, &logs[i])
        })
        .collect();
    for (i, child) in children.iter_mut().enumerate() {
        let status = wait_timeout(child, Duration::from_secs(300));
        assert!(
            status.success(),
            "builder {i}: {}",
            std::fs::read_to_string(&logs[i]).unwrap()
        );
    }
    env.check_ok();
    for i in 0..4 {
        let bundle = env.umoci_unpack(&format!("multi:{i}"));
        let all = std::fs::read_to_string(bundle.join("rootfs/all")).unwrap();
        assert_eq!(all, format!("common\npair-{}\nown {i}\n", i / 2));
        assert_eq!(env.runc_run(&bundle), all);
    }
    // The shared steps give the same blobs, whether one builder reused another's record or
    // both ran the step at once (no cross-process dedup: there is no daemon).
    let layers = |i: usize| {
        let m = skopeo_inspect(&format!("oci:{}:multi:{i}", env.store().display()));
        m["layers"]
            .as_array()
            .unwrap()
            .iter()
            .map(|l| l["digest"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let l0 = layers(0);
    for i in 1..4 {
        assert_eq!(
            layers(i)[..3],
            l0[..3],
            "builder {i} does not share the common layers"
        );
    }
}
