//! Issue 14: `RUN --mount=type=bind` and `type=tmpfs` end to end with the real binary on a
//! busybox base. Bind: the context (`.dockerignore` respected, only the selected files in the
//! cache key), a relative target joined to the WORKDIR, `from=` a stage, an image and a named
//! context, read-only by default, `rw` writes discarded. Tmpfs: target and size, nothing left
//! in the layer. Cache mounts are in e2e_mounts_cache.rs.

mod common;

use std::path::Path;

use common::context::{rootfs, write};
use common::mounts::{dockerfile, step_cached, step_output};
use common::Env;

const CONTEXT_BIND: &str = "RUN --mount=type=bind,source=sel,target=s";

/// A context whose `sel/` the step binds; `other.txt` and the ignored `sel/ign.log` it does not.
fn keyed_context(ctx: &Path) {
    write(&ctx.join("sel/a.txt"), "a1\n");
    write(&ctx.join("sel/ign.log"), "ignored 1\n");
    write(&ctx.join("other.txt"), "other 1\n");
    write(&ctx.join(".dockerignore"), "sel/ign.log\n");
    dockerfile(
        ctx,
        &format!(
            "FROM busybox:latest\nWORKDIR /w\n{CONTEXT_BIND} sh -c 'ls -A /w/s; cat /w/s/a.txt'\n"
        ),
    );
}

#[test]
fn context_bind_respects_dockerignore_and_keys_only_the_selected_files() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    keyed_context(ctx.path());
    let log = env.build_ok(ctx.path(), "bind:1", &[]);
    // The relative target `s` is /w/s; the ignored file is not in the view.
    assert_eq!(step_output(&log, CONTEXT_BIND), ["a.txt", "a1"], "{log}");

    write(&ctx.path().join("other.txt"), "other 2\n");
    let log = env.build_ok(ctx.path(), "bind:1", &[]);
    assert!(
        step_cached(&log, CONTEXT_BIND),
        "a file the mount does not select changed, the step must stay cached:\n{log}"
    );
    write(&ctx.path().join("sel/ign.log"), "ignored 2\n");
    let log = env.build_ok(ctx.path(), "bind:1", &[]);
    assert!(
        step_cached(&log, CONTEXT_BIND),
        "a .dockerignore'd file under the source changed, the step must stay cached:\n{log}"
    );
    write(&ctx.path().join("sel/a.txt"), "a2\n");
    let log = env.build_ok(ctx.path(), "bind:1", &[]);
    assert!(!step_cached(&log, CONTEXT_BIND), "{log}");
    assert_eq!(step_output(&log, CONTEXT_BIND), ["a.txt", "a2"], "{log}");
    // The mount point made for the step is not part of the image.
    let fs = rootfs(&env, "bind:1");
    assert!(fs.join("w").is_dir() && !fs.join("w/s").exists());
}

const FROM_ALL: &str = "RUN --mount=type=bind,from=st,source=/data,target=/st";

#[test]
fn bind_from_a_stage_an_image_and_a_named_context_is_read_only_by_default() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let named = tempfile::tempdir().unwrap();
    write(&named.path().join("x.txt"), "from the named context\n");
    write(&ctx.path().join("c.txt"), "from the context\n");
    let probe = "for p in /st/new /img/new /ctx/new; do touch $p 2>/dev/null && echo writable $p || echo read-only $p; done; \
                 (echo more >> /named/x.txt) 2>/dev/null && echo writable file || echo read-only file";
    dockerfile(
        ctx.path(),
        &format!(
            "FROM busybox:latest AS st\nRUN mkdir /data && echo from the stage > /data/f\n\n\
             FROM busybox:latest\n\
             {FROM_ALL} --mount=type=bind,from=busybox:latest,source=/etc,target=/img \
             --mount=from=extra,source=x.txt,target=/named/x.txt --mount=target=/ctx \
             sh -c 'cat /st/f; head -1 /img/passwd; cat /named/x.txt /ctx/c.txt; {probe}'\n"
        ),
    );
    let extra = format!("extra={}", named.path().display());
    let log = env.build_ok(ctx.path(), "from:1", &["--build-context", &extra]);
    assert_eq!(
        step_output(&log, FROM_ALL),
        [
            "from the stage",
            "root:x:0:0:root:/root:/bin/sh",
            "from the named context",
            "from the context",
            "read-only /st/new",
            "read-only /img/new",
            "read-only /ctx/new",
            "read-only file",
        ],
        "{log}"
    );
    let fs = rootfs(&env, "from:1");
    for gone in ["st", "img", "named", "ctx"] {
        assert!(
            !fs.join(gone).exists(),
            "mount point /{gone} left in the image"
        );
    }
}

const RW: &str = "RUN --mount=type=bind,from=st,source=/data,target=/st,rw";
const AFTER: &str = "RUN --mount=type=bind,from=st,source=/data,target=/st2";

