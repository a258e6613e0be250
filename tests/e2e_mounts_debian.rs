//! Issue 14 on a Debian base (debootstrap'd once, see rbuild_testkit::debian_tarball): apt's
//! caches on cache mounts make a `--no-cache` rebuild download no package, as BuildKit's
//! documentation shows; and `RUN --mount=type=ssh` reaches an agent: one the test runs
//! (`--ssh default`) and one rbuild runs for a key file (`--ssh ID=KEYFILE`), seen with
//! `ssh-add -l` from openssh-client installed by apt in an earlier step.

mod common;

use common::mounts::{debian_env, dockerfile, step_output, TestAgent};
use common::text;

/// BuildKit's documented recipe: drop the official image's docker-clean and keep downloaded
/// packages, then put apt's cache and lists on cache mounts.
const APT_PREP: &str = "RUN rm -f /etc/apt/apt.conf.d/docker-clean; \
    echo 'Binary::apt::APT::Keep-Downloaded-Packages \"true\";' > /etc/apt/apt.conf.d/keep-cache";
const APT_RUN: &str = "RUN --mount=type=cache,target=/var/cache/apt,sharing=locked \
    --mount=type=cache,target=/var/lib/apt/lists \
    apt-get update && apt-get install -y --no-install-recommends jq && jq --version";

/// apt's `Get:` lines that fetch a package (`... bookworm/main amd64 jq amd64 1.6 [..]`) or an
/// index (`Packages`, `Translation`), as opposed to the InRelease check every update makes.
fn downloads(lines: &[String]) -> Vec<&String> {
    lines
        .iter()
        .filter(|l| l.starts_with("Get:") && !l.contains(" InRelease"))
        .collect()
}

#[test]
fn apt_cache_mounts_make_a_no_cache_rebuild_download_nothing() {
    let env = debian_env();
    let ctx = tempfile::tempdir().unwrap();
    dockerfile(
        ctx.path(),
        &format!("FROM debian:bookworm\n{APT_PREP}\n{APT_RUN}\n"),
    );
    let first = env.build_ok(ctx.path(), "apt:1", &[]);
    let out = step_output(&first, "apt-get update");
    assert!(
        out.iter().any(|l| l.starts_with("jq-")),
        "jq not installed:\n{first}"
    );
    let got = downloads(&out);
    assert!(
        got.iter().any(|l| l.contains(" jq amd64 ")),
        "the first build must download jq (else the second proves nothing):\n{first}"
    );

    let second = env.build_ok(ctx.path(), "apt:1", &["--no-cache"]);
    let out = step_output(&second, "apt-get update");
    assert!(out.iter().any(|l| l.starts_with("jq-")), "{second}");
    assert!(
        out.iter().any(|l| l.starts_with("Need to get 0 B")),
        "apt must say it needs to get 0 B:\n{second}"
    );
    assert_eq!(downloads(&out), Vec::<&String>::new(), "{second}");
    // The caches stay out of the image: Debian's image has no lists and no packages.
    let fs = env.umoci_unpack("apt:1").join("rootfs");
    let lists = std::fs::read_dir(fs.join("var/lib/apt/lists")).map_or(0, |d| d.count());
    assert!(lists <= 1, "apt lists in the image ({lists} entries)");
    let debs = std::fs::read_dir(fs.join("var/cache/apt/archives")).map_or(0, |d| {
        d.flatten()
            .filter(|e| e.path().extension().is_some_and(|x| x == "deb"))
            .count()
    });
    assert_eq!(debs, 0, "downloaded packages in the image");
}

#[test]
fn ssh_mounts_list_the_key_of_the_forwarded_agent_and_of_rbuilds_own_agent() {
    let env = debian_env();
    let agent = TestAgent::start("rbuild-issue14-agent-key");
    let deploy = TestAgent::start("rbuild-issue14-deploy-key");
    let ctx = tempfile::tempdir().unwrap();
    dockerfile(
        ctx.path(),
        "FROM debian:bookworm\n\
         RUN apt-get update && apt-get install -y --no-install-recommends openssh-client\n\
         RUN --mount=type=ssh echo \"sock=$SSH_AUTH_SOCK\" && ssh-add -l\n\
         RUN --mount=type=ssh,id=deploy,target=/tmp/deploy.sock echo \"sock=$SSH_AUTH_SOCK\" && ssh-add -l\n",
    );
    let key = format!("deploy={}", deploy.key.display());
    let socket = agent.socket.to_str().unwrap();
    let args = [
        "build",
        "--progress",
        "plain",
        "-t",
        "ssh:1",
        "--ssh",
        "default",
        "--ssh",
        &key,
    ];
    let out = env.rbuild_env(
        &[&args[..], &[ctx.path().to_str().unwrap()]].concat(),
        &[("SSH_AUTH_SOCK", socket)],
    );
    let log = text(&out);
    assert!(out.status.success(), "{log}");
    let default = step_output(&log, "RUN --mount=type=ssh echo");
    assert_eq!(default[0], "sock=/run/buildkit/ssh_agent.0", "{log}");
    assert_eq!(default.len(), 2, "exactly the test agent's one key:\n{log}");
    assert!(default[1].contains(&agent.fingerprint), "{log}");
    assert!(default[1].contains("rbuild-issue14-agent-key"), "{log}");
    // --ssh deploy=KEYFILE: rbuild loaded the file into an agent of its own for the step.
    let own = step_output(&log, "id=deploy");
    assert_eq!(own[0], "sock=/tmp/deploy.sock", "{log}");
    assert_eq!(own.len(), 2, "exactly the deploy key:\n{log}");
    assert!(own[1].contains(&deploy.fingerprint), "{log}");
    // The socket mount points are not in the image.
    let fs = env.umoci_unpack("ssh:1").join("rootfs");
    assert!(!fs.join("run/buildkit").exists() && !fs.join("tmp/deploy.sock").exists());
}
