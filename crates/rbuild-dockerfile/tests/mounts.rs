//! `RUN --mount` as BuildKit reads it (issue 14). The Dockerfiles and expectations of
//! BuildKit's own tests (`frontend/dockerfile/dockerfile_mount_test.go`,
//! `dockerfile_secrets_test.go`, `dockerfile_ssh_test.go`, `dockerfile_outline_test.go`,
//! `instructions/parse_test.go`), rewritten against this crate: each test names the BuildKit
//! test it comes from. What those tests check by running a build is checked here on the
//! parsed mount and on the values the builder derives from it.

use rbuild_dockerfile::*;

fn runs(text: &str) -> Vec<RunCmd> {
    let d = parse_dockerfile(text).unwrap_or_else(|e| panic!("{e}"));
    let all = d.stages.iter().flat_map(|s| &s.instructions);
    all.filter_map(|i| match &i.command {
        Command::Run(r) => Some(r.clone()),
        _ => None,
    })
    .collect()
}

/// The mounts of `run` once expanded with `vars`.
fn expanded(run: &RunCmd, vars: &[(&str, &str)]) -> Vec<RunMount> {
    let env: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let cmd = expand_command(&Command::Run(run.clone()), &Lexer::default(), &env);
    match cmd.unwrap_or_else(|e| panic!("{e}")) {
        Command::Run(r) => r.mounts,
        other => panic!("{other:?}"),
    }
}

fn only_mount(text: &str) -> RunMount {
    let runs = runs(text);
    assert_eq!((runs.len(), runs[0].mounts.len()), (1, 1), "{text}");
    runs[0].mounts[0].clone()
}

fn parse_error(text: &str) -> String {
    parse_dockerfile(text).expect_err(text).message()
}

/// parse_test.go TestRunCmdFlagsUsed.
#[test]
fn run_cmd_flags_used() {
    let m = only_mount("FROM a\nRUN --mount=type=tmpfs,target=/foo/ echo hello\n");
    assert_eq!(
        (m.kind, m.target.as_deref()),
        (MountKind::Tmpfs, Some("/foo/"))
    );
    assert_eq!(m.target_in("/").unwrap(), "/foo");
}

/// dockerfile_mount_test.go testMountInvalid: the three messages and their suggestions.
#[test]
fn mount_invalid() {
    assert_eq!(
        parse_error("FROM scratch\nRUN --mont=target=/mytmp,type=tmpfs /bin/true\n"),
        "unknown flag: --mont (did you mean mount?)"
    );
    assert_eq!(
        parse_error("FROM scratch\nRUN --mount=typ=tmpfs /bin/true\n"),
        "unexpected key 'typ' in 'typ=tmpfs' (did you mean type?)"
    );
    assert_eq!(
        parse_error("FROM scratch\nRUN --mount=type=tmp /bin/true\n"),
        "unsupported mount type \"tmp\" (did you mean tmpfs?)"
    );
}

/// testMountContext, testMountTmpfs, testMountRWCache, testMountTmpfsSize.
#[test]
fn context_tmpfs_and_rw_binds() {
    let m = only_mount("FROM a\nRUN --mount=target=/context cat /context/testfile\n");
    assert_eq!(
        (m.kind, m.readonly, &m.from),
        (MountKind::Bind, true, &None)
    );
    assert_eq!(m.source_path(), "/", "the whole build context");
    let m = only_mount("FROM a\nRUN --mount=target=/mytmp,type=tmpfs touch /mytmp/foo\n");
    assert_eq!((m.kind, m.readonly), (MountKind::Tmpfs, false));
    let m = only_mount("FROM a\nRUN --mount=from=build,src=out,target=/out,rw touch /out/bar\n");
    assert_eq!((m.from.as_deref(), m.readonly), (Some("build"), false));
    assert_eq!(m.source_path(), "/out");
    let m = only_mount("FROM a\nRUN --mount=type=tmpfs,target=/dev/shm,size=128m mount\n");
    assert_eq!(m.size, Some(128 << 20));
}

