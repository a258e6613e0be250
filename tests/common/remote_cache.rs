//! Helpers of the remote-cache tests (issue 15): how many steps a build ran (fresh stores
//! standing for ephemeral runners are `Env::with_base_of`).

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

/// `rbuild build` on `env`'s store with a `-t` per tag; the log (the build must succeed).
pub fn build_in(env: &super::Env, ctx: &std::path::Path, tags: &[&str], extra: &[&str]) -> String {
    super::registry::build(&env.store(), &env.docker_config(), ctx, tags, extra)
}

/// Asserts that `rbuild store check` finds `env`'s store whole.
pub fn assert_store_whole(env: &super::Env) {
    let check = super::registry::run(&env.store(), &env.docker_config(), &["store", "check"]);
    assert!(check.status.success(), "{}", super::text(&check));
}