#[test]
fn rw_bind_writes_are_discarded_after_the_step() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    write(&ctx.path().join("f.txt"), "context original\n");
    write(&ctx.path().join("keep.txt"), "keep\n");
    dockerfile(
        ctx.path(),
        &format!(
            "FROM busybox:latest AS st\nRUN mkdir /data && echo stage original > /data/f\n\n\
             FROM busybox:latest\n\
             {RW} --mount=type=bind,target=/ctx,readwrite \
             sh -c 'echo changed > /st/f; echo new > /st/new; echo changed > /ctx/f.txt; rm /ctx/keep.txt; cat /st/f /ctx/f.txt'\n\
             {AFTER} --mount=type=bind,target=/ctx2 sh -c 'cat /st2/f /ctx2/f.txt; ls /st2 /ctx2'\n\
             COPY --from=st /data /copied\n"
        ),
    );
    let log = env.build_ok(ctx.path(), "rw:1", &[]);
    assert_eq!(step_output(&log, RW), ["changed", "changed"], "{log}");
    let after = step_output(&log, AFTER);
    assert_eq!(after[..2], ["stage original", "context original"], "{log}");
    assert!(after.iter().any(|l| l == "keep.txt"), "{after:?}");
    assert!(!after.iter().any(|l| l == "new"), "{after:?}");
    // The user's files and the stage are untouched.
    let host = std::fs::read_to_string(ctx.path().join("f.txt")).unwrap();
    assert_eq!(host, "context original\n");
    assert!(ctx.path().join("keep.txt").is_file());
    let fs = rootfs(&env, "rw:1");
    let copied = std::fs::read_to_string(fs.join("copied/f")).unwrap();
    assert_eq!(copied, "stage original\n");
    assert!(!fs.join("copied/new").exists() && !fs.join("st").exists());
}

const TMPFS: &str = "RUN --mount=type=tmpfs,target=t,size=1m";

#[test]
fn tmpfs_mount_has_its_size_and_leaves_nothing_in_the_layer() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let script = "grep \" /w/t \" /proc/mounts | cut -d\" \" -f1,3; df -k /w/t | tail -1 | awk \"{print \\$2}\"; \
                  echo data > /w/t/f; \
                  if dd if=/dev/zero of=/w/t/big bs=1k count=2048 2>/dev/null; then echo fits; else echo full; fi";
    dockerfile(
        ctx.path(),
        &format!(
            "FROM busybox:latest\nWORKDIR /w\n{TMPFS} sh -c '{script}'\n\
             RUN --mount=type=tmpfs,target=/u sh -c 'grep \" /u \" /proc/mounts | cut -d\" \" -f3'\n"
        ),
    );
    let log = env.build_ok(ctx.path(), "tmpfs:1", &[]);
    assert_eq!(
        step_output(&log, TMPFS),
        ["tmpfs tmpfs", "1024", "full"],
        "a 1m tmpfs at /w/t (relative target joined to WORKDIR):\n{log}"
    );
    let fs = rootfs(&env, "tmpfs:1");
    assert!(fs.join("w").is_dir(), "WORKDIR kept");
    for gone in ["w/t", "u"] {
        assert!(!fs.join(gone).exists(), "/{gone} left in the image");
    }
}

/// A read-only bind is executable, as BuildKit's `rbind,ro` is: a step runs the script it
/// binds, which a `noexec` remount refused ("Permission denied", exit 126). It stays
/// read-only and nosuid.
#[test]
fn a_script_a_step_binds_read_only_runs() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    write(
        &ctx.path().join("run.sh"),
        "#!/bin/sh\necho ran-from-bind\n",
    );
    std::fs::set_permissions(
        ctx.path().join("run.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let step = "RUN --mount=type=bind,source=run.sh,target=/run.sh";
    dockerfile(
        ctx.path(),
        &format!(
            "FROM busybox:latest\n{step} /run.sh && (touch /run.sh 2>/dev/null && echo writable || echo read-only) \
             && grep ' /run.sh ' /proc/self/mountinfo | grep -o 'nosuid'\n"
        ),
    );
    let log = env.build_ok(ctx.path(), "bindexec:1", &[]);
    assert_eq!(
        step_output(&log, step),
        ["ran-from-bind", "read-only", "nosuid"],
        "{log}"
    );
}

const FROM_DATA: &str = "RUN --mount=type=bind,from=st,source=/data,target=/d";

/// BuildKit keys a read-only mount by the content it shows (buildkit-suite
/// mount/testMountRWCache): a stage made again with the same /data keeps the step cached,
/// and the step after it too; a changed /data runs it again.
#[test]
fn bind_from_a_stage_is_keyed_by_the_content_it_shows() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    write(&ctx.path().join("data/f"), "one\n");
    write(&ctx.path().join("other.txt"), "other 1\n");
    dockerfile(
        ctx.path(),
        &format!(
            "FROM busybox:latest AS st\nCOPY data /data\nCOPY other.txt /\n\n\
             FROM busybox:latest\n{FROM_DATA} sh -c 'cat /d/f; head -c 8 /dev/urandom | od -x > /u'\n\
             RUN cat /u\n"
        ),
    );
    let first = env.build_ok(ctx.path(), "content:1", &[]);
    assert_eq!(step_output(&first, FROM_DATA), ["one"], "{first}");
    let unique = std::fs::read(rootfs(&env, "content:1").join("u")).unwrap();

    write(&ctx.path().join("other.txt"), "other 2\n");
    let log = env.build_ok(ctx.path(), "content:2", &[]);
    assert!(!step_cached(&log, "COPY other.txt /"), "{log}");
    assert!(step_cached(&log, FROM_DATA), "/data is the same:\n{log}");
    assert!(step_cached(&log, "RUN cat /u"), "{log}");
    assert_eq!(
        std::fs::read(rootfs(&env, "content:2").join("u")).unwrap(),
        unique
    );

    write(&ctx.path().join("data/f"), "two\n");
    let log = env.build_ok(ctx.path(), "content:3", &[]);
    assert!(!step_cached(&log, FROM_DATA), "{log}");
    assert_eq!(step_output(&log, FROM_DATA), ["two"], "{log}");
}
