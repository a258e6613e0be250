//! Config-only instructions: ENV, LABEL, WORKDIR, USER, EXPOSE, CMD, ENTRYPOINT, VOLUME,
//! STOPSIGNAL, HEALTHCHECK, SHELL, ONBUILD, MAINTAINER. They make no layer, only history
//! (worded as BuildKit words it: `history`); ONBUILD not even that, as in BuildKit.

use std::collections::BTreeMap;

use rbuild_dockerfile::{Command, Healthcheck, Instruction, ShellOrExec};
use rbuild_oci::ImageConfigBody;
use serde_json::Value;

use super::history;
use super::state::StageState;
use crate::image::HistorySlot;
use crate::BuildError;

/// Adds a history entry for a config-only instruction (BuildKit gives it no step number).
pub(crate) fn record(st: &mut StageState, text: &str) {
    st.out.history.push(HistorySlot::Meta {
        created_by: text.to_string(),
        steps_before: st.out.fs_steps,
    });
}

/// The shell a shell-form command runs under.
pub(crate) fn shell_of(c: &ImageConfigBody) -> Vec<String> {
    c.shell
        .clone()
        .unwrap_or_else(|| vec!["/bin/sh".into(), "-c".into()])
}

fn argv(c: &ImageConfigBody, cmd: ShellOrExec) -> Vec<String> {
    match cmd {
        ShellOrExec::Exec(v) => v,
        ShellOrExec::Shell(s) => {
            let mut v = shell_of(c);
            v.push(s);
            v
        }
    }
}

/// Applies a config-only instruction.
pub(crate) fn apply(
    st: &mut StageState,
    ins: &Instruction,
    cmd: Command,
    warnings: &mut Vec<String>,
) -> Result<(), BuildError> {
    let line = ins.location.start_line;
    if let Command::Env(kvs) = &cmd {
        kvs.iter().for_each(|kv| st.set_env(&kv.key, &kv.value));
        let secret = kvs.iter().filter(|kv| super::lint::looks_secret(&kv.key));
        warnings.extend(secret.map(|kv| super::lint::secret_warning("ENV", &kv.key, Some(line))));
        record(st, &format!("ENV{}", pairs_text(kvs)));
        return Ok(());
    }
    let text = match cmd {
        Command::Cmd(_)
        | Command::Entrypoint(_)
        | Command::Healthcheck(_)
        | Command::OnBuild(_) => process_config(st, cmd),
        other => Some(image_config(st, other, line, warnings)?),
    };
    if let Some(text) = text {
        record(st, &text);
    }
    Ok(())
}

/// CMD, ENTRYPOINT, HEALTHCHECK and ONBUILD: the history text (none for ONBUILD, as
/// BuildKit's dispatchOnbuild writes none).
fn process_config(st: &mut StageState, cmd: Command) -> Option<String> {
    let c = &mut st.out.config.config;
    Some(match cmd {
        Command::Cmd(cmd) => {
            let v = argv(c, cmd);
            let text = format!("CMD {}", history::quoted_list(&v));
            c.cmd = Some(v);
            // BuildKit's dispatchCmd sets Docker's ArgsEscaped on every CMD.
            c.args_escaped = Some(true);
            st.cmd_set = true;
            text
        }
        Command::Entrypoint(ep) => {
            let v = argv(c, ep);
            let text = format!("ENTRYPOINT {}", history::quoted_list(&v));
            // BuildKit leaves an empty exec form out of the config (null, not `[]`).
            c.entrypoint = Some(v).filter(|v| !v.is_empty());
            if !st.cmd_set {
                c.cmd = None;
            }
            text
        }
        Command::Healthcheck(h) => {
            let h = healthcheck(h);
            let text = history::healthcheck(&h);
            c.healthcheck = Some(h);
            text
        }
        Command::OnBuild(t) => {
            c.on_build.get_or_insert_with(Vec::new).push(t);
            return None;
        }
        _ => return None,
    })
}

/// LABEL, MAINTAINER, WORKDIR, USER, EXPOSE, VOLUME, STOPSIGNAL and SHELL: the history text.
fn image_config(
    st: &mut StageState,
    cmd: Command,
    line: usize,
    warnings: &mut Vec<String>,
) -> Result<String, BuildError> {
    let c = &mut st.out.config.config;
    Ok(match cmd {
        Command::Label(kvs) => {
            let text = format!("LABEL{}", pairs_text(&kvs));
            let labels = c.labels.get_or_insert_with(BTreeMap::new);
            kvs.into_iter()
                .for_each(|kv| drop(labels.insert(kv.key, kv.value)));
            text
        }
        Command::Maintainer(m) => {
            let text = format!("MAINTAINER {m}");
            st.out.config.author = Some(m);
            text
        }
        Command::Workdir(dir) => {
            let path = join_workdir(c.working_dir.as_deref(), &dir);
            c.working_dir = Some(path.clone());
            format!("WORKDIR {path}")
        }
        Command::User(u) => {
            let text = format!("USER {u}");
            c.user = Some(u);
            text
        }
        Command::Expose(ports) => {
            format!(
                "EXPOSE {}",
                history::plain_list(&expose(c, &ports, line, warnings)?)
            )
        }
        Command::Volume(vols) => volume(c, vols, line)?,
        Command::StopSignal(s) => {
            super::signal::check(&s).map_err(|e| BuildError::at(line, e.to_string()))?;
            let text = format!("STOPSIGNAL {s}");
            c.stop_signal = Some(s);
            text
        }
        Command::Shell(sh) => {
            let text = format!("SHELL {}", history::plain_list(&sh));
            c.shell = Some(sh);
            text
        }
        other => {
            let msg = format!("instruction {other:?} cannot be applied to the config");
            return Err(BuildError::at(line, msg));
        }
    })
}

