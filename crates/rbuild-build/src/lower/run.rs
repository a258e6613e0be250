//! RUN: argv after SHELL wrapping (heredocs as BuildKit runs them), environment with the proxy
//! build args, user, workdir, network, mounts; its history text.

use std::collections::BTreeMap;

use rbuild_dockerfile::{Heredoc, Instruction, RunCmd, ShellOrExec};
use rbuild_sandbox::NetworkMode;

use super::fs::push_fs;
use super::meta::shell_of;
use super::state::StageState;
use super::Shared;
use crate::plan::{OpKind, RunMount, RunOp};
use crate::BuildError;

/// Where BuildKit shows a RUN heredoc that starts with `#!`, as an executable file.
const PIPES_DIR: &str = "/dev/pipes";

/// Lowers one RUN into a vertex of the plan.
pub(crate) fn run(
    shared: &mut Shared,
    st: &mut StageState,
    ins: &Instruction,
    run: RunCmd,
) -> Result<(), BuildError> {
    let line = ins.location.start_line;
    let request = shared.input.request;
    let network = run_network(run.network.as_deref(), request.network, line)?;
    if network == NetworkMode::Host && !request.allow.network_host {
        return Err(BuildError::at(line, "RUN on the host's network (--network=host) needs the network.host entitlement: build with --allow network.host".to_string()));
    }
    let insecure = run.security.as_deref() == Some("insecure");
    if insecure && !request.allow.security_insecure {
        return Err(BuildError::at(line, "RUN --security=insecure needs the security.insecure entitlement: build with --allow security.insecure".to_string()));
    }
    if !shared.run_platforms.contains(&st.out.platform) {
        shared.run_platforms.push(st.out.platform.clone());
    }
    let mut inputs = vec![st.out.vertex];
    let mut mounts = super::mounts::lower_mounts(shared, st, &run.mounts, line, &mut inputs)?;
    let step = shared.step(st, line, &ins.source);
    let c = &st.out.config.config;
    let (argv, script) = run_argv(&shell_of(c), run.cmd, &run.heredocs, line)?;
    mounts.extend(script);
    let (env, key_env) = run_env(shared, st);
    let created_by = super::history::run(&argv, &st.out.args, &st.expansion_env());
    let op = RunOp {
        argv,
        env,
        key_env,
        cwd: c.working_dir.clone().unwrap_or_else(|| "/".into()),
        user: c.user.clone().unwrap_or_default(),
        network,
        insecure,
        mounts,
        hostname: hostname(shared),
    };
    let v = shared.add(OpKind::Run(op), inputs, &st.name, step);
    push_fs(st, v, created_by);
    Ok(())
}

/// The hostname BuildKit's dockerui config reads from the build arg
/// `BUILDKIT_SANDBOX_HOSTNAME` (an empty value sets none); the arg counts as used.
fn hostname(shared: &mut Shared) -> Option<String> {
    const ARG: &str = "BUILDKIT_SANDBOX_HOSTNAME";
    let name = shared.input.request.build_args.get(ARG)?;
    shared.used_args.insert(ARG.to_string());
    Some(name.clone()).filter(|n| !n.is_empty())
}

/// `RUN --network=` wins over the build's `--network`; `default` means the build's mode.
fn run_network(
    flag: Option<&str>,
    build: Option<NetworkMode>,
    line: usize,
) -> Result<NetworkMode, BuildError> {
    match flag {
        None | Some("default") => Ok(build.unwrap_or_default()),
        Some("host") => Ok(NetworkMode::Host),
        Some("none") => Ok(NetworkMode::None),
        Some(other) => Err(BuildError::at(
            line,
            format!("unsupported network mode {other:?} (expected default, host or none)"),
        )),
    }
}

/// BuildKit (dispatchRun) runs a lone heredoc as the script itself, except one starting with
/// `#!`: that one becomes the executable file `/dev/pipes/<name>`, which the shell runs, so
/// its interpreter runs it. Other heredocs follow the command line for the shell to read.
fn run_argv(
    shell: &[String],
    cmd: ShellOrExec,
    heredocs: &[Heredoc],
    line: usize,
) -> Result<(Vec<String>, Option<RunMount>), BuildError> {
    let mut script_file = None;
    let script = match cmd {
        ShellOrExec::Exec(v) => return Ok((v, None)),
        ShellOrExec::Shell(s) if heredocs.is_empty() => s,
        ShellOrExec::Shell(s) => match lone_heredoc(&s, heredocs) {
            Some(doc) if doc.content.starts_with("#!") => {
                if doc.name.is_empty() || doc.name.contains('/') || doc.name.starts_with('.') {
                    let msg = format!("heredoc name {:?} cannot name a file", doc.name);
                    return Err(BuildError::at(line, msg));
                }
                script_file = Some(RunMount::Inline {
                    target: PIPES_DIR.to_string(),
                    name: doc.name.clone(),
                    content: doc.content.clone(),
                    mode: 0o755,
                });
                format!("{PIPES_DIR}/{}", doc.name)
            }
            Some(doc) => doc.content.clone(),
            None => {
                let mut full = s;
                for h in heredocs {
                    full.push('\n');
                    full.push_str(&h.content);
                    full.push_str(&h.name);
                }
                full
            }
        },
    };
    let mut argv = shell.to_vec();
    argv.push(script);
    Ok((argv, script_file))
}

/// The heredoc a command line consisting of only its `<<EOF` word names.
fn lone_heredoc<'a>(line: &str, heredocs: &'a [Heredoc]) -> Option<&'a Heredoc> {
    let [doc] = heredocs else { return None };
    let word = line
        .trim()
        .trim_start_matches("<<")
        .trim_start_matches('-')
        .trim_matches(['"', '\'']);
    (word == doc.name).then_some(doc)
}

