//! Issue 6: independent stages run in parallel; identical work in one build runs once.

mod common;

use std::time::Instant;

use common::Env;

#[test]
fn four_independent_sleeping_stages_build_in_parallel() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let mut dockerfile = String::new();
    for i in 0..4 {
        dockerfile.push_str(&format!(
            "FROM busybox:latest AS s{i}\nRUN sleep 2 && echo {i} > /out{i}\n\n"
        ));
    }
    dockerfile.push_str("FROM busybox:latest\n");
    for i in 0..4 {
        dockerfile.push_str(&format!("COPY --from=s{i} /out{i} /out{i}\n"));
    }
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    let started = Instant::now();
    env.build_ok(ctx.path(), "par:1", &["--jobs", "4"]);
    let wall = started.elapsed();
    assert!(
        wall.as_secs_f64() < 5.0,
        "4 × sleep 2 took {wall:?}: stages did not run in parallel"
    );
    let rootfs = env.umoci_unpack("par:1").join("rootfs");
    for i in 0..4 {
        let body = std::fs::read_to_string(rootfs.join(format!("out{i}"))).unwrap();
        assert_eq!(body, format!("{i}\n"));
    }
}

#[test]
fn identical_steps_in_one_build_run_once() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let dockerfile = "FROM busybox:latest AS a\nRUN echo ran-once-marker | tee /m\n\n\
                      FROM busybox:latest AS b\nRUN echo ran-once-marker | tee /m\n\n\
                      FROM busybox:latest\nCOPY --from=a /m /a\nCOPY --from=b /m /b\n";
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    let log = env.build_ok(ctx.path(), "dedup:1", &[]);
    // Output lines look like "#N 0.012 ran-once-marker"; headers carry the whole instruction.
    let executions = log
        .lines()
        .filter(|l| l.ends_with(" ran-once-marker"))
        .count();
    assert_eq!(
        executions, 1,
        "identical RUN executed {executions} times:\n{log}"
    );
    let rootfs = env.umoci_unpack("dedup:1").join("rootfs");
    assert!(rootfs.join("a").exists() && rootfs.join("b").exists());
}
