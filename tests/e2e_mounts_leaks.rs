//! Issue 14 "Secrets stay secret": a file secret, an `env=` secret and a build arg named
//! NPM_TOKEN are each used by a step (checked by sha256, so the Dockerfile never holds them),
//! then their values are searched for in the whole store directory (layer blobs decompressed),
//! in `-o type=oci` and `-o type=docker` archives (unpacked, layers decompressed), in the
//! `--progress plain` output of a good and of a failing build, and in the image config: 0 hits.
//! The NPM_TOKEN build arg must also be warned about, as BuildKit's SecretsUsedInArgOrEnv does.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use common::context::rootfs;
use common::leaks::{contains, files_holding, unpack};
use common::mounts::dockerfile;
use common::{text, Env};

/// The three values, unique to this run.
struct Values {
    file: String,
    env: String,
    arg: String,
    /// Written into a layer by a step (reversed in the Dockerfile, so only the layer holds
    /// it): the search must find it, or it could not have found a leak either.
    control: String,
}

impl Values {
    fn new() -> Values {
        let n = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos();
        let id = format!("{}x{n}", std::process::id());
        Values {
            file: format!("filesecret{id}"),
            env: format!("envsecret{id}"),
            arg: format!("npm{id}"),
            control: format!("control{id}"),
        }
    }

    fn all(&self) -> [(&str, &str); 3] {
        [
            ("file secret", &self.file),
            ("env= secret", &self.env),
            ("NPM_TOKEN", &self.arg),
        ]
    }
}

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

/// Runs `rbuild build` of `ctx` with the two secrets and the build arg.
fn build(env: &Env, ctx: &Path, v: &Values, secret_file: &Path, extra: &[&str]) -> Output {
    let file = format!("id=filetok,src={}", secret_file.display());
    let arg = format!("NPM_TOKEN={}", v.arg);
    let mut args = vec!["build", "--progress", "plain", "--secret", &file];
    args.extend(["--secret", "id=envtok,env=HOST_ENVTOK", "--build-arg", &arg]);
    args.extend(extra);
    args.push(ctx.to_str().unwrap());
    env.rbuild_env(&args, &[("HOST_ENVTOK", v.env.as_str())])
}

/// A Dockerfile whose steps use the three values and leave a witness file each.
fn good_dockerfile(ctx: &Path, v: &Values) {
    dockerfile(
        ctx,
        &format!(
            "FROM busybox:latest\nARG NPM_TOKEN\n\
             RUN --mount=type=secret,id=filetok test \"$(sha256sum < /run/secrets/filetok)\" = \"{}\" && echo ok > /file-ok\n\
             RUN --mount=type=secret,id=envtok,env=ENVTOK test \"$(printf %s \"$ENVTOK\" | sha256sum)\" = \"{}\" && echo ok > /env-ok\n\
             RUN test \"$(printf %s \"$NPM_TOKEN\" | sha256sum)\" = \"{}\" && echo ok > /arg-ok\n\
             RUN printf %s {} | rev > /control\n",
            sha_line(&v.file),
            sha_line(&v.env),
            sha_line(&v.arg),
            v.control.chars().rev().collect::<String>()
        ),
    );
}

fn assert_nowhere_in(what: &str, hay: &[u8], v: &Values) {
    for (name, value) in v.all() {
        assert!(!contains(hay, value), "the {name}'s value is in {what}");
    }
}

fn assert_not_in_tree(what: &str, root: &Path, v: &Values) {
    for (name, value) in v.all() {
        let (hits, searched) = files_holding(root, value);
        assert!(
            searched > 3,
            "{what}: only {searched} files searched in {}",
            root.display()
        );
        assert!(
            hits.is_empty(),
            "the {name}'s value is in {what}: {hits:#?}"
        );
    }
}

