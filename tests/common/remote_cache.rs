//! Helpers of the remote-cache tests (issue 15): how many steps a build ran, and fresh
//! stores standing for ephemeral CI runners.

use super::{text, Env};

/// `(cached, run)` from the build's last line, `… (N steps cached, M run)`.
pub fn counts(log: &str) -> (usize, usize) {
    let line = log
        .lines()
        .rev()
        .find(|l| l.contains("steps cached,"))
        .unwrap_or_else(|| panic!("no summary line in:\n{log}"));
    let tail = &line[line.rfind('(').unwrap() + 1..];
    let nums: Vec<usize> = tail
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty())
        .map(|s| s.parse().unwrap())
        .collect();
    (nums[0], nums[1])
}

/// A fresh store (an ephemeral runner) holding the very busybox image of `first` (real
/// runners pull their base by digest; an import of the same tarball would make another one).
pub fn runner_like(first: &Env) -> Env {
    let runner = Env::empty();
    let archive = runner.root.path().join("busybox-image.tar");
    let archive = archive.to_str().unwrap();
    let out = first.rbuild(&["save", "-o", archive, "busybox:latest"]);
    assert!(out.status.success(), "save: {}", text(&out));
    let out = runner.rbuild(&["load", "-i", archive]);
    assert!(out.status.success(), "load: {}", text(&out));
    runner
}
