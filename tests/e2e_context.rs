//! The build context end to end: .dockerignore, cache exactness, COPY/ADD flags, ADD of
//! archives, URLs and git repositories, named contexts.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{text, Env};

fn write(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
}

fn rootfs(env: &Env, tag: &str) -> PathBuf {
    env.umoci_unpack(tag).join("rootfs")
}

/// `#N cache miss: <reason>` lines of a plain log, with the step header they belong to.
fn misses(log: &str) -> Vec<(String, String)> {
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

fn sh(cmd: &str, dir: &Path) {
    let out = Command::new("sh")
        .arg("-c")
        .arg(cmd)
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(out.status.success(), "{cmd}: {}", text(&out));
}

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
    // Let the file age past the racy window so its digest is remembered.
    std::thread::sleep(std::time::Duration::from_millis(200));
    let first = env.build_ok(ctx.path(), "st:1", &[]);
    assert!(first.contains("version-1"), "{first}");
    let again = env.build_ok(ctx.path(), "st:1", &[]);
    assert!(misses(&again).is_empty(), "{again}");
    let before = std::fs::metadata(&f).unwrap();
    write(&f, "version-2\n");
    sh("touch -d '2020-01-01 00:00:00' data.txt", ctx.path());
    let after = std::fs::metadata(&f).unwrap();
    assert_eq!(
        (before.size(), before.mtime()),
        (after.size(), after.mtime())
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

#[test]
fn copy_flags_chmod_parents_exclude_link() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    write(&c.join("bin/tool.sh"), "#!/bin/sh\n");
    std::fs::set_permissions(
        c.join("bin/tool.sh"),
        std::fs::Permissions::from_mode(0o664),
    )
    .unwrap();
    write(&c.join("x/a/one.txt"), "1\n");
    write(&c.join("x/b/two.txt"), "2\n");
    write(&c.join("src/./keep/k.txt"), "k\n");
    write(&c.join("docs/a.md"), "a\n");
    write(&c.join("docs/b.txt"), "b\n");
    write(&c.join("docs/sub/c.txt"), "c\n");
    let df = "FROM busybox:latest\n\
COPY --chmod=u+x,g-w bin/tool.sh /t/tool.sh\n\
COPY --chmod=a=r bin/tool.sh /t/ro.sh\n\
COPY --parents x/*/*.txt /p/\n\
COPY --parents ./src/./keep/k.txt /q/\n\
COPY --exclude=*.txt --link docs /d/\n\
COPY --exclude=**/*.txt docs /e/\n";
    write(&c.join("Dockerfile"), df);
    env.build_ok(c, "flags:1", &[]);
    let root = rootfs(&env, "flags:1");
    let mode = |p: &str| std::fs::metadata(root.join(p)).unwrap().mode() & 0o7777;
    assert_eq!(mode("t/tool.sh"), 0o744);
    assert_eq!(mode("t/ro.sh"), 0o444);
    assert!(root.join("p/x/a/one.txt").exists() && root.join("p/x/b/two.txt").exists());
    assert!(root.join("q/keep/k.txt").exists());
    assert!(root.join("d/a.md").exists());
    assert!(!root.join("d/b.txt").exists());
    // As in BuildKit, `*.txt` does not cross `/`: nested files need `**/*.txt`.
    assert!(root.join("d/sub/c.txt").exists());
    assert!(!root.join("e/sub/c.txt").exists() && root.join("e/sub").is_dir());
}

/// Ownership of the directories COPY --chown creates, checked against BuildKit (docker 20.10's
/// builder printed exactly these owners for the same Dockerfile): new parents and the
/// destination take the --chown owner, parents the image already has keep theirs, and
/// without --chown new parents are root's.
#[test]
fn copy_chown_owns_the_directories_it_creates() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    write(&c.join("d/sub/f"), "x\n");
    write(&c.join("file"), "y\n");
    let df = "FROM busybox:latest\n\
RUN mkdir -p /exist && chown 5:6 /exist\n\
COPY --chown=7:8 d /new1/a/b/\n\
COPY --chown=7:8 file /new2/x/\n\
COPY --chown=7:8 file /exist/sub/\n\
COPY file /new4/q/\n";
    write(&c.join("Dockerfile"), df);
    env.build_ok(c, "chown:1", &[]);
    let root = rootfs(&env, "chown:1");
    let owner = |p: &str| {
        let m = std::fs::symlink_metadata(root.join(p)).unwrap();
        (m.uid(), m.gid())
    };
    for p in [
        "new1",
        "new1/a",
        "new1/a/b",
        "new1/a/b/sub",
        "new1/a/b/sub/f",
    ] {
        assert_eq!(owner(p), (7, 8), "{p}");
    }
    for p in [
        "new2",
        "new2/x",
        "new2/x/file",
        "exist/sub",
        "exist/sub/file",
    ] {
        assert_eq!(owner(p), (7, 8), "{p}");
    }
    assert_eq!(owner("exist"), (5, 6));
    assert_eq!(owner("new4"), (0, 0));
    assert_eq!(owner("new4/q"), (0, 0));
}

