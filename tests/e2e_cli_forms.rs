//! CLI forms end to end that had no test: `import -` and compressed import tarballs,
//! `save -o -`, `load -i -`, `build -f -`, `--no-cache-filter`, and `--progress tty|auto`
//! under a pseudo-terminal.

mod common;

use std::path::Path;
use std::process::Command;

use common::{run_output, text, write_file, Env};

/// Compresses `input` with `tool` (`gzip` or `zstd`) into `output`.
fn compress(tool: &str, package: &str, input: &Path, output: &Path) {
    let exe = rbuild_testkit::require_tool(tool, package);
    let out = Command::new(exe)
        .args(["-c", "-q"])
        .arg(input)
        .output()
        .unwrap();
    assert!(out.status.success(), "{tool}: {}", text(&out));
    std::fs::write(output, out.stdout).unwrap();
}

/// The diff_ids of an image, from its config.
fn diff_ids(env: &Env, tag: &str) -> serde_json::Value {
    let v: serde_json::Value = serde_json::from_str(&env.rbuild_ok(&["inspect", tag])).unwrap();
    v["Config"]["rootfs"]["diff_ids"].clone()
}

#[test]
fn import_reads_stdin_and_gzip_and_zstd_tarballs() {
    let env = Env::empty();
    let work = env.root.path();
    let tar = work.join("rootfs.tar");
    rbuild_testkit::busybox_tarball(&tar).unwrap();
    compress("gzip", "gzip", &tar, &work.join("rootfs.tar.gz"));
    compress("zstd", "zstd", &tar, &work.join("rootfs.tar.zst"));
    env.rbuild_ok(&["import", tar.to_str().unwrap(), "img:plain"]);
    let plain = diff_ids(&env, "img:plain");
    assert_eq!(plain.as_array().map(Vec::len), Some(1), "{plain}");
    for (file, tag) in [("rootfs.tar.gz", "img:gz"), ("rootfs.tar.zst", "img:zst")] {
        env.rbuild_ok(&["import", work.join(file).to_str().unwrap(), tag]);
        assert_eq!(diff_ids(&env, tag), plain, "{file}: another layer");
    }
    for (file, tag) in [
        ("rootfs.tar", "stdin:plain"),
        ("rootfs.tar.zst", "stdin:zst"),
    ] {
        let bytes = std::fs::read(work.join(file)).unwrap();
        let out = env.rbuild_stdin(&["import", "-", tag], &bytes);
        assert!(out.status.success(), "import - of {file}: {}", text(&out));
        assert_eq!(diff_ids(&env, tag), plain, "{file} on stdin: another layer");
    }
    // What arrived is a working base.
    let ctx = tempfile::tempdir().unwrap();
    let df = "FROM stdin:zst\nRUN echo \"runs: $(busybox basename /x/imported)\"\n";
    write_file(&ctx.path().join("Dockerfile"), df.as_bytes(), 0o644);
    let log = env.build_ok(ctx.path(), "on-import:1", &[]);
    assert!(run_output(&log).contains(&"runs: imported"), "{log}");
    env.check_ok();
}

#[test]
fn save_to_stdout_and_load_from_stdin() {
    let env = Env::new();
    let file = env.root.path().join("saved.tar");
    env.rbuild_ok(&["save", "-o", file.to_str().unwrap(), "busybox:latest"]);
    let out = env.rbuild(&["save", "-o", "-", "busybox:latest"]);
    assert!(out.status.success(), "{}", text(&out));
    let archive = out.stdout;
    assert_eq!(
        archive,
        std::fs::read(&file).unwrap(),
        "save -o - wrote another archive than save -o FILE"
    );
    let other = Env::empty();
    let out = other.rbuild_stdin(&["load", "-i", "-"], &archive);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "Loaded image: busybox:latest"
    );
    assert_eq!(
        other.manifest_digest("busybox:latest"),
        env.manifest_digest("busybox:latest")
    );
    other.check_ok();
    let docker = env.rbuild(&["save", "--format", "docker", "-o", "-", "busybox:latest"]);
    assert!(docker.status.success(), "{}", text(&docker));
    let third = Env::empty();
    let out = third.rbuild_stdin(&["load", "-i", "-"], &docker.stdout);
    assert!(
        out.status.success(),
        "load -i - of a docker-archive: {}",
        text(&out)
    );
    third.check_ok();
}

