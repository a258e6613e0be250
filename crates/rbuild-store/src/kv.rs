//! `cache.db`: the format version and generic key-value namespaces (SQLite, WAL).

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rbuild_oci::Digest;
use rusqlite::{params, Connection, OptionalExtension};

use crate::error::{Result, StoreError};
use crate::Store;

/// The store format this build writes; bump it with a migration in `migrate`.
pub const FORMAT_VERSION: i64 = 1;

/// How long a writer waits for another process's transaction.
const BUSY_TIMEOUT: Duration = Duration::from_secs(60);

const SCHEMA_V1: &str = "
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS kv (
    ns TEXT NOT NULL, key TEXT NOT NULL, value BLOB NOT NULL, updated INTEGER NOT NULL,
    PRIMARY KEY (ns, key)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS kv_refs (
    ns TEXT NOT NULL, key TEXT NOT NULL, digest TEXT NOT NULL,
    PRIMARY KEY (ns, key, digest)) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS kv_refs_digest ON kv_refs (digest);
";

/// The open database.
pub(crate) struct Db {
    path: PathBuf,
    conn: Mutex<Connection>,
}

/// Seconds since the epoch (0 if the clock is before 1970).
pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl Db {
    /// Opens `cache.db`, creating or migrating it; callers hold the init lock.
    pub fn open(root: &Path, path: PathBuf) -> Result<Db> {
        let err = |source| StoreError::Db {
            path: path.clone(),
            source,
        };
        create_private(&path)?;
        let conn = Connection::open(&path).map_err(err)?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(err)?;
        conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))
            .map_err(err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(err)?;
        conn.execute_batch(SCHEMA_V1).map_err(err)?;
        let found = format_version(&conn).map_err(err)?;
        match found {
            None => set_format(&conn, FORMAT_VERSION).map_err(err)?,
            Some(v) if v == FORMAT_VERSION => {}
            Some(v) if v > FORMAT_VERSION => {
                return Err(StoreError::FormatTooNew {
                    root: root.to_path_buf(),
                    found: v,
                    supported: FORMAT_VERSION,
                })
            }
            Some(v) => migrate(&conn, v).map_err(|e| match e {
                Migration::Db(source) => err(source),
                Migration::Unsupported => StoreError::FormatUnsupported {
                    root: root.to_path_buf(),
                    found: v,
                    supported: FORMAT_VERSION,
                },
            })?,
        }
        Ok(Db {
            path,
            conn: Mutex::new(conn),
        })
    }

    /// The connection, for one operation.
    pub fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave SQLite inconsistent: take it anyway.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Wraps a SQLite error with the database path.
    pub fn err(&self, source: rusqlite::Error) -> StoreError {
        StoreError::Db {
            path: self.path.clone(),
            source,
        }
    }
}

/// Creates the database file owner-only if it is missing: SQLite would make it 0644, and it
/// gives its WAL and shared-memory files the database file's mode.
fn create_private(path: &Path) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(crate::layout::FILE_MODE)
        .open(path)
        .map(drop)
        .map_err(|source| StoreError::Io {
            path: path.to_path_buf(),
            source,
        })
}

fn format_version(conn: &Connection) -> rusqlite::Result<Option<i64>> {
    let v: Option<String> = conn
        .query_row("SELECT value FROM meta WHERE key = 'format'", [], |r| {
            r.get(0)
        })
        .optional()?;
    // An unparsable value is treated as "from the future" so we never touch it.
    Ok(v.map(|s| s.parse().unwrap_or(i64::MAX)))
}

fn set_format(conn: &Connection, v: i64) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO meta (key, value) VALUES ('format', ?1)",
        params![v.to_string()],
    )
    .map(|_| ())
}

enum Migration {
    Db(rusqlite::Error),
    Unsupported,
}

/// One migration step: upgrades a store from version `n` to `n + 1`.
type Step = fn(&Connection) -> rusqlite::Result<()>;

/// Migration steps by the version they start from; none yet (format 1 is the first).
const STEPS: &[(i64, Step)] = &[];

/// Upgrades an older store step by step, refusing versions without a path forward.
fn migrate(conn: &Connection, from: i64) -> Result<(), Migration> {
    let mut v = from;
    while v < FORMAT_VERSION {
        let Some((_, step)) = STEPS.iter().find(|(start, _)| *start == v) else {
            return Err(Migration::Unsupported);
        };
        step(conn).map_err(Migration::Db)?;
        v += 1;
    }
    set_format(conn, v).map_err(Migration::Db)
}

impl Store {
    /// The store format version this build reads and writes.
    pub fn format_version(&self) -> i64 {
        FORMAT_VERSION
    }

