//! Git sources end to end, over git's dumb HTTP protocol on 127.0.0.1: BuildKit's URL query
//! options on ADD (`?branch=`, `?submodules=false`, `?commit=`), ADD --checksum against the
//! commit, and a Git URL as the build context and as a named context, with
//! `SOURCE_DATE_EPOCH=context` taken from the commit (BuildKit's testGitQueryString,
//! testAddGitSHA1, testDockerfileFromGit, testSourceDateEpochContextGit).

mod common;

use std::path::Path;

use common::context::{rootfs, serve, sh, write};
use common::Env;

const GIT: &str = "git -c user.name=t -c user.email=t@e -c init.defaultBranch=main \
                   -c protocol.file.allow=always";

/// A repository served at `<base>/repo.git` with a submodule (`mod/`, from `<base>/sub.git`),
/// branch `main` (`f` = "two", `sub/f` = "in-sub"), branch `old` and tag `v1` (`f` = "one"),
/// all committed at 1700000000. Returns the base URL and the commit of `v1`.
fn served_repo(w: &Path) -> (String, String) {
    let dates = "GIT_AUTHOR_DATE=@1700000000 GIT_COMMITTER_DATE=@1700000000";
    write(&w.join("sub/x"), "in-submodule\n");
    sh(
        &format!("cd sub && {GIT} init -q && {GIT} add . && {dates} {GIT} commit -qm s"),
        w,
    );
    sh(
        "git clone -q --bare sub srv/sub.git && git -C srv/sub.git update-server-info",
        w,
    );
    write(&w.join("src/f"), "one\n");
    write(&w.join("src/Dockerfile"), "FROM scratch\nCOPY . /\n");
    write(&w.join("src/sub/f"), "in-sub\n");
    write(
        &w.join("src/sub/Dockerfile"),
        "FROM scratch\nCOPY f /from-sub\n",
    );
    sh(&format!("cd src && {GIT} init -q && {GIT} submodule add -q ../sub mod && git config -f .gitmodules submodule.mod.url ../sub.git && {GIT} add . && {dates} {GIT} commit -qm one && {GIT} tag v1 && {GIT} branch old"), w);
    write(&w.join("src/f"), "two\n");
    sh(&format!("cd src && {dates} {GIT} commit -qam two"), w);
    sh(
        "git clone -q --bare src srv/repo.git && git -C srv/repo.git update-server-info",
        w,
    );
    let out = std::process::Command::new("git")
        .args(["-C", "src", "rev-parse", "v1"])
        .current_dir(w)
        .output()
        .unwrap();
    let v1 = String::from_utf8_lossy(&out.stdout).trim().to_string();
    (serve(w.join("srv")), v1)
}

fn read(root: &Path, p: &str) -> String {
    std::fs::read_to_string(root.join(p)).unwrap_or_else(|e| panic!("{p}: {e}"))
}

#[test]
fn add_reads_query_options_and_checks_the_commit() {
    let env = Env::new();
    let work = tempfile::tempdir().unwrap();
    let (base, v1) = served_repo(work.path());
    let ctx = tempfile::tempdir().unwrap();
    let df = format!(
        "FROM scratch\nADD {base}/repo.git?branch=old /old/\nADD {base}/repo.git /main/\n\
         ADD {base}/repo.git?submodules=false&subdir=/ /nosub/\n\
         ADD --checksum={v1} {base}/repo.git#v1:sub /pinned/\n\
         ADD {base}/repo.git?mtime=commit /dated/\n"
    );
    write(&ctx.path().join("Dockerfile"), &df);
    env.build_ok(ctx.path(), "gitq:1", &[]);
    let root = rootfs(&env, "gitq:1");
    assert_eq!(read(&root, "old/f"), "one\n");
    assert_eq!(read(&root, "main/f"), "two\n");
    assert_eq!(
        read(&root, "main/mod/x"),
        "in-submodule\n",
        "submodules by default"
    );
    assert!(!root.join("nosub/mod/x").exists(), "?submodules=false");
    assert_eq!(read(&root, "pinned/f"), "in-sub\n");
    let mtime = |p: &str| {
        use std::os::unix::fs::MetadataExt;
        std::fs::symlink_metadata(root.join(p)).unwrap().mtime()
    };
    assert_eq!(mtime("dated/f"), 1_700_000_000, "?mtime=commit");
    assert_ne!(mtime("main/f"), 1_700_000_000, "checkout time by default");
    let cases = [
        (
            format!("ADD --checksum={v1} {base}/repo.git /x/"),
            "expected checksum to match",
        ),
        (
            format!("ADD --checksum=nothex {base}/repo.git /x/"),
            "expected hex commit hash",
        ),
        (
            format!("ADD {base}/repo.git?branch=v1 /x/"),
            "repository does not contain ref refs/heads/v1",
        ),
        (
            format!("ADD {base}/repo.git?tag=v1#main /x/"),
            "ref conflicts",
        ),
        (
            format!("ADD {base}/repo.git?bogus=1 /x/"),
            "unexpected query \"bogus\"",
        ),
    ];
    for (add, want) in cases {
        write(
            &ctx.path().join("Dockerfile"),
            &format!("FROM scratch\n{add}\n"),
        );
        let log = env.build_fails(ctx.path(), "gitq:bad", &[]);
        assert!(log.contains(want), "{add}: wants {want:?}:\n{log}");
    }
}

