//! `cache.db`: opening, migrating, and surviving a damaged file (SQLite, WAL).
//!
//! The database is only a cache (build records, context hashes, snapshot proofs), so a file
//! SQLite cannot read does not stop the store from opening: the handle is *broken*, every
//! operation on it fails naming `rbuild store check --repair`, and `rebuild` replaces the
//! file with an empty database of the current format.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

mod format;

use rusqlite::{Connection, ErrorCode};

use crate::error::{Result, StoreError};
use crate::lock;
use format::check_format;

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

/// The files of a database: itself, its write-ahead log and its shared memory.
pub(crate) const DB_FILES: [&str; 3] = ["cache.db", "cache.db-wal", "cache.db-shm"];

enum State {
    Open(Connection),
    /// SQLite cannot read the file: why.
    Broken(String),
}

/// The database handle.
pub(crate) struct Db {
    root: PathBuf,
    path: PathBuf,
    state: Mutex<State>,
}

/// Whether SQLite says the file is damaged (as opposed to busy, full, or not permitted).
fn is_corrupt(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase)
    )
}

impl Db {
    /// Opens `cache.db`, creating or migrating it; callers hold the init lock. A damaged file
    /// gives a broken handle, not an error.
    pub fn open(root: &Path, path: PathBuf) -> Result<Db> {
        create_private(&path)?;
        let state = match connect(&path) {
            Ok(conn) => match check_format(&conn, root, &path) {
                Ok(()) => State::Open(conn),
                Err(StoreError::Db { source, .. }) if is_corrupt(&source) => {
                    State::Broken(source.to_string())
                }
                Err(e) => return Err(e),
            },
            Err(e) if is_corrupt(&e) => State::Broken(e.to_string()),
            Err(source) => return Err(StoreError::Db { path, source }),
        };
        Ok(Db {
            root: root.to_path_buf(),
            path,
            state: Mutex::new(state),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave SQLite inconsistent: take it anyway.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Runs `f` on the connection (one operation or transaction).
    pub fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        match &mut *self.lock() {
            State::Open(conn) => f(conn).map_err(|e| self.err(e)),
            State::Broken(why) => Err(StoreError::DbCorrupt {
                path: self.path.clone(),
                why: why.clone(),
            }),
        }
    }

    /// Wraps a SQLite error with the database path; damage gets the repair hint.
    pub fn err(&self, source: rusqlite::Error) -> StoreError {
        let path = self.path.clone();
        if is_corrupt(&source) {
            return StoreError::DbCorrupt {
                path,
                why: source.to_string(),
            };
        }
        StoreError::Db { path, source }
    }

    /// Why the database cannot be trusted, if it cannot: unreadable, or SQLite's
    /// `quick_check` finds damage.
    pub fn problem(&self) -> Option<String> {
        let verdict = self.with(|conn| {
            let mut stmt = conn.prepare("PRAGMA quick_check")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect::<rusqlite::Result<Vec<String>>>()
        });
        match verdict {
            Ok(lines) if lines.iter().all(|l| l == "ok") => None,
            Ok(lines) => Some(lines.join("; ")),
            Err(StoreError::DbCorrupt { why, .. }) => Some(why),
            Err(e) => Some(e.to_string()),
        }
    }

    /// Replaces the database with an empty one of the current format (repair): the old
    /// files are moved into `tmp/` and removed. Processes still holding them write into
    /// unlinked files; their records are lost, which a cache can afford.
    pub fn rebuild(&self, tmp: &Path) -> Result<()> {
        let mut state = self.lock();
        *state = State::Broken("being rebuilt".into());
        for name in DB_FILES {
            let from = self.root.join(name);
            let trash = tmp.join(lock::unique_name("db-"));
            match std::fs::rename(&from, &trash) {
                Ok(()) => {
                    let _ = std::fs::remove_file(&trash);
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(source) => return Err(StoreError::Io { path: from, source }),
            }
        }
        create_private(&self.path)?;
        let conn = connect(&self.path).map_err(|e| self.err(e))?;
        check_format(&conn, &self.root, &self.path)?;
        *state = State::Open(conn);
        Ok(())
    }
}

/// Connects and sets WAL mode and the schema (this is where a damaged file shows).
fn connect(path: &Path) -> rusqlite::Result<Connection> {
    let conn = Connection::open(path)?;
    conn.busy_timeout(BUSY_TIMEOUT)?;
    conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get::<_, String>(0))?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.execute_batch(SCHEMA_V1)?;
    Ok(conn)
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
