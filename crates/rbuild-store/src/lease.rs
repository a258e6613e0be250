//! Leases: what live processes are using, so `prune` leaves it alone.
//!
//! Every open `Store` holds an exclusively locked file in `leases/` whose first line is the
//! time it was opened. Prune keeps everything created after the oldest live lease started
//! (new work of running builds) plus every id a lease lists (older content a build reuses,
//! recorded with `Store::protect`). A dead process's lock is released, so its lease is void.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{Read, Write};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use rbuild_oci::Digest;

use crate::error::{IoContext, Result};
use crate::layout::Layout;
use crate::{lock, Store};

/// This process's lease file.
pub(crate) struct Lease {
    path: PathBuf,
    file: Mutex<Leased>,
}

/// The open lease file and the ids it already lists (each is written once: a step on a
/// stack of N layers asks for all N again).
struct Leased {
    file: File,
    ids: HashSet<Digest>,
}

/// Nanoseconds since the epoch.
pub(crate) fn now_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

impl Lease {
    /// Creates and locks a new lease stamped with the current time.
    pub fn create(layout: &Layout) -> Result<Lease> {
        // Under the gc lock, so a running prune never sees a lease without its start time.
        let _gc = lock::lock_shared(&layout.lock("gc.lock"))?;
        let (path, mut file) = lock::create_locked_file(&layout.leases_dir(), "")?;
        writeln!(file, "start {}", now_nanos()).at(&path)?;
        Ok(Lease {
            path,
            file: Mutex::new(Leased {
                file,
                ids: HashSet::new(),
            }),
        })
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.path);
    }
}

/// What the live leases of other processes protect.
#[derive(Debug, Default)]
pub(crate) struct Protected {
    /// Ids listed in live leases.
    pub ids: std::collections::BTreeSet<Digest>,
    /// Start of the oldest live lease other than our own (nanoseconds), if any.
    pub since: Option<i128>,
}

impl Store {
    /// Records that this process uses `id` (a blob digest or a snapshot chain id), so a
    /// concurrent `prune` keeps it until this `Store` is dropped.
    ///
    /// Call it before checking that the content exists: prune either sees the lease or has
    /// finished removing by the time this returns.
    pub fn protect(&self, id: &Digest) -> Result<()> {
        let mut leased = self.lease.file.lock().unwrap_or_else(|p| p.into_inner());
        if leased.ids.contains(id) {
            return Ok(());
        }
        let _gc = lock::lock_shared(&self.layout.lock("gc.lock"))?;
        // One write: a prune reading the lease never sees half a line it would misparse.
        leased
            .file
            .write_all(format!("{id}\n").as_bytes())
            .at(&self.lease.path)?;
        leased.ids.insert(id.clone());
        Ok(())
    }

    /// Reads every lease (caller holds the gc lock exclusively), removing dead ones.
    pub(crate) fn live_leases(&self) -> Result<Protected> {
        let dir = self.layout.leases_dir();
        let mut out = Protected::default();
        for entry in fs::read_dir(&dir).at(&dir)? {
            let path = entry.at(&dir)?.path();
            let own = path == self.lease.path;
            let Ok(mut file) = File::open(&path) else {
                continue;
            };
            if !own && lock::try_exclusive(&file).at(&path)? {
                let _ = fs::remove_file(&path);
                continue;
            }
            let mut text = String::new();
            if file.read_to_string(&mut text).is_err() {
                continue;
            }
            read_lease(&text, own, &mut out);
        }
        Ok(out)
    }
}

fn read_lease(text: &str, own: bool, out: &mut Protected) {
    for line in text.lines() {
        if let Some(start) = line.strip_prefix("start ") {
            if let (Ok(t), false) = (start.parse::<i128>(), own) {
                out.since = Some(out.since.map_or(t, |s| s.min(t)));
            }
        } else if let Ok(d) = line.parse::<Digest>() {
            out.ids.insert(d);
        }
    }
}