    /// A value from a namespace.
    pub fn kv_get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let conn = self.db.conn();
        conn.query_row(
            "SELECT value FROM kv WHERE ns = ?1 AND key = ?2",
            params![ns, key],
            |r| r.get(0),
        )
        .optional()
        .map_err(|e| self.db.err(e))
    }

    /// Sets a value (clearing any blob references recorded for the key).
    pub fn kv_put(&self, ns: &str, key: &str, value: &[u8]) -> Result<()> {
        self.kv_put_refs(ns, key, value, &[])
    }

    /// Sets a value and records the blobs it refers to; `prune` drops the entry when one of
    /// them is removed.
    pub fn kv_put_refs(&self, ns: &str, key: &str, value: &[u8], blobs: &[Digest]) -> Result<()> {
        let mut conn = self.db.conn();
        let tx = conn.transaction().map_err(|e| self.db.err(e))?;
        put_one(&tx, ns, key, value, blobs).map_err(|e| self.db.err(e))?;
        tx.commit().map_err(|e| self.db.err(e))
    }

    /// Sets many values in one transaction.
    pub fn kv_put_many(&self, ns: &str, entries: &[(String, Vec<u8>)]) -> Result<()> {
        let mut conn = self.db.conn();
        let tx = conn.transaction().map_err(|e| self.db.err(e))?;
        for (key, value) in entries {
            put_one(&tx, ns, key, value, &[]).map_err(|e| self.db.err(e))?;
        }
        tx.commit().map_err(|e| self.db.err(e))
    }

    /// Deletes a key (absent keys are fine).
    pub fn kv_delete(&self, ns: &str, key: &str) -> Result<()> {
        let mut conn = self.db.conn();
        let tx = conn.transaction().map_err(|e| self.db.err(e))?;
        delete_one(&tx, ns, key).map_err(|e| self.db.err(e))?;
        tx.commit().map_err(|e| self.db.err(e))
    }

    /// Every key of a namespace, sorted.
    pub fn kv_keys(&self, ns: &str) -> Result<Vec<String>> {
        let conn = self.db.conn();
        let mut stmt = conn
            .prepare("SELECT key FROM kv WHERE ns = ?1 ORDER BY key")
            .map_err(|e| self.db.err(e))?;
        let rows = stmt
            .query_map(params![ns], |r| r.get(0))
            .map_err(|e| self.db.err(e))?;
        rows.collect::<rusqlite::Result<Vec<String>>>()
            .map_err(|e| self.db.err(e))
    }

    /// Deletes every key of a namespace; returns how many.
    pub fn kv_clear(&self, ns: &str) -> Result<usize> {
        let mut conn = self.db.conn();
        let tx = conn.transaction().map_err(|e| self.db.err(e))?;
        let n = tx
            .execute("DELETE FROM kv WHERE ns = ?1", params![ns])
            .and_then(|n| {
                tx.execute("DELETE FROM kv_refs WHERE ns = ?1", params![ns])?;
                Ok(n)
            })
            .map_err(|e| self.db.err(e))?;
        tx.commit().map_err(|e| self.db.err(e))?;
        Ok(n)
    }

    /// Deletes every key of a namespace starting with `prefix`; returns how many.
    pub(crate) fn kv_delete_prefix(&self, ns: &str, prefix: &str) -> Result<usize> {
        const MATCH: &str = "ns = ?1 AND substr(key, 1, length(?2)) = ?2";
        let mut conn = self.db.conn();
        let tx = conn.transaction().map_err(|e| self.db.err(e))?;
        let n = tx
            .execute(
                &format!("DELETE FROM kv WHERE {MATCH}"),
                params![ns, prefix],
            )
            .and_then(|n| {
                tx.execute(
                    &format!("DELETE FROM kv_refs WHERE {MATCH}"),
                    params![ns, prefix],
                )?;
                Ok(n)
            })
            .map_err(|e| self.db.err(e))?;
        tx.commit().map_err(|e| self.db.err(e))?;
        Ok(n)
    }

    /// Every blob digest some entry refers to.
    pub(crate) fn kv_referenced_blobs(&self) -> Result<Vec<Digest>> {
        let conn = self.db.conn();
        let mut stmt = conn
            .prepare("SELECT DISTINCT digest FROM kv_refs")
            .map_err(|e| self.db.err(e))?;
        let rows = stmt
            .query_map([], |r| r.get::<_, String>(0))
            .map_err(|e| self.db.err(e))?;
        let all = rows
            .collect::<rusqlite::Result<Vec<String>>>()
            .map_err(|e| self.db.err(e))?;
        Ok(all.iter().filter_map(|s| s.parse().ok()).collect())
    }

    /// Deletes every entry (any namespace) that refers to one of `blobs`; returns how many.
    pub(crate) fn kv_drop_referring(&self, blobs: &[Digest]) -> Result<usize> {
        let mut conn = self.db.conn();
        let tx = conn.transaction().map_err(|e| self.db.err(e))?;
        let mut dropped = 0;
        for d in blobs {
            let keys = referring(&tx, d).map_err(|e| self.db.err(e))?;
            for (ns, key) in keys {
                delete_one(&tx, &ns, &key).map_err(|e| self.db.err(e))?;
                dropped += 1;
            }
        }
        tx.commit().map_err(|e| self.db.err(e))?;
        Ok(dropped)
    }
}

fn put_one(
    tx: &rusqlite::Transaction<'_>,
    ns: &str,
    key: &str,
    value: &[u8],
    blobs: &[Digest],
) -> rusqlite::Result<()> {
    tx.execute(
        "INSERT OR REPLACE INTO kv (ns, key, value, updated) VALUES (?1, ?2, ?3, ?4)",
        params![ns, key, value, now_unix()],
    )?;
    tx.execute(
        "DELETE FROM kv_refs WHERE ns = ?1 AND key = ?2",
        params![ns, key],
    )?;
    for d in blobs {
        tx.execute(
            "INSERT OR IGNORE INTO kv_refs (ns, key, digest) VALUES (?1, ?2, ?3)",
            params![ns, key, d.to_string()],
        )?;
    }
    Ok(())
}

fn delete_one(tx: &rusqlite::Transaction<'_>, ns: &str, key: &str) -> rusqlite::Result<()> {
    tx.execute(
        "DELETE FROM kv WHERE ns = ?1 AND key = ?2",
        params![ns, key],
    )?;
    tx.execute(
        "DELETE FROM kv_refs WHERE ns = ?1 AND key = ?2",
        params![ns, key],
    )?;
    Ok(())
}

fn referring(
    tx: &rusqlite::Transaction<'_>,
    d: &Digest,
) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = tx.prepare("SELECT ns, key FROM kv_refs WHERE digest = ?1")?;
    let rows = stmt.query_map(params![d.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}
