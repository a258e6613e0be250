//! Issue 6: independent stages run in parallel; identical work in one build runs once.

mod common;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use common::Env;

/// Answers requests only once `n` are open at the same time ("met"), or after `limit` with
/// "alone": what the callers get proves whether they ran at once, with no timing involved.
fn rendezvous(n: usize, limit: Duration) -> (u16, std::thread::JoinHandle<bool>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    listener.set_nonblocking(true).unwrap();
    let handle = std::thread::spawn(move || {
        let start = Instant::now();
        let mut open: Vec<TcpStream> = Vec::new();
        while open.len() < n && start.elapsed() < limit {
            match listener.accept() {
                Ok((conn, _)) => open.push(conn),
                Err(_) => std::thread::sleep(Duration::from_millis(10)),
            }
        }
        let met = open.len() == n;
        let body = if met { "met\n" } else { "alone\n" };
        for mut conn in open {
            conn.set_nonblocking(false).unwrap();
            // The request itself is not needed, but reading it keeps the client from a reset.
            let mut buf = [0u8; 1024];
            let _ = conn.set_read_timeout(Some(Duration::from_secs(5)));
            let _ = conn.read(&mut buf);
            let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
            let _ = conn.write_all(head.as_bytes());
            let _ = conn.write_all(body.as_bytes());
        }
        met
    });
    (port, handle)
}

#[test]
fn four_independent_stages_build_in_parallel() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let (port, met) = rendezvous(4, Duration::from_secs(120));
    // --network=host: the private default network cannot reach this test's loopback.
    let mut dockerfile = String::new();
    for i in 0..4 {
        dockerfile.push_str(&format!(
            "FROM busybox:latest AS s{i}\nRUN --network=host wget -q -O /out{i} http://127.0.0.1:{port}/s{i}\n\n"
        ));
    }
    dockerfile.push_str("FROM busybox:latest\n");
    for i in 0..4 {
        dockerfile.push_str(&format!("COPY --from=s{i} /out{i} /out{i}\n"));
    }
    std::fs::write(ctx.path().join("Dockerfile"), dockerfile).unwrap();
    let log = env.build_ok(
        ctx.path(),
        "par:1",
        &["--jobs", "4", "--allow", "network.host"],
    );
    assert!(
        met.join().unwrap(),
        "the four stages never ran at once:\n{log}"
    );
    let rootfs = env.umoci_unpack("par:1").join("rootfs");
    for i in 0..4 {
        let body = std::fs::read_to_string(rootfs.join(format!("out{i}"))).unwrap();
        assert_eq!(body, "met\n", "stage {i}");
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
