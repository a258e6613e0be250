//! `MountSpec::Secret`: the content is readable at the target with its mode and owner, lives on
//! a tmpfs only the run's namespace sees, and leaves nothing in the upper dir or on disk.

mod common;

use std::fs;

use common::{require_prereqs, run_ok, spec, tree, Scratch};
use rbuild_sandbox::{MountSpec, SecretBytes};

#[test]
fn secret_is_a_read_only_file_in_memory_only() {
    require_prereqs();
    let s = Scratch::new("secret");
    let value = "s3cr3t-value-for-the-sandbox-test";
    let mut sp = spec(
        &s,
        "cat /run/secrets/token; echo; stat -c '%a %u:%g' /run/secrets/token; \
         echo x > /run/secrets/token 2>/dev/null && echo WRITABLE; \
         grep -c ' /run/secrets/token ' /proc/self/mountinfo",
    );
    sp.extra_mounts = vec![MountSpec::Secret {
        target: "/run/secrets/token".into(),
        data: SecretBytes(value.as_bytes().to_vec()),
        mode: 0o400,
        uid: 1000,
        gid: 1001,
    }];
    assert!(
        !format!("{:?}", sp.extra_mounts).contains(value),
        "Debug shows the secret"
    );
    let out = run_ok(&sp);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], value, "{out}");
    assert_eq!(lines[1], "400 1000:1001", "{out}");
    assert!(!out.contains("WRITABLE"), "{out}");
    // The stubs made for the mount point are gone from the upper dir.
    let left = tree(&s.path("upper"));
    assert!(!left.iter().any(|p| p.contains("token")), "{left:?}");
    // Nothing of the run holds the value on disk.
    for entry in walk(&s.path(".")) {
        if let Ok(bytes) = fs::read(&entry) {
            let hit = bytes.windows(value.len()).any(|w| w == value.as_bytes());
            assert!(!hit, "{} holds the secret", entry.display());
        }
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in fs::read_dir(&d).into_iter().flatten().flatten() {
            let t = e.file_type().unwrap();
            if t.is_dir() {
                todo.push(e.path());
            } else if t.is_file() {
                out.push(e.path());
            }
        }
    }
    out
}
