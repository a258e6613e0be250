//! One `key=value` (or bare `key`) field of a mount, in the order written: as in BuildKit,
//! `required` and `size` are checked against the type given so far.

use super::values::{go_bool, go_u32, ram_in_bytes};
use super::{Builder, Expand, MountKind};
use crate::error::MountError;
use crate::suggest::closest;

/// Every key BuildKit knows, in the order it offers them as suggestions.
const KEYS: &[&str] = &[
    "type",
    "from",
    "source",
    "target",
    "readonly",
    "id",
    "sharing",
    "required",
    "size",
    "mode",
    "uid",
    "gid",
    "src",
    "dst",
    "destination",
    "ro",
    "rw",
    "readwrite",
    "env",
];

const TYPES: &[(&str, MountKind)] = &[
    ("bind", MountKind::Bind),
    ("cache", MountKind::Cache),
    ("tmpfs", MountKind::Tmpfs),
    ("secret", MountKind::Secret),
    ("ssh", MountKind::Ssh),
];

const SHARING: &[&str] = &["shared", "private", "locked"];

impl Builder {
    /// Reads one CSV field; only the value (never the key) is expanded.
    pub(super) fn field(&mut self, field: &str, expand: &mut Expand<'_>) -> Result<(), MountError> {
        let Some((key, value)) = field.split_once('=') else {
            return self.bare_key(&field.to_lowercase(), field);
        };
        let key = key.to_lowercase();
        let value = expand(value).map_err(MountError::Expand)?;
        self.key_value(&key, value, field)
    }

    fn bare_key(&mut self, key: &str, field: &str) -> Result<(), MountError> {
        match key {
            "readonly" | "ro" => (self.mount.readonly, self.ro_auto) = (true, false),
            "readwrite" | "rw" => (self.mount.readonly, self.ro_auto) = (false, false),
            "required" => {
                self.type_takes(key, &[MountKind::Secret, MountKind::Ssh])?;
                self.mount.required = true;
            }
            _ => {
                return Err(MountError::NotKeyValue {
                    field: field.into(),
                })
            }
        }
        Ok(())
    }

    fn key_value(&mut self, key: &str, value: String, field: &str) -> Result<(), MountError> {
        let m = &mut self.mount;
        match key {
            "type" => m.kind = mount_type(&value)?,
            "from" => m.from = non_empty(value),
            "source" | "src" => m.source = non_empty(value),
            "target" | "dst" | "destination" => m.target = non_empty(value),
            "id" => m.id = non_empty(value),
            "env" => m.env = Some(value),
            "readonly" | "ro" => (m.readonly, self.ro_auto) = (boolean(key, &value)?, false),
            "readwrite" | "rw" => (m.readonly, self.ro_auto) = (!boolean(key, &value)?, false),
            "required" => {
                self.type_takes(key, &[MountKind::Secret, MountKind::Ssh])?;
                self.mount.required = boolean(key, &value)?;
            }
            "size" => {
                self.type_takes(key, &[MountKind::Tmpfs])?;
                let size = ram_in_bytes(&value).ok_or(MountError::InvalidSize { value })?;
                self.mount.size = Some(size);
            }
            "sharing" => m.sharing = Some(sharing(&value)?),
            "mode" => m.mode = Some(number("mode", value, 8)?),
            "uid" => m.uid = Some(number("uid", value, 10)?),
            "gid" => m.gid = Some(number("gid", value, 10)?),
            _ => {
                return Err(MountError::UnexpectedKey {
                    key: key.into(),
                    field: field.into(),
                    suggestion: closest(key, KEYS).map(String::from),
                })
            }
        }
        Ok(())
    }

    /// Refuses `key` unless the mount's type so far is one of `kinds`.
    fn type_takes(&self, key: &str, kinds: &[MountKind]) -> Result<(), MountError> {
        if kinds.contains(&self.mount.kind) {
            return Ok(());
        }
        Err(MountError::KeyNotForType {
            key: key.into(),
            kind: self.mount.kind,
        })
    }
}

/// BuildKit uses the empty string for "not given".
fn non_empty(value: String) -> Option<String> {
    (!value.is_empty()).then_some(value)
}

fn boolean(key: &str, value: &str) -> Result<bool, MountError> {
    go_bool(value).ok_or_else(|| MountError::InvalidBool {
        key: key.into(),
        value: value.into(),
    })
}

/// `mode` (octal), `uid`, `gid`: unsigned 32-bit.
fn number(key: &'static str, value: String, radix: u32) -> Result<u32, MountError> {
    go_u32(&value, radix).ok_or(MountError::InvalidNumber { key, value })
}

fn mount_type(value: &str) -> Result<MountKind, MountError> {
    let lower = value.to_lowercase();
    match TYPES.iter().find(|(name, _)| *name == lower) {
        Some(&(_, kind)) => Ok(kind),
        None => {
            let names: Vec<&str> = TYPES.iter().map(|(name, _)| *name).collect();
            Err(MountError::UnsupportedType {
                value: value.into(),
                suggestion: closest(value, &names).map(String::from),
            })
        }
    }
}

/// The sharing mode, lower-cased as BuildKit stores it.
fn sharing(value: &str) -> Result<String, MountError> {
    let lower = value.to_lowercase();
    if SHARING.contains(&lower.as_str()) {
        return Ok(lower);
    }
    Err(MountError::InvalidSharing {
        value: value.into(),
        suggestion: closest(value, SHARING).map(String::from),
    })
}
