//! The tree a bind mount shows: what `source` names in a context or a stage, resolved inside
//! its root (a source that is a symlink to `/` shows the stage's root, never the host's:
//! buildah CVE-2024-1753), built in a scratch directory. Read-only views of the store's
//! snapshots are hard links (no data copied); anything else is copied, so a writable bind
//! never reaches the files it came from.

use std::fs;
use std::io;
use std::os::unix::fs::{lchown, symlink, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use rbuild_context::fcopy::copy_file;
use rbuild_context::select::{plan_with, CopyItem, PathFilter, PlanOptions};
use rbuild_context::tree::Tree;

/// Builds under `farm` what `source` names in `tree` (as `filter` lets it be seen); returns
/// the path to bind: `farm` for a directory, the copied file for a file.
pub fn materialize(
    tree: &Tree,
    filter: &dyn PathFilter,
    source: &str,
    farm: &Path,
    link: bool,
) -> io::Result<PathBuf> {
    fs::create_dir_all(farm)?;
    let visible = |rel: &str, last: bool| !filter.excluded(rel) || (!last && filter.descend(rel));
    let found = tree
        .resolve_visible(source, true, &visible)
        .ok_or_else(|| io::Error::new(io::ErrorKind::NotFound, format!("{source}: not found")))?;
    let items = plan_with(
        tree,
        &[source.to_string()],
        "/",
        true,
        filter,
        PlanOptions::default(),
    )
    .map_err(io::Error::other)?;
    for item in &items {
        place(item, farm, link)?;
    }
    if found.meta.is_dir() {
        let m = &found.meta;
        fs::set_permissions(farm, fs::Permissions::from_mode(m.mode() & 0o7777))?;
        lchown(farm, Some(m.uid()), Some(m.gid()))?;
        return Ok(farm.to_path_buf());
    }
    let name = found.rel.rsplit('/').next().unwrap_or("file");
    Ok(farm.join(name))
}

/// Creates one entry under `farm` as it is in the source: same type, mode, owner.
fn place(item: &CopyItem, farm: &Path, link: bool) -> io::Result<()> {
    let target = farm.join(&item.dest);
    let (real, meta) = (&item.source.real, &item.source.meta);
    let owner = (meta.uid(), meta.gid());
    let ty = meta.file_type();
    if ty.is_dir() {
        match fs::create_dir(&target) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            r => r?,
        }
        fs::set_permissions(&target, fs::Permissions::from_mode(meta.mode() & 0o7777))?;
        lchown(&target, Some(owner.0), Some(owner.1))?;
    } else if ty.is_file() {
        let linked = link && fs::hard_link(real, &target).is_ok();
        if !linked {
            copy_file(real, &target, meta, meta.mode() & 0o7777, owner)?;
        }
    } else if ty.is_symlink() {
        symlink(fs::read_link(real)?, &target)?;
        lchown(&target, Some(owner.0), Some(owner.1))?;
    }
    // Devices, FIFOs and sockets of a context or a stage are not shown (BuildKit skips
    // sockets too).
    Ok(())
}
