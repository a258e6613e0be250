//! F4: a RUN must not share the invoking session's kernel keyring.

mod common;
use common::*;
use std::ffi::CString;
use std::path::Path;

/// `search DESC`: looks the key up in the session keyring; `read ID`: reads a key by serial.
const PROBE_C: &str = r#"
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <unistd.h>
#include <sys/syscall.h>
#include <linux/keyctl.h>
int main(int argc, char **argv) {
    char buf[256];
    long session = syscall(SYS_keyctl, KEYCTL_GET_KEYRING_ID, KEY_SPEC_SESSION_KEYRING, 0);
    printf("SESSION %ld\n", session);
    long id = syscall(SYS_keyctl, KEYCTL_SEARCH, KEY_SPEC_SESSION_KEYRING, "user", argv[1], 0);
    if (id < 0) printf("NO-KEY %s\n", strerror(errno)); else printf("FOUND %ld\n", id);
    long n = syscall(SYS_keyctl, KEYCTL_READ, atol(argv[2]), buf, sizeof(buf) - 1);
    if (n < 0) { printf("NO-READ %s\n", strerror(errno)); return 0; }
    buf[n < (long)sizeof(buf) ? n : (long)sizeof(buf) - 1] = 0;
    printf("READ %s\n", buf);
    return 0;
}
"#;

fn compile_probe(s: &Scratch) -> std::path::PathBuf {
    assert!(
        Path::new("/usr/bin/gcc").exists(),
        "gcc is missing (needed to build the keyring probe)"
    );
    let src = s.path("probe.c");
    std::fs::write(&src, PROBE_C).unwrap();
    let layer = s.path("probe-layer");
    std::fs::create_dir_all(layer.join("bin")).unwrap();
    let out = std::process::Command::new("gcc")
        .args(["-static", "-O1", "-o"])
        .arg(layer.join("bin/keyprobe"))
        .arg(&src)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "gcc -static failed (linux-libc-dev and libc6-dev needed): {}",
        String::from_utf8_lossy(&out.stderr)
    );
    layer
}

/// Gives this thread (credentials are per thread) a fresh session keyring holding one key.
fn add_session_key(desc: &str, value: &str) -> i64 {
    let name = CString::new("rbuild-f4-test").unwrap();
    // SAFETY: keyctl(KEYCTL_JOIN_SESSION_KEYRING=1, name) with a valid string.
    let ring = unsafe { libc::syscall(libc::SYS_keyctl, 1, name.as_ptr()) };
    assert!(ring > 0, "keyctl join: {}", std::io::Error::last_os_error());
    let (ty, d) = (CString::new("user").unwrap(), CString::new(desc).unwrap());
    // SAFETY: add_key with valid strings and a payload pointer/length pair; -3 is the session keyring.
    let id = unsafe {
        libc::syscall(
            libc::SYS_add_key,
            ty.as_ptr(),
            d.as_ptr(),
            value.as_ptr(),
            value.len(),
            -3 as libc::c_long,
        )
    };
    assert!(id > 0, "add_key: {}", std::io::Error::last_os_error());
    id
}

#[test]
fn f4_run_gets_its_own_session_keyring() {
    require_prereqs();
    let s = Scratch::new("f4-keyring");
    let layer = compile_probe(&s);
    let desc = format!("rbuild-f4-canary-{}", std::process::id());
    let id = add_session_key(&desc, "HOSTKEY-F4");
    // Control: a child of this thread shares the session and finds and reads the key.
    let control = std::process::Command::new(layer.join("bin/keyprobe"))
        .args([&desc, &id.to_string()])
        .output()
        .unwrap();
    let control = String::from_utf8_lossy(&control.stdout).into_owned();
    assert!(
        control.contains(&format!("FOUND {id}")) && control.contains("READ HOSTKEY-F4"),
        "control: {control}"
    );
    let mut sp = spec(&s, "");
    // The keyring itself must be private; the default seccomp filter (keyctl refused) would
    // hide whether it is.
    sp.seccomp = rbuild_sandbox::SeccompMode::Unconfined;
    sp.lowers.insert(0, layer);
    sp.argv = vec!["/bin/keyprobe".into(), desc.clone(), id.to_string()];
    let out = run_ok(&sp);
    assert!(
        !out.contains("HOSTKEY-F4"),
        "RUN read the caller's key: {out}"
    );
    assert!(out.contains("NO-KEY") && out.contains("NO-READ"), "{out}");
    let session = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("SESSION "))
            .map(String::from)
    };
    assert_ne!(
        session(&out),
        session(&control),
        "RUN shares the session keyring"
    );
}