#[test]
fn add_unpacks_local_archives_only() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path();
    write(&c.join("payload/dir/f.txt"), "from archive\n");
    let own = "--owner=1234 --group=2345 --numeric-owner";
    sh(&format!("tar czf app.tgz {own} -C payload dir && tar cjf app.bz -C payload dir && tar cJf app.xz -C payload dir"), c);
    write(&c.join("plain.txt"), "plain\n");
    let df = "FROM busybox:latest\nADD app.tgz /gz/\nADD app.bz /bz\nADD app.xz /xz/\nADD --unpack=false app.tgz /raw/\nADD plain.txt /p/\nADD --chown=7:8 app.tgz /own/\n";
    write(&c.join("Dockerfile"), df);
    env.build_ok(c, "arch:1", &[]);
    let root = rootfs(&env, "arch:1");
    for d in ["gz", "bz", "xz"] {
        let f = root.join(d).join("dir/f.txt");
        assert_eq!(
            std::fs::read_to_string(&f).unwrap_or_default(),
            "from archive\n",
            "{d}"
        );
    }
    assert!(root.join("raw/app.tgz").is_file());
    assert!(root.join("p/plain.txt").is_file());
    // Without --chown the archive's owners stay; with it, every extracted entry takes the
    // given owner (BuildKit since v0.23, moby/buildkit#1547), not only the destination.
    let owner = |p: &str| {
        let m = std::fs::symlink_metadata(root.join(p)).unwrap();
        (m.uid(), m.gid())
    };
    assert_eq!(owner("gz/dir/f.txt"), (1234, 2345));
    assert_eq!(owner("gz/dir"), (1234, 2345));
    assert_eq!(owner("own/dir/f.txt"), (7, 8));
    assert_eq!(owner("own/dir"), (7, 8));
    assert_eq!(owner("own"), (7, 8));
}