/// The RUN environment: the config's env, the ARGs with values (an ARG set after the ENV of
/// its name replaces it, one set before is shadowed by it, as in BuildKit's state), then the
/// proxy build args (see [`proxy_env`]); the cache key leaves the proxy values out.
fn run_env(shared: &Shared, st: &StageState) -> (Vec<String>, Vec<String>) {
    let mut env: Vec<String> = st.out.config.config.env.clone().unwrap_or_default();
    for (k, v) in st.out.args.iter() {
        let Some(v) = v else { continue };
        if st.out.args.over_env(k) {
            set_env(&mut env, format!("{k}={v}"));
        } else if st.env_value(k).is_none() {
            env.push(format!("{k}={v}"));
        }
    }
    let key_env = env.clone();
    for kv in proxy_env(&shared.input.request.build_args) {
        set_env(&mut env, kv);
    }
    (env, key_env)
}

/// BuildKit's proxy environment (dockerfile2llb `proxyEnvFromBuildArgs`, solver
/// `proxyEnvList`): a build arg named `http_proxy`, `https_proxy`, `ftp_proxy`, `no_proxy`
/// or `all_proxy` in any case (the last in byte order wins) reaches every RUN in both
/// spellings, upper case first, declared by ARG or not; an empty value sets nothing.
pub(crate) fn proxy_env(build_args: &BTreeMap<String, String>) -> Vec<String> {
    const NAMES: [&str; 5] = [
        "http_proxy",
        "https_proxy",
        "ftp_proxy",
        "no_proxy",
        "all_proxy",
    ];
    let mut out = Vec::new();
    for name in NAMES {
        let value = build_args
            .iter()
            .rfind(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str());
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            out.push(format!("{}={v}", name.to_uppercase()));
            out.push(format!("{name}={v}"));
        }
    }
    out
}

/// Sets `K=V` in `env`, replacing an entry of the same key in place (as containerd's
/// WithEnv does with BuildKit's appended proxy variables).
fn set_env(env: &mut Vec<String>, kv: String) {
    let key = kv.split_once('=').map_or(kv.as_str(), |(k, _)| k);
    let same = |e: &String| e.split_once('=').map_or(e.as_str(), |(k, _)| k) == key;
    match env.iter().position(same) {
        Some(i) => env[i] = kv,
        None => env.push(kv),
    }
}

#[cfg(test)]
#[allow(non_snake_case)] // test names carry BuildKit's Go test names
mod tests {
    use super::*;

    fn args(kv: &[(&str, &str)]) -> BTreeMap<String, String> {
        kv.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn proxy_args_reach_run_in_both_spellings__buildkit_testBuiltinArgs() {
        let env = proxy_env(&args(&[
            ("FOO", "foocontents"),
            ("http_proxy", "hpvalue"),
            ("NO_PROXY", "npvalue"),
        ]));
        assert_eq!(
            env,
            [
                "HTTP_PROXY=hpvalue",
                "http_proxy=hpvalue",
                "NO_PROXY=npvalue",
                "no_proxy=npvalue"
            ]
        );
    }

    #[test]
    fn the_last_spelling_in_byte_order_wins__buildkit_TestProxyEnvFromBuildArgsDeterministicOrder()
    {
        let env = proxy_env(&args(&[
            ("ALL_PROXY", "all-upper"),
            ("all_proxy", "all-lower"),
            ("HTTP_PROXY", "http-upper"),
            ("http_proxy", "http-lower"),
            ("Https_Proxy", ""),
        ]));
        assert_eq!(
            env,
            [
                "HTTP_PROXY=http-lower",
                "http_proxy=http-lower",
                "ALL_PROXY=all-lower",
                "all_proxy=all-lower"
            ]
        );
        assert!(proxy_env(&args(&[("FOO", "x")])).is_empty());
    }

    #[test]
    fn proxy_values_replace_an_env_of_the_same_name() {
        let mut env = vec!["A=1".to_string(), "HTTP_PROXY=old".to_string()];
        set_env(&mut env, "HTTP_PROXY=new".into());
        set_env(&mut env, "http_proxy=new".into());
        assert_eq!(env, ["A=1", "HTTP_PROXY=new", "http_proxy=new"]);
    }

    #[test]
    fn a_shebang_heredoc_becomes_an_executable_file__buildkit_testRunShebangHeredoc() {
        let sh = vec!["/bin/sh".to_string(), "-c".to_string()];
        let doc = Heredoc {
            name: "EOF".into(),
            content: "#!/usr/bin/awk -f\nBEGIN { print 1 }\n".into(),
            expand: true,
        };
        let cmd = ShellOrExec::Shell("<<EOF".into());
        let (argv, mount) = run_argv(&sh, cmd, std::slice::from_ref(&doc), 1).unwrap();
        assert_eq!(argv, ["/bin/sh", "-c", "/dev/pipes/EOF"]);
        assert_eq!(
            mount,
            Some(RunMount::Inline {
                target: "/dev/pipes".into(),
                name: "EOF".into(),
                content: doc.content.clone(),
                mode: 0o755
            })
        );
        let plain = Heredoc {
            content: "echo hi\n".into(),
            ..doc
        };
        let cmd = ShellOrExec::Shell("<<EOF".into());
        let (argv, mount) = run_argv(&sh, cmd, &[plain], 1).unwrap();
        assert_eq!(argv, ["/bin/sh", "-c", "echo hi\n"]);
        assert_eq!(mount, None);
    }
}