/// testCacheMountUser, testCacheMountDefaultID, testCacheMountParallel.
#[test]
fn cache_mounts() {
    let m = only_mount(
        "FROM a\nRUN --mount=type=cache,target=/mycache,uid=1001,gid=1002,mode=0751 true\n",
    );
    assert_eq!(
        (m.uid, m.gid, m.mode),
        (Some(1001), Some(1002), Some(0o751))
    );
    assert_eq!((m.readonly, m.cache_sharing()), (false, "shared"));
    let r = runs("FROM a\nRUN --mount=type=cache,target=/mycache touch /mycache/foo\nRUN --mount=type=cache,target=/mycache2 true\nRUN --mount=type=cache,target=/foo/bar --mount=type=cache,target=/foo/bar/baz echo 1\n");
    let ids: Vec<String> = r
        .iter()
        .flat_map(|r| &r.mounts)
        .map(|m| m.cache_id())
        .collect();
    assert_eq!(ids, ["/mycache", "/mycache2", "/foo/bar", "/foo/bar/baz"]);
}

/// testMountEnvVar: `target=$SOME_PATH` and `target=/$SOME_PATH` expand to the same cache.
#[test]
fn mount_env_var() {
    let r = runs("FROM a\nENV SOME_PATH=/mycache\nRUN --mount=type=cache,target=$SOME_PATH true\nRUN --mount=type=cache,target=/$SOME_PATH true\n");
    let vars = [("SOME_PATH", "/mycache")];
    assert_eq!(
        r[0].mounts[0].target.as_deref(),
        Some("$SOME_PATH"),
        "as written"
    );
    let a = &expanded(&r[0], &vars)[0];
    let b = &expanded(&r[1], &vars)[0];
    assert_eq!(
        (a.cache_id(), b.cache_id()),
        ("/mycache".into(), "/mycache".into())
    );
    assert_eq!(b.target_in("/").unwrap(), "/mycache");
}

/// testMountArg, testMountEnvAcrossStages, testMountMetaArg: `type`, `id` and `target` from
/// variables are read after expansion; at parse time the mount is provisional.
#[test]
fn mount_values_from_args_and_env() {
    let r = runs("FROM a\nARG MNT_TYPE=cache\nRUN --mount=type=$MNT_TYPE,target=/mycache2 true\n");
    assert_eq!(r[0].mounts[0].kind, MountKind::Bind, "provisional");
    let m = &expanded(&r[0], &[("MNT_TYPE", "cache")])[0];
    assert_eq!(
        (m.kind, m.cache_id()),
        (MountKind::Cache, "/mycache2".into())
    );
    let r = runs("FROM a\nRUN --mount=type=$MNT_TYPE2,id=$MNT_ID,target=/cbacba true\n");
    let m = &expanded(&r[0], &[("MNT_TYPE2", "cache"), ("MNT_ID", "mycache")])[0];
    assert_eq!((m.kind, m.cache_id()), (MountKind::Cache, "mycache".into()));
    let r = runs("ARG META_PATH=/tmp/meta\nFROM a\nARG META_PATH\nRUN --mount=type=cache,id=mycache,target=$META_PATH true\n");
    let m = &expanded(&r[0], &[("META_PATH", "/tmp/meta")])[0];
    assert_eq!(m.target_in("/").unwrap(), "/tmp/meta");
}

/// testMountFromError.
#[test]
fn mount_from_error() {
    let text =
        "FROM busybox AS base\nARG ttt=base\nRUN --mount=from=$ttt,type=cache,target=/tmp ls\n";
    assert_eq!(
        parse_error(text),
        "'from' doesn't support variable expansion, define alias stage instead"
    );
    only_mount("FROM a\nRUN --mount=from=stage$,target=/x true\n");
}

