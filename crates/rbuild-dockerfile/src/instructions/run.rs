//! RUN and its `--mount`, `--network` and `--security` flags.

use super::bflags::{Flags, Kind};
use super::copy::heredocs_of;
use super::mount_values::{csv_fields, go_bool, ram_in_bytes};
use super::simple::shell_or_exec;
use super::{Command, MountKind, RunCmd, RunMount};
use crate::error::{Error, ErrorKind, ExpandError, InstructionError, MountError};
use crate::parser::Node;

const RUN_FLAGS: &[(&str, Kind)] = &[
    ("mount", Kind::Strs),
    ("network", Kind::Str),
    ("security", Kind::Str),
];

pub(crate) fn run(node: &Node) -> Result<Command, ErrorKind> {
    let f = Flags::parse(&node.flags, RUN_FLAGS)?;
    // A bare `RUN` is BuildKit's `/bin/sh -c ""`: an empty shell form, not an error.
    let cmd = shell_or_exec(node);
    let network = f.str("network");
    if let Some(n) = &network {
        if !matches!(n.as_str(), "default" | "none" | "host") {
            return Err(InstructionError::Network { value: n.clone() }.into());
        }
    }
    let security = f.str("security");
    if let Some(s) = &security {
        if !matches!(s.as_str(), "sandbox" | "insecure") {
            return Err(InstructionError::Security { value: s.clone() }.into());
        }
    }
    let mount_specs = f.strs("mount");
    let mut mounts = Vec::new();
    for spec in &mount_specs {
        match parse_mount_with(spec, &mut |v| Ok(v.to_string()), true) {
            Ok(m) => mounts.push(m),
            // With variables the spec is only checkable after expansion (see expand_command).
            Err(_) if spec.contains('$') => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(Command::Run(RunCmd {
        cmd,
        heredocs: heredocs_of(node),
        mounts,
        network,
        security,
        mount_specs,
    }))
}

/// Parses one `--mount` value (e.g. `type=cache,target=/root/.cache,sharing=locked`) as written.
pub fn parse_mount(spec: &str) -> Result<RunMount, Error> {
    parse_mount_with(spec, &mut |v| Ok(v.to_string()), false).map_err(Error::new)
}

/// Parses a mount spec, passing every value through `expand`. With `deferred`, `from` may
/// not hold a variable and numeric values holding one are left unset.
pub(crate) fn parse_mount_with(
    spec: &str,
    expand: &mut dyn FnMut(&str) -> Result<String, ExpandError>,
    deferred: bool,
) -> Result<RunMount, MountError> {
    let mut m = RunMount {
        kind: MountKind::Bind,
        target: None,
        source: None,
        from: None,
        id: None,
        sharing: None,
        readonly: false,
        required: false,
        mode: None,
        uid: None,
        gid: None,
        size: None,
        env: None,
    };
    let mut ro_auto = true;
    for field in csv_fields(spec)? {
        let (key, value) = match field.split_once('=') {
            Some((k, v)) => (k.to_ascii_lowercase(), v),
            None => {
                flag_key(&mut m, &field.to_ascii_lowercase(), &field, &mut ro_auto)?;
                continue;
            }
        };
        if deferred && key == "from" && value.find('$').is_some_and(|i| i != value.len() - 1) {
            return Err(MountError::FromVariable { key });
        }
        let value = expand(value).map_err(MountError::Expand)?;
        let deferred_num = deferred && value.contains('$');
        set_key(&mut m, &key, &value, &field, deferred_num, &mut ro_auto)?;
    }
    if ro_auto {
        m.readonly = !matches!(m.kind, MountKind::Cache | MountKind::Tmpfs);
    }
    validate(&m)?;
    Ok(m)
}

fn flag_key(
    m: &mut RunMount,
    key: &str,
    field: &str,
    ro_auto: &mut bool,
) -> Result<(), MountError> {
    match key {
        "readonly" | "ro" => (m.readonly, *ro_auto) = (true, false),
        "readwrite" | "rw" => (m.readonly, *ro_auto) = (false, false),
        "required" if matches!(m.kind, MountKind::Secret | MountKind::Ssh) => m.required = true,
        "required" => return Err(unexpected_key(m, key, field)),
        _ => {
            return Err(MountError::UnexpectedKey {
                key: key.into(),
                field: field.into(),
            })
        }
    }
    Ok(())
}

/// A key valid for some other mount type, or for none.
fn unexpected_key(m: &RunMount, key: &str, field: &str) -> MountError {
    if matches!(key, "required" | "size" | "env") {
        return MountError::KeyNotForType {
            key: key.into(),
            kind: m.kind,
        };
    }
    MountError::UnexpectedKey {
        key: key.into(),
        field: field.into(),
    }
}

fn set_key(
    m: &mut RunMount,
    key: &str,
    value: &str,
    field: &str,
    deferred: bool,
    ro_auto: &mut bool,
) -> Result<(), MountError> {
    match key {
        "type" => m.kind = parse_kind(value)?,
        "from" => m.from = Some(value.into()),
        "source" | "src" => m.source = Some(value.into()),
        "target" | "dst" | "destination" => m.target = Some(value.into()),
        "readonly" | "ro" => (m.readonly, *ro_auto) = (go_bool(value)?, false),
        "readwrite" | "rw" => (m.readonly, *ro_auto) = (!go_bool(value)?, false),
        "required" if matches!(m.kind, MountKind::Secret | MountKind::Ssh) => {
            m.required = go_bool(value)?
        }
        "id" => m.id = Some(value.into()),
        "sharing" => {
            if m.sharing.is_some() {
                return Err(MountError::SharingTwice);
            }
            if !matches!(value, "shared" | "private" | "locked") {
                return Err(MountError::InvalidSharing {
                    value: value.into(),
                });
            }
            m.sharing = Some(value.into());
        }
        _ if deferred => {}
        "mode" => m.mode = Some(number("mode", value, 8)?),
        "uid" => m.uid = Some(number("uid", value, 10)?),
        "gid" => m.gid = Some(number("gid", value, 10)?),
        "size" if m.kind == MountKind::Tmpfs => m.size = Some(ram_in_bytes(value)?),
        "env" if m.kind == MountKind::Secret => m.env = Some(value.into()),
        _ => return Err(unexpected_key(m, key, field)),
    }
    Ok(())
}

/// `mode` (octal), `uid`, `gid`.
fn number(key: &'static str, value: &str, radix: u32) -> Result<u32, MountError> {
    u32::from_str_radix(value, radix).map_err(|_| MountError::InvalidNumber {
        key,
        value: value.into(),
    })
}

fn validate(m: &RunMount) -> Result<(), MountError> {
    if m.sharing.is_some() && m.kind != MountKind::Cache {
        return Err(MountError::SharingNotCache { kind: m.kind });
    }
    match m.kind {
        MountKind::Secret if m.from.is_some() => Err(MountError::SecretFrom),
        MountKind::Secret | MountKind::Ssh => Ok(()),
        _ if m.target.as_deref().is_none_or(str::is_empty) => {
            Err(MountError::NoTarget { kind: m.kind })
        }
        _ => Ok(()),
    }
}

fn parse_kind(v: &str) -> Result<MountKind, MountError> {
    Ok(match v.to_ascii_lowercase().as_str() {
        "bind" => MountKind::Bind,
        "cache" => MountKind::Cache,
        "tmpfs" => MountKind::Tmpfs,
        "secret" => MountKind::Secret,
        "ssh" => MountKind::Ssh,
        _ => return Err(MountError::UnsupportedType { value: v.into() }),
    })
}

impl MountKind {
    /// The `type=` value naming this kind.
    pub(crate) fn name(self) -> &'static str {
        match self {
            MountKind::Bind => "bind",
            MountKind::Cache => "cache",
            MountKind::Tmpfs => "tmpfs",
            MountKind::Secret => "secret",
            MountKind::Ssh => "ssh",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mounts() {
        let m = parse_mount("type=cache,target=/root/.cache,id=x,sharing=locked,mode=0755,uid=1")
            .unwrap();
        assert_eq!(m.kind, MountKind::Cache);
        assert_eq!((m.mode, m.uid, m.readonly), (Some(0o755), Some(1), false));
        let b = parse_mount("target=/src,from=builder,rw").unwrap();
        assert_eq!(
            (b.kind, b.readonly, b.from.as_deref()),
            (MountKind::Bind, false, Some("builder"))
        );
        assert!(parse_mount("target=/x").unwrap().readonly);
        let s = parse_mount("type=secret,id=tok,env=TOKEN,required").unwrap();
        assert_eq!((s.env.as_deref(), s.required), (Some("TOKEN"), true));
        let t = parse_mount("type=tmpfs,target=/t,size=64m").unwrap();
        assert_eq!(t.size, Some(64 << 20));
        assert!(parse_mount("type=nfs,target=/x").is_err());
        assert!(parse_mount("type=bind").is_err());
        assert!(parse_mount("type=bind,target=/x,sharing=locked").is_err());
        assert!(parse_mount("type=bind,target=/x,size=1").is_err());
        assert!(parse_mount("type=cache,target=/x,bogus=1").is_err());
        assert!(parse_mount("type=cache,target=/x,mode=9").is_err());
        assert_eq!(
            parse_mount("\"target=/a,b\",type=cache")
                .unwrap()
                .target
                .as_deref(),
            Some("/a,b")
        );
    }
}
