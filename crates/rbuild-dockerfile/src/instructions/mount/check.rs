//! What BuildKit checks once all of a mount's fields are read, in BuildKit's order.

use super::{Builder, MountKind, RunMount};
use crate::error::MountError;

impl Builder {
    /// Applies the defaults, then refuses contradictory options.
    pub(super) fn finish(mut self) -> Result<RunMount, MountError> {
        file_info_allowed(&self.mount)?;
        self.apply_defaults();
        let m = &self.mount;
        if m.kind == MountKind::Secret {
            secret(m)?;
        }
        if m.sharing.is_some() && m.kind != MountKind::Cache {
            return Err(MountError::SharingNotCache { kind: m.kind });
        }
        Ok(self.mount)
    }

    /// Without `ro`/`rw`, caches and tmpfs are writable and everything else read-only.
    pub(super) fn apply_defaults(&mut self) {
        if self.ro_auto {
            self.mount.readonly = !matches!(self.mount.kind, MountKind::Cache | MountKind::Tmpfs);
        }
    }
}

/// `mode`, `uid` and `gid` only where there is a file, socket or directory to own.
fn file_info_allowed(m: &RunMount) -> Result<(), MountError> {
    if matches!(
        m.kind,
        MountKind::Secret | MountKind::Ssh | MountKind::Cache
    ) {
        return Ok(());
    }
    let given = [
        ("mode", m.mode.is_some()),
        ("uid", m.uid.is_some()),
        ("gid", m.gid.is_some()),
    ];
    match given.into_iter().find(|(_, set)| *set) {
        Some((key, _)) => Err(MountError::FileInfoNotAllowed { key, kind: m.kind }),
        None => Ok(()),
    }
}

fn secret(m: &RunMount) -> Result<(), MountError> {
    if m.from.is_some() {
        return Err(MountError::SecretFrom);
    }
    if m.sharing.is_some() {
        return Err(MountError::SecretSharing);
    }
    if m.source.is_none() && m.target.is_none() && m.id.is_none() {
        return Err(MountError::SecretUnnamed);
    }
    if m.source.is_some() && m.id.is_some() {
        return Err(MountError::SecretSourceAndId);
    }
    Ok(())
}
