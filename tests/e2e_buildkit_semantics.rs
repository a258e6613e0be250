//! Issue 19, end to end: where rbuild differed from BuildKit on BuildKit's own test suite
//! (frontend/dockerfile/dockerfile_*_test.go). Each test is named after the Go test it comes
//! from and builds that test's Dockerfile (on the busybox base) with rbuild.
#![allow(non_snake_case)] // test names carry BuildKit's Go test names

mod common;

use std::path::Path;

use common::{run_output, write_file, Env};
use serde_json::Value;

fn context(dockerfile: &str) -> tempfile::TempDir {
    let ctx = tempfile::tempdir().unwrap();
    write_file(&ctx.path().join("Dockerfile"), dockerfile.as_bytes(), 0o644);
    ctx
}

fn read(root: &Path, path: &str) -> String {
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// The `created_by` texts of the entries after the base image's own.
fn new_history(config: &Value, base_entries: usize) -> Vec<(String, bool)> {
    config["history"].as_array().unwrap()[base_entries..]
        .iter()
        .map(|h| {
            let text = h["created_by"].as_str().unwrap_or("").to_string();
            (text, h["empty_layer"].as_bool().unwrap_or(false))
        })
        .collect()
}

fn base_history_len(env: &Env) -> usize {
    let base = env.skopeo_config("busybox:latest");
    base["history"].as_array().map_or(0, Vec::len)
}

/// BuildKit's testBuiltinArgs: `--build-arg http_proxy=…` reaches RUN as `$HTTP_PROXY`
/// (and `NO_PROXY` as `$no_proxy`) without an ARG; changing only a proxy value keeps the
/// cached RUN; changing a declared ARG does not. Proxy values stay out of the image.
#[test]
fn proxy_args_reach_run_in_both_spellings__buildkit_testBuiltinArgs() {
    let env = Env::new();
    let ctx = context(
        "FROM busybox:latest AS build\nARG FOO\nARG BAR\nARG BAZ=bazcontent\n\
         RUN echo -n $HTTP_PROXY::$NO_PROXY::$FOO::$BAR::$BAZ > /out\n\
         RUN echo \"lower: $http_proxy $no_proxy\"\n",
    );
    let args = |foo: &str, proxy: &str, no_proxy: Option<&str>| {
        let mut v = vec![
            "--build-arg".to_string(),
            format!("FOO={foo}"),
            "--build-arg".to_string(),
            format!("http_proxy={proxy}"),
        ];
        if let Some(np) = no_proxy {
            v.extend(["--build-arg".to_string(), format!("NO_PROXY={np}")]);
        }
        v
    };
    let build = |tag: &str, a: Vec<String>| {
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        let log = env.build_ok(ctx.path(), tag, &a);
        let root = env.umoci_unpack(tag).join("rootfs");
        (log, read(&root, "out"))
    };
    let (log, out) = build("proxy:1", args("foocontents", "hpvalue", Some("npvalue")));
    assert_eq!(out, "hpvalue::npvalue::foocontents::::bazcontent");
    assert!(
        run_output(&log).contains(&"lower: hpvalue npvalue"),
        "{log}"
    );
    let config = env.skopeo_config("proxy:1");
    assert!(!config.to_string().contains("hpvalue"), "{config}");
    let runs: Vec<String> = new_history(&config, base_history_len(&env))
        .into_iter()
        .map(|(t, _)| t)
        .filter(|t| t.starts_with("RUN "))
        .collect();
    assert_eq!(
        runs[0],
        "RUN |3 FOO=foocontents BAR= BAZ=bazcontent /bin/sh -c \
         echo -n $HTTP_PROXY::$NO_PROXY::$FOO::$BAR::$BAZ > /out # buildkit"
    );
    // Only the proxy changed: the RUN is not run again (the file keeps the first values).
    let (_, out) = build("proxy:2", args("foocontents", "hpvalue2", None));
    assert_eq!(out, "hpvalue::npvalue::foocontents::::bazcontent");
    // A declared ARG changed: it runs again, with the proxy given now.
    let (_, out) = build("proxy:3", args("foocontents2", "hpvalue2", None));
    assert_eq!(out, "hpvalue2::::foocontents2::::bazcontent");
}

/// BuildKit's testHeredocVarSubstitution and testCopyHeredocSpecialSymbols: an unquoted
/// `<<EOF` body of COPY is expanded with quotes as plain text (`'${name}'` expands) and
/// escapes processed; a quoted delimiter copies the body as written. RUN heredocs go to the
/// shell, which expands them itself.
#[test]
fn copy_heredocs_expand_like_buildkit__buildkit_testHeredocVarSubstitution() {
    let env = Env::new();
    let ctx = context(
        "FROM busybox:latest\nARG name=world\n\
COPY <<EOF /dest/c1\nHello ${name}!\nEOF\n\
COPY <<'EOF' /dest/c2\nHello ${name}!\nEOF\n\
COPY <<\"EOF\" /dest/c3\nHello ${name}!\nEOF\n\
COPY <<EOF /dest/q1\nHello '${name}'!\nEOF\n\
COPY <<EOF /dest/q2\nHello \"${name}\"!\nEOF\n\
COPY <<'EOF' /dest/qsingle1\nHello '${name}'!\nEOF\n\
COPY <<\"EOF\" /dest/qdouble2\nHello \"${name}\"!\nEOF\n\
COPY <<EOF /dest/slashfile1\n\\\nEOF\n\
COPY <<EOF /dest/slashfile2\n\\\\\nEOF\n\
COPY <<EOF /dest/slashfile3\n\\$\nEOF\n\
COPY <<\"EOF\" /dest/rawslashfile2\n\\\\\nEOF\n\
COPY <<\"EOF\" /dest/rawslashfile3\n\\$\nEOF\n\
RUN <<EOF\ngreeting=\"Hello\"\necho \"${greeting} ${name}!\" > /dest/r1\nEOF\n\
RUN <<EOF\nname=\"new world\"\necho \"Hello ${name}!\" > /dest/r2\nEOF\n",
    );
    env.build_ok(ctx.path(), "heredoc:1", &[]);
    let root = env.umoci_unpack("heredoc:1").join("rootfs/dest");
    for (file, want) in [
        ("c1", "Hello world!\n"),
        ("c2", "Hello ${name}!\n"),
        ("c3", "Hello ${name}!\n"),
        ("q1", "Hello 'world'!\n"),
        ("q2", "Hello \"world\"!\n"),
        ("qsingle1", "Hello '${name}'!\n"),
        ("qdouble2", "Hello \"${name}\"!\n"),
        ("slashfile1", "\n"),
        ("slashfile2", "\\\n"),
        ("slashfile3", "$\n"),
        ("rawslashfile2", "\\\\\n"),
        ("rawslashfile3", "\\$\n"),
        ("r1", "Hello world!\n"),
        ("r2", "Hello new world!\n"),
    ] {
        assert_eq!(read(&root, file), want, "{file}");
    }
}

/// BuildKit's testRunShebangHeredoc: a RUN heredoc whose body starts with `#!` runs under
/// that interpreter (`<<-` strips the tabs first), not under `/bin/sh`.
#[test]
fn shebang_heredocs_run_under_their_interpreter__buildkit_testRunShebangHeredoc() {
    let env = Env::new();
    let ctx = context(
        "FROM busybox:latest AS build\nWORKDIR /dest\n\
RUN <<EOF\n#!/bin/awk -f\nBEGIN {\n\tprint \"hello\" >> \"./out1\"\n\tprint \"world\" >> \"./out1\"\n}\nEOF\n\
RUN <<-EOF\n\t#!/bin/awk -f\n\tBEGIN {\n\t\tprint \"hello\" >> \"./out2\"\n\t\tprint \"world\" >> \"./out2\"\n\t}\nEOF\n",
    );
    env.build_ok(ctx.path(), "shebang:1", &[]);
    let rootfs = env.umoci_unpack("shebang:1").join("rootfs");
    let root = rootfs.join("dest");
    assert_eq!(read(&root, "out1"), "hello\nworld\n");
    assert_eq!(read(&root, "out2"), "hello\nworld\n");
    // The script file is mounted for the step only.
    let dev = rootfs.join("dev/pipes/EOF");
    assert!(!dev.exists(), "the script was left in the image");
}

/// BuildKit's testDockerfileScratchConfig: `FROM scratch` starts from BuildKit's empty image,
/// whose config has `WorkingDir: "/"`; its one ENV is the only history entry, and there are
/// no layers. An image whose own config has no WorkingDir keeps none (BuildKit copies it).
#[test]
fn scratch_images_have_workdir_root__buildkit_testDockerfileScratchConfig() {
    let env = Env::new();
    let ctx = context("FROM scratch\nENV foo=bar\n");
    env.build_ok(ctx.path(), "scratch:1", &[]);
    let config = env.skopeo_config("scratch:1");
    assert_eq!(config["config"]["WorkingDir"], "/", "{config}");
    assert!(config["os"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(config["rootfs"]["type"], "layers");
    assert_eq!(
        config["rootfs"]["diff_ids"].as_array().map_or(0, Vec::len),
        0
    );
    let history = config["history"].as_array().unwrap();
    assert_eq!(history.len(), 1, "{config}");
    assert_eq!(history[0]["created_by"], "ENV foo=bar");
    let base = env.skopeo_config("busybox:latest");
    if base["config"]["WorkingDir"]
        .as_str()
        .unwrap_or("")
        .is_empty()
    {
        let ctx = context("FROM busybox:latest\nENV foo=bar\n");
        env.build_ok(ctx.path(), "noworkdir:1", &[]);
        let config = env.skopeo_config("noworkdir:1");
        let wd = config["config"]["WorkingDir"].as_str().unwrap_or("");
        assert_eq!(wd, "", "{config}");
    }
}

/// BuildKit's testExportedHistory: every instruction's history text and layer as BuildKit
/// writes them: `COPY foo2 foo3` for `COPY --from=base …`, `WORKDIR /` without a layer,
/// `RUN ls` (exec form, changing nothing) with a layer, `EXPOSE [1234/udp 2375/tcp 5000/tcp]`;
/// four layers (busybox, COPY, two RUNs) and six new entries.
#[test]
fn history_text_and_layers_match_buildkit__buildkit_testExportedHistory() {
    let env = Env::new();
    let ctx = context(
        "FROM busybox:latest AS base\nENV foo=bar\nCOPY foo /foo2\n\
FROM busybox:latest\nLABEL lbl=val\nCOPY --from=base foo2 foo3\nWORKDIR /\n\
RUN echo bar > foo4\nRUN [\"ls\"]\nEXPOSE 2375 5000 1234/udp\n",
    );
    write_file(&ctx.path().join("foo"), b"contents0", 0o600);
    env.build_ok(ctx.path(), "history:1", &[]);
    let config = env.skopeo_config("history:1");
    let base = base_history_len(&env);
    let base_layers = env.skopeo_config("busybox:latest")["rootfs"]["diff_ids"]
        .as_array()
        .map_or(0, Vec::len);
    let diff_ids = config["rootfs"]["diff_ids"].as_array().unwrap();
    assert_eq!(diff_ids.len(), base_layers + 3, "{config}");
    let want = [
        ("LABEL lbl=val", true),
        ("COPY foo2 foo3 # buildkit", false),
        ("WORKDIR /", true),
        ("RUN /bin/sh -c echo bar > foo4 # buildkit", false),
        ("RUN ls # buildkit", false),
        ("EXPOSE [1234/udp 2375/tcp 5000/tcp]", true),
    ];
    let got = new_history(&config, base);
    let want: Vec<(String, bool)> = want.iter().map(|(t, e)| (t.to_string(), *e)).collect();
    assert_eq!(got, want, "{config}");
    for h in config["history"].as_array().unwrap() {
        assert!(h["created"].is_string(), "{h}");
    }
}

/// BuildKit's testExportedHistoryFlattenArgs: a RUN's history names the stage's ARGs once
/// each, at their first declaration, with their last value: `RUN |2 foo=bar2 bar=123 …`.
/// The other instructions' texts are BuildKit's too (Go `%q`/`%v`/`%+v` formatting), and
/// ONBUILD writes no history.
#[test]
fn run_history_flattens_args__buildkit_testExportedHistoryFlattenArgs() {
    let env = Env::new();
    let ctx = context(
        "FROM busybox:latest\nARG foo=bar\nARG bar=123\nARG foo=bar2\nRUN ls /etc/\n\
WORKDIR app\nWORKDIR /app\nUSER 0\nCMD echo hi\nENTRYPOINT [\"/bin/sh\", \"-c\"]\n\
SHELL [\"/bin/sh\", \"-ec\"]\nVOLUME /data /logs\nSTOPSIGNAL SIGTERM\nONBUILD RUN true\n\
HEALTHCHECK --interval=90s --retries=3 CMD true\n",
    );
    env.build_ok(ctx.path(), "flatten:1", &[]);
    let config = env.skopeo_config("flatten:1");
    let got = new_history(&config, base_history_len(&env));
    let want = [
        ("ARG foo=bar", true),
        ("ARG bar=123", true),
        ("ARG foo=bar2", true),
        (
            "RUN |2 foo=bar2 bar=123 /bin/sh -c ls /etc/ # buildkit",
            false,
        ),
        ("WORKDIR /app", false),
        ("WORKDIR /app", false),
        ("USER 0", true),
        ("CMD [\"/bin/sh\" \"-c\" \"echo hi\"]", true),
        ("ENTRYPOINT [\"/bin/sh\" \"-c\"]", true),
        ("SHELL [/bin/sh -ec]", true),
        ("VOLUME [/data /logs]", true),
        ("STOPSIGNAL SIGTERM", true),
        (
            "HEALTHCHECK {Test:[CMD-SHELL true] Interval:1m30s Timeout:0s StartPeriod:0s \
             StartInterval:0s Retries:3}",
            true,
        ),
    ];
    let want: Vec<(String, bool)> = want.iter().map(|(t, e)| (t.to_string(), *e)).collect();
    assert_eq!(got, want, "{config}");
    // dispatchCmd sets ArgsEscaped with every CMD.
    assert_eq!(config["config"]["ArgsEscaped"], true, "{config}");
}

/// BuildKit's testDockerfileCopyFromArgs: `COPY --from=$FOO` is refused with BuildKit's
/// words, not resolved as an empty image name.
#[test]
fn copy_from_refuses_variables__buildkit_testDockerfileCopyFromArgs() {
    let env = Env::new();
    let ctx = context("FROM scratch\nCOPY --from=$FOO . .\n");
    let log = env.build_fails(ctx.path(), "copyfrom:1", &[]);
    assert!(
        log.contains(
            "variable expansion is not supported for --from, define a new stage with FROM \
             using ARG from global scope as a workaround"
        ),
        "{log}"
    );
}

/// BuildKit's testTargetMistype: a mistyped `--target` names the stage it was near.
#[test]
fn a_mistyped_target_is_suggested__buildkit_testTargetMistype() {
    let env = Env::new();
    let ctx = context(
        "FROM scratch AS build\nCOPY Dockerfile /out\n\nFROM scratch\nCOPY --from=build /out /\n",
    );
    let log = env.build_fails(ctx.path(), "mistype:1", &["--target", "bulid"]);
    assert!(
        log.contains("target stage \"bulid\" could not be found (did you mean build?)"),
        "{log}"
    );
}
