//! The steps of a git checkout: fetching one commit into a repository of the remote's object
//! format, its submodules, and `?mtime=commit` dates.

use std::path::Path;

use rustix::fs::{utimensat, AtFlags, Timespec, Timestamps, CWD};

use crate::git::{is_commit, GitError, GitSource};

/// Runs one git command (in a directory); the clean environment is the caller's.
pub(crate) type Run<'a> = dyn Fn(&[&str], Option<&Path>) -> Result<String, GitError> + 'a;

/// Fetches `commit` of `src` into a new repository at `dir` and checks it out (detached, as
/// BuildKit does: a kept `.git/HEAD` holds the commit id). A 64-digit commit means a sha256
/// repository, which git can only fetch into one of the same object format.
pub(crate) fn fetch_and_checkout(
    src: &GitSource,
    commit: &str,
    dir: &Path,
    run: &Run<'_>,
) -> Result<(), GitError> {
    let d = dir.to_string_lossy().to_string();
    let format = if commit.len() == 64 { "sha256" } else { "sha1" };
    run(
        &[
            "-c",
            "init.defaultBranch=master",
            "init",
            "-q",
            &format!("--object-format={format}"),
            &d,
        ],
        None,
    )?;
    run(&["remote", "add", "origin", &src.url], Some(dir))?;
    let wanted = match src.reference.as_deref() {
        _ if src.fetch_by_commit => commit,
        Some(r) => r,
        None => "HEAD",
    };
    // Dumb HTTP remotes cannot fetch shallow; servers may refuse an unadvertised commit.
    let attempts: [&[&str]; 3] = [
        &["fetch", "-q", "--depth", "1", "origin", wanted],
        &["fetch", "-q", "--tags", "origin", wanted],
        &[
            "fetch",
            "-q",
            "--tags",
            "origin",
            "+refs/heads/*:refs/remotes/origin/*",
        ],
    ];
    let mut result = Ok(String::new());
    for (i, args) in attempts.iter().enumerate() {
        if i == 2 && !is_commit(wanted) {
            break;
        }
        result = run(args, Some(dir));
        if result.is_ok() {
            break;
        }
    }
    result?;
    run(&["checkout", "-q", "--detach", commit], Some(dir))?;
    Ok(())
}

/// Checks the submodules out, recursively (shallow when the remote allows it).
pub(crate) fn submodules(dir: &Path, run: &Run<'_>) -> Result<(), GitError> {
    let args = ["submodule", "update", "--init", "--recursive"];
    let shallow = [&args[..], &["--depth=1"]].concat();
    if run(&shallow, Some(dir)).is_ok() {
        return Ok(());
    }
    run(&args, Some(dir)).map(|_| ())
}

/// Dates every entry under `dir` (links themselves, not their targets) `secs`.
pub(crate) fn set_mtimes(dir: &Path, secs: i64) -> std::io::Result<()> {
    let t = Timespec {
        tv_sec: secs,
        tv_nsec: 0,
    };
    let times = Timestamps {
        last_access: t,
        last_modification: t,
    };
    let mut stack = vec![dir.to_path_buf()];
    while let Some(p) = stack.pop() {
        let meta = std::fs::symlink_metadata(&p)?;
        if meta.is_dir() {
            for e in std::fs::read_dir(&p)? {
                stack.push(e?.path());
            }
        }
        utimensat(CWD, &p, &times, AtFlags::SYMLINK_NOFOLLOW).map_err(std::io::Error::from)?;
    }
    Ok(())
}