#[test]
fn build_reads_the_dockerfile_from_stdin() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    write_file(&ctx.path().join("data.txt"), b"from-context\n", 0o644);
    // The context's own Dockerfile would fail: only the one on stdin may be used.
    write_file(
        &ctx.path().join("Dockerfile"),
        b"FROM busybox:latest\nRUN exit 9\n",
        0o644,
    );
    let df =
        "FROM busybox:latest\nCOPY data.txt /data.txt\nRUN echo \"stdin-file: $(cat /data.txt)\"\n";
    let c = ctx.path().to_str().unwrap();
    let args = [
        "build",
        "--progress",
        "plain",
        "-t",
        "stdin:1",
        "-f",
        "-",
        c,
    ];
    let out = env.rbuild_stdin(&args, df.as_bytes());
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(
        run_output(&log).contains(&"stdin-file: from-context"),
        "{log}"
    );
}

#[test]
fn no_cache_filter_rebuilds_only_the_named_stages() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let df = "FROM busybox:latest AS a\nRUN echo ran-a > /a\n\n\
              FROM busybox:latest AS b\nRUN echo ran-b > /b\n\n\
              FROM busybox:latest\nCOPY --from=a /a /a\nCOPY --from=b /b /b\nRUN cat /a /b\n";
    write_file(&ctx.path().join("Dockerfile"), df.as_bytes(), 0o644);
    env.build_ok(ctx.path(), "filter:1", &[]);
    let log = env.build_ok(ctx.path(), "filter:1", &["--no-cache-filter", "b"]);
    let step = |instr: &str| {
        log.lines()
            .find(|l| l.ends_with(instr) && l.starts_with('#'))
            .and_then(|l| l.split_whitespace().next())
            .unwrap_or_else(|| panic!("no step {instr}:\n{log}"))
            .to_string()
    };
    let (a, b) = (step("RUN echo ran-a > /a"), step("RUN echo ran-b > /b"));
    assert!(
        log.contains(&format!("{a} CACHED")),
        "stage a ran again:\n{log}"
    );
    assert!(
        !log.contains(&format!("{b} CACHED")),
        "stage b came from the cache:\n{log}"
    );
    assert!(
        log.contains(&format!("{b} DONE")),
        "stage b did not run:\n{log}"
    );
    // Without the filter everything is cached again.
    let log = env.build_ok(ctx.path(), "filter:1", &[]);
    assert!(!log.contains(" DONE "), "{log}");
}

/// Whether a build log is the interactive renderer's: a step's header and its status on one
/// line (the plain renderer prints `#N DONE` on a line of its own).
fn looks_interactive(log: &str, instr: &str) -> bool {
    log.lines()
        .map(|l| l.trim_end_matches('\r'))
        .any(|l| l.contains(&format!("{instr} DONE")))
}

#[test]
fn progress_tty_and_auto_under_a_terminal() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let c = ctx.path().to_str().unwrap();
    for (i, mode) in ["tty", "auto"].iter().enumerate() {
        let instr = format!("RUN echo progress-{mode}-{i}");
        let df = format!("FROM busybox:latest\n{instr}\n");
        write_file(&ctx.path().join("Dockerfile"), df.as_bytes(), 0o644);
        let out = env.rbuild_pty(&["build", "--progress", mode, c]);
        let shown = text(&out);
        assert!(out.status.success(), "--progress {mode}:\n{shown}");
        assert!(
            looks_interactive(&shown, &instr),
            "--progress {mode} on a terminal:\n{shown}"
        );
        assert!(
            shown.contains(&format!("#2 progress-{mode}-{i}")),
            "{shown}"
        );
    }
    // auto without a terminal is plain.
    let instr = "RUN echo progress-auto-piped";
    let df = format!("FROM busybox:latest\n{instr}\n");
    write_file(&ctx.path().join("Dockerfile"), df.as_bytes(), 0o644);
    let out = env.rbuild(&["build", "--progress", "auto", c]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    assert!(!looks_interactive(&log, instr), "{log}");
    assert!(run_output(&log).contains(&"progress-auto-piped"), "{log}");
}
