//! The build context end to end: .dockerignore and cache exactness (what a change in the
//! context, an ARG or an ENV invalidates). COPY/ADD flags are in e2e_context_copy.rs, URLs,
//! git and named contexts in e2e_context_remote.rs.

mod common;

use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::context::{misses, rootfs, sh, write};
use common::{text, Env};

#[test]
fn dockerignore_excludes_with_exceptions_and_dockerfile_specific_file_wins() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    write(&c.join("docs/keep.md"), "keep\n");
    write(&c.join("docs/other.md"), "other\n");
    write(&c.join("docs/sub/deep.md"), "deep\n");
    write(&c.join("build/out.o"), "obj\n");
    write(&c.join("debug.log"), "log\n");
    write(&c.join("src/main.rs"), "fn main() {}\n");
    write(
        &c.join(".dockerignore"),
        "# comment\n/docs\n!docs/keep.md\n./build/\n**/*.log\nDockerfile\n.dockerignore\n",
    );
    write(&c.join("Dockerfile"), "FROM busybox:latest\nCOPY . /app/\n");
    env.build_ok(c, "ign:1", &[]);
    let root = rootfs(&env, "ign:1");
    let app = root.join("app");
    assert_eq!(
        std::fs::read_to_string(app.join("docs/keep.md")).unwrap(),
        "keep\n"
    );
    for gone in [
        "docs/other.md",
        "docs/sub",
        "build",
        "debug.log",
        "Dockerfile",
        ".dockerignore",
    ] {
        assert!(!app.join(gone).exists(), "{gone} should be excluded");
    }
    assert!(app.join("src/main.rs").exists());
    // A Dockerfile-specific ignore file takes precedence over the context's.
    write(
        &c.join("ci/app.Dockerfile"),
        "FROM busybox:latest\nCOPY . /app/\n",
    );
    write(&c.join("ci/app.Dockerfile.dockerignore"), "src\n");
    let df = c.join("ci/app.Dockerfile");
    env.build_ok(c, "ign:2", &["-f", df.to_str().unwrap()]);
    let app = rootfs(&env, "ign:2").join("app");
    assert!(!app.join("src").exists());
    assert!(app.join("docs/other.md").exists() && app.join("debug.log").exists());
}

#[test]
fn bad_ignore_pattern_fails_naming_it() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    write(&ctx.path().join(".dockerignore"), "ok\nsrc/[a-\n");
    write(
        &ctx.path().join("Dockerfile"),
        "FROM busybox:latest\nCOPY . /app/\n",
    );
    let log = env.build_fails(ctx.path(), "bad:1", &[]);
    assert!(
        log.contains("src/[a-") && log.contains(".dockerignore"),
        "{log}"
    );
    let out = env.rbuild(&["debug", "ignore", "--pattern", "x[", "a"]);
    assert!(
        !out.status.success() && text(&out).contains("\"x[\""),
        "{}",
        text(&out)
    );
}

#[test]
fn debug_ignore_prints_each_decision() {
    let env = Env::new();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("ignore");
    write(&file, "docs\n!docs/keep.md\n*.log\n");
    let out = env.rbuild(&[
        "debug",
        "ignore",
        "--file",
        file.to_str().unwrap(),
        "docs/keep.md",
        "docs/x",
        "a.log",
        "d/a.log",
    ]);
    assert!(out.status.success(), "{}", text(&out));
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout,
        "docs/keep.md\tincluded\ndocs/x\texcluded\na.log\texcluded\nd/a.log\tincluded\n"
    );
    let out = env.rbuild(&[
        "debug",
        "ignore",
        "--pattern",
        "**/*.go",
        "--pattern",
        "!main.go",
        "main.go",
        "x/y.go",
    ]);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "main.go\tincluded\nx/y.go\texcluded\n"
    );
}

