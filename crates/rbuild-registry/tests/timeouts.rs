//! F9 (issue 12): a registry that goes silent must not hang a pull or a push, and a slow but
//! moving transfer must not be cut. Silent and stalling servers are plain TCP listeners on
//! 127.0.0.1; stalls and trickles mid-blob come from the fault proxy in front of a registry.

mod common;

use std::time::{Duration, Instant};

use common::image::{assert_same_blobs, make_image};
use common::proxy::{Fault, Faults, Proxy, ProxyOptions, SlowRead};
use common::registry::Registry;
use common::{amd64, reference};
use rbuild_registry::{PullEvent, RegistryError, Timeouts};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A server that accepts connections and never says a word; returns its address.
async fn silent_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            held.push(sock);
        }
    });
    addr
}

/// A server that answers every request with a head promising 1000 bytes, sends 10 of them,
/// then nothing more while keeping the connection open.
async fn stalling_server() -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        while let Ok((sock, _)) = listener.accept().await {
            tokio::spawn(stall(sock));
        }
    });
    addr
}

async fn stall(mut sock: TcpStream) {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    while !seen.windows(4).any(|w| w == b"\r\n\r\n") {
        match sock.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => seen.extend_from_slice(&buf[..n]),
        }
    }
    let head = "HTTP/1.1 200 OK\r\ncontent-type: application/vnd.oci.image.manifest.v1+json\r\n\
                content-length: 1000\r\n\r\n{\"schemaVe";
    let _ = sock.write_all(head.as_bytes()).await;
    tokio::time::sleep(Duration::from_secs(3600)).await;
}

/// A listener whose accept queue is full and never drained, so connecting to it hangs (SYNs
/// are dropped); returns its address and what must be kept alive.
async fn unconnectable_server() -> (String, Vec<tokio::net::TcpStream>, tokio::net::TcpListener) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let listener = socket.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let mut fillers = Vec::new();
    for _ in 0..4 {
        let connect = TcpStream::connect(&addr);
        if let Ok(Ok(s)) = tokio::time::timeout(Duration::from_millis(200), connect).await {
            fillers.push(s);
        }
    }
    (addr, fillers, listener)
}