/// testMountDuplicate, testCacheMountSourceEscape: `source` is a path below the source root.
#[test]
fn mount_sources() {
    let r = runs("FROM a\nRUN --mount=source=.,target=/tmp/test --mount=source=b.txt,target=/tmp/b.txt true\nRUN --mount=type=cache,id=sourceescape,source=sel,target=/victim true\n");
    let sources: Vec<String> = r
        .iter()
        .flat_map(|r| &r.mounts)
        .map(|m| m.source_path())
        .collect();
    assert_eq!(sources, ["/", "/b.txt", "/sel"]);
    assert_eq!(r[1].mounts[0].cache_id(), "sourceescape");
}

/// dockerfile_secrets_test.go: testSecretFileParams, testSecretRequiredWithoutValue,
/// testSecretAsEnviron, testSecretAsEnvironWithFileMount.
#[test]
fn secrets() {
    let m = only_mount("FROM a\nRUN --mount=type=secret,required=false,mode=741,uid=100,gid=102,target=/mysecret true\n");
    assert_eq!(
        (m.required, m.mode, m.uid, m.gid),
        (false, Some(0o741), Some(100), Some(102))
    );
    assert_eq!(
        (m.secret_id(), m.secret_target()),
        ("mysecret".into(), Some("/mysecret".into()))
    );
    let m = only_mount("FROM a\nRUN --mount=type=secret,required,id=mysecret foo\n");
    assert_eq!((m.required, m.readonly), (true, true));
    assert_eq!(m.secret_target().as_deref(), Some("/run/secrets/mysecret"));
    let m = only_mount("FROM a\nRUN --mount=type=secret,id=mysecret,env=SECRET_ENV true\n");
    assert_eq!(
        (m.env.as_deref(), m.secret_target()),
        (Some("SECRET_ENV"), None)
    );
    let m = only_mount("FROM a\nRUN --mount=type=secret,id=mysecret,target=/run/secrets/secret,env=SECRET_ENV true\n");
    assert_eq!(m.secret_target().as_deref(), Some("/run/secrets/secret"));
    assert_eq!(m.secret_id(), "mysecret");
}

/// dockerfile_ssh_test.go testSSHSocketParams; dockerfile_outline_test.go testOutlineSecrets.
#[test]
fn ssh_and_outline() {
    let m = only_mount("FROM a\nRUN --mount=type=ssh,mode=741,uid=100,gid=102 true\n");
    assert_eq!((m.ssh_id().unwrap(), m.mode), ("default", Some(0o741)));
    assert_eq!(m.ssh_target(0), "/run/buildkit/ssh_agent.0");
    let r = runs("FROM busybox AS first\nRUN --mount=type=secret,target=/etc/passwd,required=true --mount=type=ssh true\nFROM scratch AS third\nARG BAR\nRUN --mount=type=secret,id=second${BAR} true\nFROM third AS target\nRUN --mount=type=ssh,id=ssh3,required true\n");
    let passwd = &r[0].mounts[0];
    assert_eq!(
        (passwd.secret_id(), passwd.required),
        ("passwd".into(), true)
    );
    assert_eq!(r[0].mounts[1].ssh_id().unwrap(), "default");
    assert_eq!(
        expanded(&r[1], &[("BAR", "678")])[0].secret_id(),
        "second678"
    );
    let ssh3 = &r[2].mounts[0];
    assert_eq!((ssh3.ssh_id().unwrap(), ssh3.required), ("ssh3", true));
}

/// convert_runmount.go and convert_ssh.go: the errors found when a mount is placed.
#[test]
fn placing_errors() {
    let m = only_mount("FROM a\nRUN --mount=type=cache true\n");
    let e = m.target_in("/").unwrap_err();
    assert_eq!(e.to_string(), "invalid mount target \"/\"");
    assert_eq!(m.target_in("/app").unwrap(), "/app");
    assert_eq!(
        m.cache_id(),
        ".",
        "path.Clean of the empty target, as BuildKit"
    );
    let m = only_mount("FROM a\nRUN --mount=type=ssh,src=x true\n");
    assert_eq!(
        m.ssh_id().unwrap_err().to_string(),
        "ssh does not support source"
    );
}
