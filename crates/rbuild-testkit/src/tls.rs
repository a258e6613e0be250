//! TLS fixtures: a throwaway CA and a server certificate for an address of this machine, made
//! with `openssl`, and that address (rbuild speaks plain HTTP to loopback, so a TLS test
//! needs another).

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::require_tool;

/// A CA and a server certificate it signed.
pub struct TestCerts {
    /// The CA certificate (PEM): what a client must trust.
    pub ca: PathBuf,
    /// The server's certificate (PEM).
    pub cert: PathBuf,
    /// The server's private key (PEM).
    pub key: PathBuf,
}

/// This machine's address on its default route (not loopback); panics naming what is missing.
pub fn host_address() -> String {
    let probe = std::net::UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.connect("203.0.113.1:9").map(|()| s))
        .and_then(|s| s.local_addr());
    match probe {
        Ok(a) if !a.ip().is_loopback() && !a.ip().is_unspecified() => a.ip().to_string(),
        other => panic!(
            "TLS tests need a non-loopback address of this machine (a default route): {other:?}"
        ),
    }
}

fn openssl(args: &[&str], dir: &Path) {
    let bin = require_tool("openssl", "openssl");
    let out = Command::new(bin)
        .args(args)
        .current_dir(dir)
        .output()
        .unwrap_or_else(|e| panic!("openssl {args:?}: {e}"));
    assert!(
        out.status.success(),
        "openssl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Makes, in `dir`, a CA named `name` and a certificate it signed for IP address `ip`.
pub fn make_certs(dir: &Path, name: &str, ip: &str) -> TestCerts {
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    let ca_subject = format!("/CN={name}");
    let mut ca_args = vec!["req", "-x509"];
    ca_args.extend(ec);
    ca_args.extend(["-keyout", "ca.key", "-out", "ca.crt", "-days", "2"]);
    ca_args.extend(["-subj", &ca_subject]);
    ca_args.extend(["-addext", "basicConstraints=critical,CA:TRUE"]);
    ca_args.extend(["-addext", "keyUsage=critical,keyCertSign,cRLSign"]);
    openssl(&ca_args, dir);
    let mut csr_args = vec!["req"];
    csr_args.extend(ec);
    csr_args.extend([
        "-keyout",
        "server.key",
        "-out",
        "server.csr",
        "-subj",
        "/CN=registry",
    ]);
    openssl(&csr_args, dir);
    let ext = format!(
        "subjectAltName=IP:{ip}\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature\n"
    );
    std::fs::write(dir.join("server.ext"), ext).unwrap();
    openssl(
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.crt",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-out",
            "server.crt",
            "-days",
            "2",
            "-extfile",
            "server.ext",
        ],
        dir,
    );
    TestCerts {
        ca: dir.join("ca.crt"),
        cert: dir.join("server.crt"),
        key: dir.join("server.key"),
    }
}
