//! Issue 14: `RUN --mount=type=secret` and `type=ssh` options end to end on busybox: a file
//! secret at its default target with the default mode, a custom target with mode/uid/gid, an
//! `env=` secret, a missing optional secret (target absent), a missing required secret or ssh
//! agent (the build fails saying why). Steps check a secret by its sha256, so no value is ever
//! written in a Dockerfile. That values never leak is in e2e_mounts_leaks.rs; an agent's keys
//! listed from inside a step in e2e_mounts_debian.rs.

mod common;

use std::io::Write;
use std::process::{Command, Stdio};

use common::context::{rootfs, write};
use common::mounts::{dockerfile, step_output};
use common::{text, Env};

/// `sha256sum` of `value` as busybox prints it for stdin: `HEX  -`.
fn sha_line(value: &str) -> String {
    let mut child = Command::new(rbuild_testkit::require_tool("sha256sum", "coreutils"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(value.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

const STEPS: [&str; 5] = [
    "RUN --mount=type=secret,id=tok test \"$(sha256sum < /run/secrets/tok)\" = \"{FILE}\" && stat -c 'default %a %u %g' /run/secrets/tok",
    "RUN --mount=type=secret,id=tok,target=/etc/app/tok,mode=0440,uid=1000,gid=1000 test \"$(sha256sum < /etc/app/tok)\" = \"{FILE}\" && stat -c 'custom %a %u %g' /etc/app/tok && if (echo x >> /etc/app/tok) 2>/dev/null; then echo writable; else echo read-only; fi",
    "RUN --mount=type=secret,id=envtok,env=TOK_VAR test \"$(printf %s \"$TOK_VAR\" | sha256sum)\" = \"{ENV}\" && echo env ok && test ! -e /run/secrets/envtok && echo no file",
    "RUN --mount=type=secret,id=absent test ! -e /run/secrets/absent && echo absent ok",
    "RUN --mount=type=secret,id=absent,env=ABSENT_VAR test -z \"${ABSENT_VAR+set}\" && echo unset ok",
];

#[test]
fn secret_targets_modes_owners_env_and_optional_absence() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let (file_value, env_value) = ("file-value-7f3a91", "env-value-c0ffee");
    let secret_file = dir.path().join("tok");
    std::fs::write(&secret_file, file_value).unwrap();
    let steps: Vec<String> = STEPS
        .iter()
        .map(|s| {
            s.replace("{FILE}", &sha_line(file_value))
                .replace("{ENV}", &sha_line(env_value))
        })
        .collect();
    dockerfile(
        ctx.path(),
        &format!("FROM busybox:latest\n{}\n", steps.join("\n")),
    );
    let tok = format!("id=tok,src={}", secret_file.display());
    let args = [
        "build",
        "--progress",
        "plain",
        "-t",
        "sec:1",
        "--secret",
        &tok,
    ];
    let args = [
        &args[..],
        &[
            "--secret",
            "id=envtok,env=HOST_TOK",
            ctx.path().to_str().unwrap(),
        ],
    ];
    let out = env.rbuild_env(&args.concat(), &[("HOST_TOK", env_value)]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    let out = |i: usize| step_output(&log, &steps[i]);
    assert_eq!(out(0), ["default 400 0 0"], "{log}");
    assert_eq!(out(1), ["custom 440 1000 1000", "read-only"], "{log}");
    assert_eq!(out(2), ["env ok", "no file"], "{log}");
    assert_eq!(out(3), ["absent ok"], "{log}");
    assert_eq!(out(4), ["unset ok"], "{log}");
    let fs = rootfs(&env, "sec:1");
    for gone in ["run/secrets", "etc/app/tok"] {
        assert!(
            !fs.join(gone).exists(),
            "/{gone} (a secret's mount point) in the image"
        );
    }
}

#[test]
fn a_missing_required_secret_fails_the_step_naming_its_id() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    dockerfile(
        ctx.path(),
        "FROM busybox:latest\nRUN --mount=type=secret,id=deploy-token,required=true echo ran-anyway\n",
    );
    let log = env.build_fails(ctx.path(), "req:1", &[]);
    let error = log
        .lines()
        .find(|l| l.starts_with("ERROR: "))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(error.contains("secret deploy-token"), "{error}");
    let ran = step_output(&log, "id=deploy-token");
    assert!(ran.is_empty(), "the step ran: {ran:?}");
    // With the secret given, the same Dockerfile builds.
    let dir = tempfile::tempdir().unwrap();
    write(&dir.path().join("t"), "x");
    let spec = format!("id=deploy-token,src={}", dir.path().join("t").display());
    env.build_ok(ctx.path(), "req:1", &["--secret", &spec]);
}

#[test]
fn a_required_ssh_mount_without_ssh_fails_and_says_which_flag_to_give() {
    let env = Env::new();
    let ctx = tempfile::tempdir().unwrap();
    dockerfile(
        ctx.path(),
        "FROM busybox:latest\nRUN --mount=type=ssh,required=true echo ran-anyway\n",
    );
    let log = env.build_fails(ctx.path(), "ssh:1", &[]);
    let error = log
        .lines()
        .find(|l| l.starts_with("ERROR: "))
        .unwrap_or_else(|| panic!("{log}"));
    assert!(
        error.contains("\"default\"") && error.contains("--ssh default"),
        "{error}"
    );
    // Without required=true the step runs with no agent (BuildKit's default).
    dockerfile(
        ctx.path(),
        "FROM busybox:latest\nRUN --mount=type=ssh sh -c 'test -S \"$SSH_AUTH_SOCK\" && echo agent || echo no-agent'\n",
    );
    let log = env.build_ok(ctx.path(), "ssh:2", &[]);
    assert_eq!(
        step_output(&log, "RUN --mount=type=ssh sh"),
        ["no-agent"],
        "{log}"
    );
    // A named id that is missing is named too.
    dockerfile(
        ctx.path(),
        "FROM busybox:latest\nRUN --mount=type=ssh,id=deploy,required=true true\n",
    );
    let log = env.build_fails(ctx.path(), "ssh:3", &[]);
    assert!(
        log.contains("\"deploy\"") && log.contains("--ssh deploy"),
        "{log}"
    );
}