#[test]
fn a_git_url_is_a_build_context_and_dates_the_image() {
    let env = Env::new();
    let work = tempfile::tempdir().unwrap();
    let (base, _) = served_repo(work.path());
    let url = format!("{base}/repo.git?ref=v1&subdir=sub");
    env.build_ok(
        Path::new(&url),
        "gitctx:1",
        &["--build-arg", "SOURCE_DATE_EPOCH=context"],
    );
    assert_eq!(read(&rootfs(&env, "gitctx:1"), "from-sub"), "in-sub\n");
    let config = env.skopeo_config("gitctx:1");
    assert_eq!(
        config["created"], "2023-11-14T22:13:20Z",
        "the commit's time"
    );
    // -f is a path inside the fetched context.
    let url = format!("{base}/repo.git#main");
    env.build_ok(Path::new(&url), "gitctx:2", &["-f", "sub/Dockerfile"]);
    let log = env.build_fails(Path::new(&url), "gitctx:3", &["-f", "nope/Dockerfile"]);
    assert!(log.contains("nope/Dockerfile"), "{log}");
    // Credentials in the URL are never shown.
    let secret = base.replace("http://", "http://user:s3cret@");
    let log = env.build_fails(Path::new(&format!("{secret}/none.git")), "gitctx:4", &[]);
    assert!(!log.contains("s3cret"), "{log}");
}

#[test]
fn a_git_url_is_a_named_context() {
    let env = Env::new();
    let work = tempfile::tempdir().unwrap();
    let (base, _) = served_repo(work.path());
    let ctx = tempfile::tempdir().unwrap();
    // `ARG SOURCE_DATE_EPOCH=src`: the named context's commit time (BuildKit's
    // testSourceDateEpochNamedContext*).
    write(
        &ctx.path().join("Dockerfile"),
        "ARG SOURCE_DATE_EPOCH=src\nFROM scratch\nCOPY --from=src f /f\n",
    );
    let named = format!("src={base}/repo.git#old");
    env.build_ok(ctx.path(), "gitnamed:1", &["--build-context", &named]);
    assert_eq!(read(&rootfs(&env, "gitnamed:1"), "f"), "one\n");
    let config = env.skopeo_config("gitnamed:1");
    assert_eq!(
        config["created"], "2023-11-14T22:13:20Z",
        "the commit's time"
    );
    // `ARG SOURCE_DATE_EPOCH=<stage>`: the stage's one remote ADD dates the build, and the
    // ARG holds the seconds (BuildKit's testSourceDateEpochStage*).
    let df = format!(
        "ARG SOURCE_DATE_EPOCH=src\nFROM scratch AS src\nADD {base}/repo.git#old /\n\
         FROM busybox:latest\nARG SOURCE_DATE_EPOCH\nRUN echo -n $SOURCE_DATE_EPOCH >/epoch\n"
    );
    write(&ctx.path().join("Dockerfile"), &df);
    env.build_ok(ctx.path(), "gitnamed:2", &[]);
    assert_eq!(read(&rootfs(&env, "gitnamed:2"), "epoch"), "1700000000");
    write(
        &ctx.path().join("Dockerfile"),
        "ARG SOURCE_DATE_EPOCH=src\nFROM scratch AS src\nCOPY Dockerfile /\nFROM scratch\n",
    );
    let log = env.build_fails(ctx.path(), "gitnamed:3", &[]);
    assert!(
        log.contains("SOURCE_DATE_EPOCH stage does not meet source-only requirements"),
        "{log}"
    );
}