/// A tiny HTTP/1.0 file server on 127.0.0.1 serving `dir`; returns its base URL.
fn serve(dir: PathBuf) -> String {
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

#[test]
fn add_url_with_right_and_wrong_checksum() {
    let env = Env::new();
    let served = tempfile::tempdir().unwrap();
    write(&served.path().join("files/hello.txt"), "hello over http\n");
    let base = serve(served.path().to_path_buf());
    let digest = "sha256:bd8dfdbba2a5b1a7a3e6dfa43cbc6ae0330fda3ca92d3ab5e1e4cb2880e9ba2c";
    let real = {
        use std::process::Stdio;
        let out = Command::new("sha256sum")
            .arg(served.path().join("files/hello.txt"))
            .stdout(Stdio::piped())
            .output()
            .unwrap();
        format!(
            "sha256:{}",
            String::from_utf8_lossy(&out.stdout)
                .split_whitespace()
                .next()
                .unwrap()
        )
    };
    let ctx = tempfile::tempdir().unwrap();
    let df = format!("FROM busybox:latest\nADD --checksum={real} {base}/files/hello.txt /web/\nADD {base}/files/hello.txt /plain.txt\n");
    write(&ctx.path().join("Dockerfile"), &df);
    env.build_ok(ctx.path(), "url:1", &[]);
    let root = rootfs(&env, "url:1");
    let f = root.join("web/hello.txt");
    assert_eq!(std::fs::read_to_string(&f).unwrap(), "hello over http\n");
    let meta = std::fs::metadata(&f).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert_eq!(
        meta.mtime(),
        784111777,
        "mtime must come from Last-Modified"
    );
    assert!(root.join("plain.txt").is_file());
    let again = env.build_ok(ctx.path(), "url:1", &[]);
    assert!(misses(&again).is_empty(), "{again}");
    let wrong =
        format!("FROM busybox:latest\nADD --checksum={digest} {base}/files/hello.txt /web/\n");
    write(&ctx.path().join("Dockerfile"), &wrong);
    let log = env.build_fails(ctx.path(), "url:2", &[]);
    assert!(
        log.contains(digest) && log.contains(&real),
        "both digests must be named:\n{log}"
    );
}

#[test]
fn add_git_repository_at_a_ref_and_subdir() {
    let env = Env::new();
    let work = tempfile::tempdir().unwrap();
    let w = work.path();
    let git = "git -c user.name=t -c user.email=t@e -c init.defaultBranch=main";
    write(&w.join("src/docs/readme.md"), "v1\n");
    write(&w.join("src/top.txt"), "top\n");
    sh(
        &format!("cd src && {git} init -q && {git} add . && {git} commit -qm one && {git} tag v1"),
        w,
    );
    write(&w.join("src/docs/readme.md"), "v2\n");
    sh(&format!("cd src && {git} commit -qam two"), w);
    sh(
        "git clone -q --bare src srv/repo.git && cd srv/repo.git && git update-server-info",
        w,
    );
    let base = serve(w.join("srv"));
    let ctx = tempfile::tempdir().unwrap();
    let df = format!("FROM busybox:latest\nADD {base}/repo.git#v1:docs /v1/\nADD --keep-git-dir {base}/repo.git#main /main/\n");
    write(&ctx.path().join("Dockerfile"), &df);
    env.build_ok(ctx.path(), "git:1", &[]);
    let root = rootfs(&env, "git:1");
    assert_eq!(
        std::fs::read_to_string(root.join("v1/readme.md")).unwrap(),
        "v1\n"
    );
    assert!(!root.join("v1/top.txt").exists());
    assert_eq!(
        std::fs::read_to_string(root.join("main/docs/readme.md")).unwrap(),
        "v2\n"
    );
    assert!(root.join("main/.git").is_dir(), "--keep-git-dir keeps .git");
    // A new commit on the branch changes the key.
    write(&w.join("src/docs/readme.md"), "v3\n");
    sh(&format!("cd src && {git} commit -qam three && git push -q ../srv/repo.git main && cd ../srv/repo.git && git update-server-info"), w);
    let log = env.build_ok(ctx.path(), "git:1", &[]);
    assert!(
        misses(&log).iter().any(|(h, _)| h.contains("#main")),
        "{log}"
    );
}

#[test]
fn named_build_contexts_for_copy_from() {
    let env = Env::new();
    let extra = tempfile::tempdir().unwrap();
    write(&extra.path().join("conf/app.conf"), "named\n");
    let ctx = tempfile::tempdir().unwrap();
    write(&ctx.path().join("Dockerfile"), "FROM busybox:latest\nCOPY --from=cfg conf/app.conf /etc/app.conf\nCOPY --from=base /bin/busybox /copied-busybox\n");
    let cfg = format!("cfg={}", extra.path().display());
    env.build_ok(
        ctx.path(),
        "named:1",
        &[
            "--build-context",
            &cfg,
            "--build-context",
            "base=docker-image://busybox:latest",
        ],
    );
    let root = rootfs(&env, "named:1");
    assert_eq!(
        std::fs::read_to_string(root.join("etc/app.conf")).unwrap(),
        "named\n"
    );
    assert!(root.join("copied-busybox").is_file());
    // FROM a named local directory and FROM a named image.
    let df = "FROM files AS f\nFROM img\nCOPY --from=f conf/app.conf /from-stage.conf\n";
    write(&ctx.path().join("Dockerfile"), df);
    let files = format!("files={}", extra.path().display());
    env.build_ok(
        ctx.path(),
        "named:3",
        &[
            "--build-context",
            &files,
            "--build-context",
            "img=docker-image://busybox:latest",
        ],
    );
    let root = rootfs(&env, "named:3");
    assert_eq!(
        std::fs::read_to_string(root.join("from-stage.conf")).unwrap(),
        "named\n"
    );
    assert!(root.join("bin/busybox").is_file());
    let log = env.build_fails(
        ctx.path(),
        "named:2",
        &["--build-context", "files=oci-layout:///nowhere"],
    );
    assert!(log.contains("/nowhere is not an OCI image layout"), "{log}");
}