fn assert_timed_out(err: &RegistryError, host: &str, connecting: bool) {
    assert!(
        matches!(err, RegistryError::TimedOut { host: h, connecting: c, .. } if h == host && *c == connecting),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(text.contains(host) && text.contains("timed out"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f9_pull_from_a_silent_server_times_out() {
    let addr = silent_server().await;
    let (_cfg, client) = common::client_with_timeouts(common::short_timeouts(), 2);
    let (client, events) = common::recording(&client);
    let (_d, dst) = common::store();
    let started = Instant::now();
    let err = client
        .pull(&dst, &reference(format!("{addr}/x:1")), &amd64())
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_timed_out(&err, &addr, false);
    // Two attempts of connect (200 ms) + idle (300 ms) allowance each, then give up.
    assert!(took >= Duration::from_millis(900), "{took:?}");
    assert!(took < Duration::from_secs(4), "{took:?}");
    let events = events.lock().unwrap();
    let retries: Vec<_> = events
        .iter()
        .filter(|e| matches!(e, PullEvent::Retrying { attempt: 2, reason, .. } if reason.contains("timed out: no data for 300ms")))
        .collect();
    assert_eq!(retries.len(), 1, "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f9_pull_from_a_host_that_never_completes_the_connection_times_out() {
    let (addr, _fillers, _listener) = unconnectable_server().await;
    let (_cfg, client) = common::client_with_timeouts(common::short_timeouts(), 6);
    let (client, events) = common::recording(&client);
    let (_d, dst) = common::store();
    let started = Instant::now();
    let err = client
        .pull(&dst, &reference(format!("{addr}/x:1")), &amd64())
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_timed_out(&err, &addr, true);
    // Three connect attempts of 200 ms, not the policy's six: an unreachable host fails fast.
    assert!(took >= Duration::from_millis(600), "{took:?}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    let events = events.lock().unwrap();
    let retrying = |e: &&PullEvent| matches!(e, PullEvent::Retrying { .. });
    assert_eq!(events.iter().filter(retrying).count(), 2, "{events:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f9_pull_from_a_server_stalling_mid_body_times_out() {
    let addr = stalling_server().await;
    let (_cfg, client) = common::client_with_timeouts(common::short_timeouts(), 2);
    let (_d, dst) = common::store();
    let started = Instant::now();
    let err = client
        .pull(&dst, &reference(format!("{addr}/x:1")), &amd64())
        .await
        .unwrap_err();
    let took = started.elapsed();
    assert_timed_out(&err, &addr, false);
    assert!(took >= Duration::from_millis(600), "{took:?}");
    assert!(took < Duration::from_secs(4), "{took:?}");
}

/// A registry with one image of `sizes` pushed as `repo:1`; returns the manifest too.
async fn registry_with_image(
    repo: &str,
    seed: u64,
    sizes: &[usize],
) -> (
    Registry,
    rbuild_store::Store,
    tempfile::TempDir,
    rbuild_oci::Descriptor,
) {
    let reg = Registry::start();
    let (_cfg, client) = common::anonymous_client();
    let (dir, src) = common::store();
    let m = make_image(&src, seed, sizes, "amd64");
    let target = reference(format!("{}/{repo}:1", reg.addr));
    common::push(&client, &src, &m, &target).await.unwrap();
    (reg, src, dir, m)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f9_blob_stalled_mid_body_resumes_after_the_idle_timeout() {
    let (reg, src, _dir, m) = registry_with_image("stall/app", 21, &[600_000, 90_000]).await;
    let faults = Faults {
        every: 2,
        kinds: vec![Fault::Stall],
        only: Some("GET /v2/stall/app/blobs/"),
    };
    let proxy = common::faulty_proxy(&reg.addr, faults).await;
    let (_cfg, client) = common::client_with_timeouts(common::short_timeouts(), 4);
    let (_d, dst) = common::store();
    let target = reference(format!("{}/stall/app:1", proxy.addr));
    let img = client.pull(&dst, &target, &amd64()).await.unwrap();
    assert_eq!(img.manifest.digest, m.digest);
    assert_same_blobs(&src, &dst, &m);
    assert!(proxy.faults() >= 1, "no stall injected");
    let log = proxy.log();
    assert!(log.iter().any(|l| l.contains("range=bytes=")), "{log:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f9_slow_but_moving_download_is_not_cut() {
    let (reg, src, _dir, m) = registry_with_image("slow/app", 22, &[400_000]).await;
    let faults = Faults {
        every: 1,
        kinds: vec![Fault::Trickle {
            pieces: 8,
            gap_ms: 100,
        }],
        only: Some("GET /v2/slow/app/blobs/"),
    };
    let proxy = common::faulty_proxy(&reg.addr, faults).await;
    let (_cfg, client) = common::client_with_timeouts(common::short_timeouts(), 1);
    let (client, events) = common::recording(&client);
    let (_d, dst) = common::store();
    let started = Instant::now();
    let target = reference(format!("{}/slow/app:1", proxy.addr));
    let img = client.pull(&dst, &target, &amd64()).await.unwrap();
    // Each blob took ~700 ms, twice the 300 ms idle timeout, and nothing was retried.
    let took = started.elapsed();
    assert!(took >= Duration::from_millis(600), "{took:?}");
    assert_eq!(img.manifest.digest, m.digest);
    assert_same_blobs(&src, &dst, &m);
    let events = events.lock().unwrap();
    assert!(
        !events
            .iter()
            .any(|e| matches!(e, PullEvent::Retrying { .. })),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn f9_slow_but_moving_upload_is_not_cut() {
    let reg = Registry::start();
    let slow = SlowRead {
        bytes: 128 << 10,
        gap_ms: 20,
    };
    let opts = ProxyOptions {
        slow_read: Some(slow),
        ..Default::default()
    };
    let proxy = Proxy::start(&reg.addr, opts).await;
    let timeouts = Timeouts {
        connect: Duration::from_millis(200),
        idle: Duration::from_secs(1),
    };
    let (_cfg, client) = common::client_with_timeouts(timeouts, 1);
    let client = client.with_chunk_size(64 << 20);
    let (_d, src) = common::store();
    let m = make_image(&src, 23, &[16 << 20], "amd64");
    let target = reference(format!("{}/slowup/app:1", proxy.addr));
    let started = Instant::now();
    // One PUT of 16 MiB read at ~6 MB/s: longer than connect + idle, but always moving.
    let pushed = common::push(&client, &src, &m, &target).await.unwrap();
    assert_eq!(pushed, m.digest);
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "upload was not slowed"
    );
}