/// VOLUME's entries into the config; its history text.
fn volume(c: &mut ImageConfigBody, vols: Vec<String>, line: usize) -> Result<String, BuildError> {
    if vols.iter().any(String::is_empty) {
        // BuildKit's dispatchVolume words it so (an empty value after expansion).
        let msg = "VOLUME specified can not be an empty string";
        return Err(BuildError::at(line, msg));
    }
    let text = format!("VOLUME {}", history::plain_list(&vols));
    let map = c.volumes.get_or_insert_with(BTreeMap::new);
    vols.into_iter()
        .for_each(|v| drop(map.insert(v, Value::Object(Default::default()))));
    Ok(text)
}

/// ` k=v k2=v2` of ENV and LABEL (BuildKit's KeyValuePair.String, values expanded).
fn pairs_text(kvs: &[rbuild_dockerfile::KeyValue]) -> String {
    kvs.iter()
        .map(|kv| format!(" {}={}", kv.key, kv.value))
        .collect()
}

/// WORKDIR: relative paths join the current one; the result is cleaned.
pub(crate) fn join_workdir(current: Option<&str>, dir: &str) -> String {
    let joined = if dir.starts_with('/') {
        dir.to_string()
    } else {
        format!("{}/{dir}", current.unwrap_or("/"))
    };
    format!(
        "/{}",
        rbuild_context::tree::clean_components(&joined).join("/")
    )
}

/// Adds the ports to the config; returns them as BuildKit lists them in history, `80/tcp`, in
/// the order of the (sorted) words, ranges spread out (`rbuild_dockerfile::expose_ports`,
/// BuildKit's parsePort); an IP or host port is ignored with BuildKit's lint warning.
fn expose(
    c: &mut ImageConfigBody,
    ports: &[String],
    line: usize,
    warnings: &mut Vec<String>,
) -> Result<Vec<String>, BuildError> {
    let map = c.exposed_ports.get_or_insert_with(BTreeMap::new);
    let mut listed = Vec::new();
    for p in ports {
        let spread =
            rbuild_dockerfile::expose_ports(p).map_err(|e| BuildError::at(line, e.to_string()))?;
        if p.contains(':') {
            warnings.push(format!(
                "line {line}: EXPOSE instruction should not define an IP address or host-port \
                 mapping, found '{p}' (ExposeInvalidFormat)"
            ));
        }
        for port in spread {
            map.insert(port.clone(), Value::Object(Default::default()));
            listed.push(port);
        }
    }
    Ok(listed)
}

fn healthcheck(h: Healthcheck) -> rbuild_oci::Healthcheck {
    let ns = |d: Option<std::time::Duration>| d.map(|d| d.as_nanos() as u64);
    match h {
        Healthcheck::None => rbuild_oci::Healthcheck {
            test: vec!["NONE".into()],
            ..Default::default()
        },
        Healthcheck::Check {
            test,
            interval,
            timeout,
            start_period,
            start_interval,
            retries,
        } => {
            let test = match test {
                ShellOrExec::Exec(v) => std::iter::once("CMD".to_string()).chain(v).collect(),
                ShellOrExec::Shell(s) => vec!["CMD-SHELL".to_string(), s],
            };
            rbuild_oci::Healthcheck {
                test,
                interval: ns(interval),
                timeout: ns(timeout),
                start_period: ns(start_period),
                start_interval: ns(start_interval),
                retries,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn workdir_joins_and_cleans() {
        assert_eq!(join_workdir(None, "app"), "/app");
        assert_eq!(join_workdir(Some("/a"), "b/../c"), "/a/c");
        assert_eq!(join_workdir(Some("/a"), "/x/"), "/x");
    }

    #[test]
    fn expose_ranges_and_protocols() {
        let mut c = ImageConfigBody::default();
        let mut w = Vec::new();
        expose(
            &mut c,
            &["80".into(), "53/UDP".into(), "8000-8001".into()],
            1,
            &mut w,
        )
        .unwrap();
        let listed = expose(&mut c, &["1234/udp".into(), "2375".into()], 1, &mut w).unwrap();
        assert_eq!(listed, ["1234/udp", "2375/tcp"]);
        assert!(w.is_empty());
        // BuildKit's parsePort: the IP and host port are checked, linted and dropped.
        let listed = expose(&mut c, &["127.0.0.1:8080:80/udp".into()], 2, &mut w).unwrap();
        assert_eq!(listed, ["80/udp"]);
        assert_eq!(w.len(), 1, "{w:?}");
        let keys: Vec<_> = c.exposed_ports.unwrap().into_keys().collect();
        assert_eq!(
            keys,
            vec!["1234/udp", "2375/tcp", "53/udp", "80/tcp", "80/udp", "8000/tcp", "8001/tcp"]
        );
        for bad in [
            "x",
            "80-70",
            "1.2.3:80:80",
            "8000-8001:80-90",
            "80/foo",
            "70000",
        ] {
            let mut c = ImageConfigBody::default();
            assert!(expose(&mut c, &[bad.into()], 1, &mut w).is_err(), "{bad}");
        }
    }
}