/// Waits until the stat cache of a build starting now would remember `path`: it keeps only
/// files whose change is 50 ms older than the build's start, taken in whole seconds.
fn wait_until_settled(path: &Path) {
    let m = std::fs::metadata(path).unwrap();
    let changed = m.ctime() as i128 * 1_000_000_000 + m.ctime_nsec() as i128;
    loop {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap();
        if now.as_secs() as i128 * 1_000_000_000 - 50_000_000 > changed {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// The digest the stat cache of `context` remembers for the file at `path` as it is now.
fn remembered(env: &Env, context: &Path, path: &Path) -> Option<[u8; 32]> {
    use rbuild_context::{hashcache::NAMESPACE, statkey};
    let store = rbuild_store::Store::open(&env.store()).unwrap();
    let dir = std::fs::canonicalize(context).unwrap();
    let record = store
        .kv_get(NAMESPACE, &format!("v2:{}", dir.display()))
        .unwrap()?;
    let key = statkey::StatKey::of(&std::fs::metadata(path).unwrap());
    statkey::Known::new(record).get(&key)
}

#[test]
fn content_change_with_mtime_reset_never_hits_a_stale_entry() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let f = ctx.path().join("data.txt");
    write(&f, "version-1\n");
    sh("touch -d '2020-01-01 00:00:00' data.txt", ctx.path());
    write(
        &ctx.path().join("Dockerfile"),
        "FROM busybox:latest\nCOPY data.txt /data.txt\nRUN cat /data.txt\n",
    );
    // The file must be old enough for its digest to be remembered: the attack below is
    // only an attack on a remembered entry.
    wait_until_settled(&f);
    let first = env.build_ok(ctx.path(), "st:1", &[]);
    assert!(first.contains("version-1"), "{first}");
    assert!(
        remembered(&env, ctx.path(), &f).is_some(),
        "the stat cache did not remember data.txt: the test would not reach its lookup"
    );
    let again = env.build_ok(ctx.path(), "st:1", &[]);
    assert!(misses(&again).is_empty(), "{again}");
    let before = std::fs::metadata(&f).unwrap();
    write(&f, "version-2\n");
    sh("touch -d '2020-01-01 00:00:00' data.txt", ctx.path());
    let after = std::fs::metadata(&f).unwrap();
    // Size, mtime and inode as before: only ctime tells the versions apart.
    assert_eq!(
        (
            before.size(),
            before.mtime(),
            before.mtime_nsec(),
            before.ino()
        ),
        (after.size(), after.mtime(), after.mtime_nsec(), after.ino())
    );
    assert_ne!(
        (before.ctime(), before.ctime_nsec()),
        (after.ctime(), after.ctime_nsec())
    );
    let second = env.build_ok(ctx.path(), "st:1", &[]);
    let m = misses(&second);
    assert!(
        m.iter()
            .any(|(h, r)| h.contains("COPY data.txt") && r.contains("file:data.txt")),
        "{second}"
    );
    assert!(second.contains("version-2"), "stale content:\n{second}");
}

#[test]
fn build_arg_change_misses_the_run_that_uses_it_and_what_follows() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    write(&ctx.path().join("a.txt"), "a\n");
    write(&ctx.path().join("unused.txt"), "u\n");
    write(&ctx.path().join("ignored.txt"), "i\n");
    write(&ctx.path().join(".dockerignore"), "ignored.txt\n");
    let df = "FROM busybox:latest\nCOPY a.txt /a.txt\nCOPY . /all/\nRUN echo before\nARG V=1\nRUN echo v=$V\nRUN echo after\n";
    write(&ctx.path().join("Dockerfile"), df);
    env.build_ok(ctx.path(), "arg:1", &[]);
    let log = env.build_ok(ctx.path(), "arg:1", &["--build-arg", "V=2"]);
    let m = misses(&log);
    assert_eq!(m.len(), 2, "{log}");
    assert!(
        m[0].0.contains("RUN echo v=$V") && m[0].1.contains("V"),
        "{m:?}"
    );
    assert!(
        m[1].0.contains("RUN echo after") && m[1].1.contains("parent"),
        "{m:?}"
    );
    // Files no step selects, or that are ignored, change nothing.
    write(&ctx.path().join("ignored.txt"), "changed\n");
    let log = env.build_ok(ctx.path(), "arg:1", &["--build-arg", "V=2"]);
    assert!(misses(&log).is_empty(), "{log}");
    write(
        &ctx.path().join("Dockerfile"),
        &df.replace("COPY . /all/", "COPY a.txt /all/"),
    );
    env.build_ok(ctx.path(), "arg:1", &["--build-arg", "V=2"]);
    write(&ctx.path().join("unused.txt"), "changed\n");
    let log = env.build_ok(ctx.path(), "arg:1", &["--build-arg", "V=2"]);
    assert!(misses(&log).is_empty(), "{log}");
}

#[test]
fn env_change_before_a_run_misses_it_and_names_the_variable() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    write(
        &ctx.path().join("Dockerfile"),
        "FROM busybox:latest\nRUN echo first\nENV MODE=one\nRUN echo $MODE\n",
    );
    env.build_ok(ctx.path(), "env:1", &[]);
    write(
        &ctx.path().join("Dockerfile"),
        "FROM busybox:latest\nRUN echo first\nENV MODE=two\nRUN echo $MODE\n",
    );
    let log = env.build_ok(ctx.path(), "env:1", &[]);
    let m = misses(&log);
    assert_eq!(m.len(), 1, "{log}");
    assert!(
        m[0].0.contains("RUN echo $MODE") && m[0].1.contains("MODE"),
        "{m:?}"
    );
}
