//! Helpers of the build-context tests: files, the plain log's cache misses, a shell, and a
//! tiny HTTP server for ADD of URLs and git repositories.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::{text, Env};

pub fn write(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
}

pub fn rootfs(env: &Env, tag: &str) -> PathBuf {
    env.umoci_unpack(tag).join("rootfs")
}

/// `#N cache miss: <reason>` lines of a plain log, with the step header they belong to.
pub fn misses(log: &str) -> Vec<(String, String)> {
    let mut headers = std::collections::HashMap::new();
    let mut out = Vec::new();
    for line in log.lines() {
        let Some((n, rest)) = line.split_once(' ') else {
            continue;
        };
        if let Some(reason) = rest.strip_prefix("cache miss: ") {
            let header = headers.get(n).cloned().unwrap_or_default();
            out.push((header, reason.to_string()));
        } else if rest.starts_with('[') {
            headers.insert(n.to_string(), rest.to_string());
        }
    }
    out
}

pub fn sh(cmd: &str, dir: &Path) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{cmd}: {}", text(&out));
}

/// A tiny HTTP/1.0 file server on 127.0.0.1 serving `dir`; returns its base URL.
pub fn serve(dir: PathBuf) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for conn in listener.incoming().flatten() {
            let mut reader = BufReader::new(conn.try_clone().unwrap());
            let mut line = String::new();
            let _ = reader.read_line(&mut line);
            loop {
                let mut h = String::new();
                if reader.read_line(&mut h).unwrap_or(0) == 0 || h == "\r\n" {
                    break;
                }
            }
            let path = line
                .split_whitespace()
                .nth(1)
                .unwrap_or("/")
                .split('?')
                .next()
                .unwrap()
                .to_string();
            let mut conn = conn;
            match std::fs::read(dir.join(path.trim_start_matches('/'))) {
                Ok(body) => {
                    let head = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\nLast-Modified: Sun, 06 Nov 1994 08:49:37 GMT\r\nConnection: close\r\n\r\n", body.len());
                    let _ = conn.write_all(head.as_bytes());
                    let _ = conn.write_all(&body);
                }
                Err(_) => {
                    let _ = conn.write_all(
                        b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                    );
                }
            }
        }
    });
    format!("http://{addr}")
}
