//! Instructions with simple arguments: ENV, LABEL, ARG, CMD, ENTRYPOINT, SHELL, WORKDIR,
//! USER, EXPOSE, VOLUME, STOPSIGNAL, MAINTAINER, ONBUILD.

use super::bflags::Flags;
use super::{ArgDecl, Command, KeyValue, ShellOrExec};
use crate::error::{ErrorKind, FlagError, InstructionError, PortError, Warning};
use crate::parser::Node;

/// BuildKit's `handleJSONArgs`: JSON arrays are exec form, anything else one shell string.
pub(crate) fn shell_or_exec(node: &Node) -> ShellOrExec {
    if node.json {
        ShellOrExec::Exec(node.args.clone())
    } else {
        ShellOrExec::Shell(node.args.join(" "))
    }
}

fn no_flags(node: &Node) -> Result<(), FlagError> {
    Flags::parse(&node.flags, &[]).map(|_| ())
}

fn exactly_one(node: &Node, instruction: &'static str) -> Result<String, ErrorKind> {
    no_flags(node)?;
    match node.args.as_slice() {
        [one] => Ok(one.clone()),
        _ => Err(InstructionError::ExactlyOne { instruction }.into()),
    }
}

fn at_least_one(node: &Node, instruction: &'static str) -> Result<(), ErrorKind> {
    no_flags(node)?;
    if node.args.is_empty() {
        return Err(InstructionError::AtLeastOne { instruction }.into());
    }
    Ok(())
}

/// ENV/LABEL triples into pairs.
pub(crate) fn key_values(
    node: &Node,
    name: &'static str,
    warnings: &mut Vec<Warning>,
) -> Result<Vec<KeyValue>, ErrorKind> {
    at_least_one(node, name)?;
    if !node.args.len().is_multiple_of(3) {
        return Err(InstructionError::WrongNumber { instruction: name }.into());
    }
    let mut out = Vec::new();
    for t in node.args.chunks(3) {
        if t[0].is_empty() {
            return Err(InstructionError::BlankName { instruction: name }.into());
        }
        if t[2].is_empty() {
            warnings.push(Warning {
                line: node.start_line,
                message: format!("\"{name} key=value\" should be used instead of legacy \"{name} key value\" format"),
            });
        }
        out.push(KeyValue {
            key: t[0].clone(),
            value: t[1].clone(),
        });
    }
    Ok(out)
}

pub(crate) fn arg(node: &Node) -> Result<Command, ErrorKind> {
    at_least_one(node, "ARG")?;
    let mut decls = Vec::new();
    for a in &node.args {
        decls.push(match a.split_once('=') {
            Some(("", _)) => {
                return Err(InstructionError::BlankName { instruction: "ARG" }.into());
            }
            Some((k, v)) => ArgDecl {
                name: k.to_string(),
                default: Some(v.to_string()),
            },
            None => ArgDecl {
                name: a.clone(),
                default: None,
            },
        });
    }
    Ok(Command::Arg(decls))
}

pub(crate) fn shell(node: &Node) -> Result<Command, ErrorKind> {
    at_least_one(node, "SHELL")?;
    if !node.json {
        return Err(InstructionError::ShellNotJson.into());
    }
    Ok(Command::Shell(node.args.clone()))
}

pub(crate) fn cmd_like(node: &Node, entrypoint: bool) -> Result<Command, ErrorKind> {
    no_flags(node)?;
    // A bare `CMD`/`ENTRYPOINT` is an empty shell form (`/bin/sh -c ""` in BuildKit);
    // `CMD []` is an empty exec form.
    let c = shell_or_exec(node);
    Ok(if entrypoint {
        Command::Entrypoint(c)
    } else {
        Command::Cmd(c)
    })
}

pub(crate) fn single(node: &Node) -> Result<Command, ErrorKind> {
    Ok(match node.keyword.as_str() {
        "workdir" => Command::Workdir(exactly_one(node, "WORKDIR")?),
        "user" => Command::User(exactly_one(node, "USER")?),
        "stopsignal" => Command::StopSignal(exactly_one(node, "STOPSIGNAL")?),
        _ => Command::Maintainer(exactly_one(node, "MAINTAINER")?),
    })
}

pub(crate) fn volume(node: &Node) -> Result<Command, ErrorKind> {
    at_least_one(node, "VOLUME")?;
    let mut vols = Vec::new();
    for v in &node.args {
        let v = v.trim();
        if v.is_empty() {
            return Err(InstructionError::EmptyVolume.into());
        }
        vols.push(v.to_string());
    }
    Ok(Command::Volume(vols))
}

pub(crate) fn expose(node: &Node) -> Result<Command, ErrorKind> {
    at_least_one(node, "EXPOSE")?;
    for p in &node.args {
        // Words with variables or quotes are checked after expansion.
        if !p.contains(['$', '\'', '"', '\\', '`']) {
            validate_port(p).map_err(InstructionError::Port)?;
        }
    }
    // BuildKit's parseExpose sorts the words as written (bytewise), before expansion; its
    // history lists the ports in that order (`EXPOSE [1234/udp 2375/tcp 5000/tcp]`).
    let mut ports = node.args.clone();
    ports.sort();
    Ok(Command::Expose(ports))
}

