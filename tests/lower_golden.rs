//! The golden lowering suite: `testdata/lower/<case>/` holds a `Dockerfile`, optional `args`
//! (extra `rbuild debug plan` arguments, one a line; `$CASE` is the case's directory) and an
//! optional `context/` directory (the build context; other directories may serve as named
//! contexts); the
//! plan `rbuild debug plan` prints for it must equal `<case>/plan`, byte for byte. Needs no
//! root: nothing runs, and the store is a temporary directory.
//!
//! `UPDATE_GOLDEN=1 cargo test --test lower_golden` rewrites the `plan` files; review the diff.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Every case directory, sorted.
fn cases() -> Vec<PathBuf> {
    let root = common::project().join("testdata/lower");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&root)
        .unwrap_or_else(|e| panic!("{}: {e}", root.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Dockerfile").is_file())
        .collect();
    cases.sort();
    cases
}

/// Copies `from` into `to` with modes fixed (0644 files, 0755 dirs), so the keys do not
/// depend on the umask of whoever checked the repository out.
fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o755)).unwrap();
    let Ok(entries) = std::fs::read_dir(from) else {
        return;
    };
    for e in entries {
        let e = e.unwrap();
        let target = to.join(e.file_name());
        if e.file_type().unwrap().is_dir() {
            copy_tree(&e.path(), &target);
        } else {
            std::fs::copy(e.path(), &target).unwrap();
            std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o644)).unwrap();
        }
    }
}

/// What `rbuild debug plan` prints for a case (its error, when it fails), with the
/// temporary directory's path replaced by `$CASE`.
fn plan_of(case: &Path) -> String {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("case");
    copy_tree(case, &dir);
    std::fs::create_dir_all(dir.join("context")).unwrap();
    let args = std::fs::read_to_string(case.join("args")).unwrap_or_default();
    let args = args.replace("$CASE", dir.to_str().unwrap());
    let out = Command::new(env!("CARGO_BIN_EXE_rbuild"))
        .arg("--root")
        .arg(tmp.path().join("store"))
        .args(["debug", "plan", "--build-platform", "linux/amd64", "-f"])
        .arg(dir.join("Dockerfile"))
        .args(args.lines().map(str::trim).filter(|l| !l.is_empty()))
        .arg(dir.join("context"))
        .env_remove("RBUILD_ROOT")
        .output()
        .unwrap();
    let text = if out.status.success() {
        String::from_utf8_lossy(&out.stdout).to_string()
    } else {
        format!(
            "exit {:?}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stderr)
        )
    };
    text.replace(dir.to_str().unwrap(), "$CASE")
}

#[test]
fn lowering_matches_the_golden_plans() {
    let cases = cases();
    assert!(cases.len() >= 25, "only {} golden cases", cases.len());
    let update = std::env::var_os("UPDATE_GOLDEN").is_some();
    let mut failed = Vec::new();
    for case in &cases {
        let got = plan_of(case);
        let golden = case.join("plan");
        if update {
            std::fs::write(&golden, &got).unwrap();
            continue;
        }
        let want = std::fs::read_to_string(&golden)
            .unwrap_or_else(|e| panic!("{}: {e} (UPDATE_GOLDEN=1 writes it)", golden.display()));
        if got != want {
            eprintln!("--- {} ---\n{got}", case.display());
            failed.push(case.file_name().unwrap().to_string_lossy().to_string());
        }
    }
    assert!(failed.is_empty(), "plans differ from golden: {failed:?}");
}
