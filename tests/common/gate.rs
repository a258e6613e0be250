//! A gate on 127.0.0.1 that RUN steps call (`wget http://127.0.0.1:PORT/NAME`): each request
//! is held open until the test releases its name. The test sees who arrived and when it let
//! them go, so it can prove which steps were inside at the same time without any timing.

use std::collections::HashSet;
use std::io::{BufRead, BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct State {
    arrived: Vec<String>,
    released: HashSet<String>,
    open: bool,
}

type Shared = Arc<(Mutex<State>, Condvar)>;

/// The gate; dropping it releases every caller, so no build is left hanging.
pub struct Gate {
    port: u16,
    shared: Shared,
}

impl Gate {
    /// Starts listening on a free port of 127.0.0.1.
    pub fn start() -> Gate {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared: Shared = Arc::default();
        let s = shared.clone();
        std::thread::spawn(move || {
            for conn in listener.incoming().flatten() {
                let s = s.clone();
                std::thread::spawn(move || serve(conn, &s));
            }
        });
        Gate { port, shared }
    }

    /// The URL a step calls to pass the gate as `name`.
    pub fn url(&self, name: &str) -> String {
        format!("http://127.0.0.1:{}/{name}", self.port)
    }

    /// The names that arrived so far, in order.
    pub fn arrived(&self) -> Vec<String> {
        self.shared.0.lock().unwrap().arrived.clone()
    }

    /// Waits until `done` holds for the arrivals or `limit` passes; returns whether it held.
    pub fn wait_for(&self, limit: Duration, done: impl Fn(&[String]) -> bool) -> bool {
        let (lock, cond) = &*self.shared;
        let start = Instant::now();
        let mut st = lock.lock().unwrap();
        while !done(&st.arrived) {
            let Some(left) = limit.checked_sub(start.elapsed()) else {
                return false;
            };
            st = cond
                .wait_timeout(st, left.min(Duration::from_millis(200)))
                .unwrap()
                .0;
        }
        true
    }

    /// Lets the caller `name` through (now or whenever it arrives).
    pub fn release(&self, name: &str) {
        let (lock, cond) = &*self.shared;
        lock.lock().unwrap().released.insert(name.to_string());
        cond.notify_all();
    }
}

impl Drop for Gate {
    fn drop(&mut self) {
        let (lock, cond) = &*self.shared;
        lock.lock().unwrap().open = true;
        cond.notify_all();
    }
}

fn serve(mut conn: TcpStream, shared: &Shared) {
    let mut line = String::new();
    let _ = BufReader::new(&conn).read_line(&mut line);
    // "GET /NAME HTTP/1.1"
    let name = line
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .trim_start_matches('/')
        .to_string();
    let (lock, cond) = &**shared;
    let mut st = lock.lock().unwrap();
    st.arrived.push(name.clone());
    cond.notify_all();
    while !st.open && !st.released.contains(&name) {
        st = cond.wait(st).unwrap();
    }
    drop(st);
    let body = format!("passed {name}\n");
    let head = format!("HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n", body.len());
    let _ = conn.write_all(head.as_bytes());
    let _ = conn.write_all(body.as_bytes());
}