/// Checks an EXPOSE word as BuildKit's parsePort does (see [`expose_ports`]).
pub fn validate_port(spec: &str) -> Result<(), PortError> {
    expose_ports(spec).map(|_| ())
}

/// The ports an EXPOSE word exposes, as BuildKit's parsePort (convert_expose.go) reads
/// `[ip:][hostPort:]containerPort[/proto]`: `80/tcp`, ranges spread out, the protocol lower
/// case; the IP and host port are checked and otherwise ignored (BuildKit lints them).
pub fn expose_ports(spec: &str) -> Result<Vec<String>, PortError> {
    let bad = || PortError::Invalid { spec: spec.into() };
    let parts: Vec<&str> = spec.split(':').collect();
    let n = parts.len();
    let (ip, host, container) = match n {
        1 => (String::new(), "", parts[0]),
        _ => (
            parts[..n.saturating_sub(2)].join(":"),
            parts[n - 2],
            parts[n - 1],
        ),
    };
    let (port, proto) = container.split_once('/').unwrap_or((container, ""));
    if port.is_empty() {
        return Err(bad());
    }
    if !matches!(
        proto.to_ascii_lowercase().as_str(),
        "" | "tcp" | "udp" | "sctp"
    ) {
        return Err(PortError::Proto {
            proto: proto.into(),
            spec: spec.into(),
        });
    }
    let ip = ip
        .strip_prefix('[')
        .and_then(|i| i.strip_suffix(']'))
        .unwrap_or(&ip);
    if !ip.is_empty() && ip.parse::<std::net::IpAddr>().is_err() {
        return Err(bad());
    }
    let (lo, hi) = port_range(port, spec)?;
    if !host.is_empty() {
        let (hlo, hhi) = port_range(host, spec)?;
        // A host range must match a container range; a single container port may take one.
        if hi - lo != hhi - hlo && hi != lo {
            return Err(bad());
        }
    }
    let proto = if proto.is_empty() {
        "tcp".to_string()
    } else {
        proto.to_ascii_lowercase()
    };
    Ok((lo..=hi).map(|p| format!("{p}/{proto}")).collect())
}

/// `N` or `N-M` (0–65535, M not below N), as BuildKit's parsePortRange.
fn port_range(s: &str, spec: &str) -> Result<(u32, u32), PortError> {
    let bad = || PortError::Invalid { spec: spec.into() };
    let num = |s: &str| -> Result<u32, PortError> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return Err(bad());
        }
        s.parse::<u32>()
            .ok()
            .filter(|p| *p <= 65535)
            .ok_or_else(bad)
    };
    match s.split_once('-') {
        Some((a, b)) if a != b => {
            let (a, b) = (num(a)?, num(b)?);
            if b < a {
                return Err(PortError::ReversedRange { spec: spec.into() });
            }
            Ok((a, b))
        }
        Some((a, _)) => num(a).map(|p| (p, p)),
        None => num(s).map(|p| (p, p)),
    }
}

/// ONBUILD: refuses ONBUILD/FROM/MAINTAINER triggers; keeps the trigger text with heredocs.
pub(crate) fn onbuild(node: &Node) -> Result<Command, ErrorKind> {
    no_flags(node)?;
    let Some(child) = &node.child else {
        return Err(InstructionError::AtLeastOne {
            instruction: "ONBUILD",
        }
        .into());
    };
    match child.keyword.as_str() {
        "onbuild" => return Err(InstructionError::OnbuildChain.into()),
        k @ ("maintainer" | "from") => {
            let instruction = k.to_uppercase();
            return Err(InstructionError::OnbuildTrigger { instruction }.into());
        }
        _ => {}
    }
    let mut text = strip_onbuild(&node.original).to_string();
    for h in &node.heredocs {
        text.push('\n');
        text.push_str(&h.content);
        text.push_str(&h.name);
    }
    Ok(Command::OnBuild(text))
}

/// Removes `(?i)^\s*ONBUILD\s*` from the instruction text.
fn strip_onbuild(original: &str) -> &str {
    let s = original.trim_start();
    match s.get(..7) {
        Some(k) if k.eq_ignore_ascii_case("onbuild") => s[7..].trim_start(),
        _ => s,
    }
}

#[cfg(test)]
mod tests {
    use super::{expose_ports, validate_port};

    #[test]
    fn ports() {
        for ok in [
            "80",
            "80/tcp",
            "53/UDP",
            "8000-8010",
            "8000-8010/sctp",
            "0",
            "65535",
            // BuildKit's parsePort takes these (an IP and host port are linted, then
            // dropped; an empty protocol is tcp).
            "1.2.3.4:80:80",
            "8080:80",
            "[::1]:8080:80/udp",
            "80/",
        ] {
            assert!(validate_port(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "x",
            "80/foo",
            "65536",
            "10-5",
            "1.2.3:80:80",
            "8000-8001:80-90",
            "x:80",
            "-5",
            "8000-",
        ] {
            assert!(validate_port(bad).is_err(), "{bad}");
        }
        assert_eq!(
            expose_ports("127.0.0.1:8000-8001:80-81/UDP").unwrap(),
            ["80/udp", "81/udp"]
        );
        assert_eq!(expose_ports("8000-8001:80").unwrap(), ["80/tcp"]);
    }
}