#[test]
fn secret_and_build_arg_values_reach_no_store_file_archive_output_or_config() {
    let env = Env::new();
    let v = Values::new();
    let ctx = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let secret_file = outside.path().join("filetok");
    std::fs::write(&secret_file, &v.file).unwrap();
    good_dockerfile(ctx.path(), &v);
    let (oci, docker) = (
        outside.path().join("oci.tar"),
        outside.path().join("docker.tar"),
    );
    let outputs = [
        "-t".to_string(),
        "leak:1".to_string(),
        "-o".to_string(),
        "type=image".to_string(),
        "-o".to_string(),
        format!("type=oci,dest={}", oci.display()),
        "-o".to_string(),
        format!("type=docker,dest={}", docker.display()),
    ];
    let outputs: Vec<&str> = outputs.iter().map(String::as_str).collect();
    let out = build(&env, ctx.path(), &v, &secret_file, &outputs);
    assert!(out.status.success(), "{}", text(&out));
    // The values were really used: each step checked one and left its witness.
    let fs = rootfs(&env, "leak:1");
    for witness in ["file-ok", "env-ok", "arg-ok"] {
        assert!(
            fs.join(witness).is_file(),
            "/{witness} missing: a step did not see its value"
        );
    }
    assert_nowhere_in("the progress output", text(&out).as_bytes(), &v);
    let config = serde_json::to_vec(&env.skopeo_config("leak:1")).unwrap();
    assert_nowhere_in("the image config", &config, &v);
    assert_nowhere_in(
        "rbuild inspect",
        &env.rbuild(&["inspect", "leak:1"]).stdout,
        &v,
    );
    for (name, tar) in [("oci", &oci), ("docker", &docker)] {
        let dir = outside.path().join(format!("{name}-unpacked"));
        unpack(tar, &dir);
        assert_not_in_tree(&format!("the type={name} archive"), &dir, &v);
        let (found, _) = files_holding(&dir, &v.control);
        assert!(
            !found.is_empty(),
            "the search missed the control value in {name}'s layers"
        );
    }
    assert_not_in_tree("the store", &env.store(), &v);
    assert!(!files_holding(&env.store(), &v.control).0.is_empty());
}

#[test]
fn a_failing_step_using_secrets_leaks_none_into_its_output_or_the_store() {
    let env = Env::new();
    let v = Values::new();
    let ctx = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let secret_file = outside.path().join("filetok");
    std::fs::write(&secret_file, &v.file).unwrap();
    good_dockerfile(ctx.path(), &v);
    let out = build(&env, ctx.path(), &v, &secret_file, &["-t", "leak:1"]);
    assert!(out.status.success(), "{}", text(&out));
    // The same values, then a step that fails while all three are in use.
    let failing = "RUN --mount=type=secret,id=filetok --mount=type=secret,id=envtok,env=ENVTOK \
                   sh -c 'grep -q nothing-such /run/secrets/filetok || test \"$ENVTOK$NPM_TOKEN\" = never'\n";
    let body = std::fs::read_to_string(ctx.path().join("Dockerfile")).unwrap() + failing;
    dockerfile(ctx.path(), &body);
    let out = build(&env, ctx.path(), &v, &secret_file, &["-t", "leak:2"]);
    let log = text(&out);
    assert!(!out.status.success(), "the last step must fail:\n{log}");
    assert!(log.contains("exit code: 1"), "{log}");
    assert_nowhere_in(
        "the progress output of the failing build",
        log.as_bytes(),
        &v,
    );
    assert_not_in_tree("the store after the failing build", &env.store(), &v);
}

#[test]
fn a_build_arg_named_npm_token_is_warned_about_like_secrets_used_in_arg_or_env() {
    let env = Env::new();
    let v = Values::new();
    let ctx = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let secret_file = outside.path().join("filetok");
    std::fs::write(&secret_file, &v.file).unwrap();
    good_dockerfile(ctx.path(), &v);
    let out = build(&env, ctx.path(), &v, &secret_file, &["-t", "warn:1"]);
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    // BuildKit: `WARN: SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive
    // data (ARG "NPM_TOKEN") (line 2)`.
    let warned = log.lines().any(|l| {
        l.contains("NPM_TOKEN") && (l.contains("SecretsUsedInArgOrEnv") || l.contains("sensitive"))
    });
    assert!(
        warned,
        "no SecretsUsedInArgOrEnv-like warning naming NPM_TOKEN:\n{log}"
    );
    assert_nowhere_in("the warning", log.as_bytes(), &v);
}
