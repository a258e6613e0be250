//! The store format version in `cache.db`, and migrations.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};

use super::FORMAT_VERSION;
use crate::error::{Result, StoreError};

/// Records the format in a new database, migrates an older one, refuses a newer one.
pub(super) fn check_format(conn: &Connection, root: &Path, path: &Path) -> Result<()> {
    let err = |source| StoreError::Db {
        path: path.to_path_buf(),
        source,
    };
    match format_version(conn).map_err(err)? {
        None => set_format(conn, FORMAT_VERSION).map_err(err),
        Some(v) if v == FORMAT_VERSION => Ok(()),
        Some(v) if v > FORMAT_VERSION => Err(StoreError::FormatTooNew {
            root: root.to_path_buf(),
            found: v,
            supported: FORMAT_VERSION,
        }),
        Some(v) => migrate(conn, v).map_err(|e| match e {
            Migration::Db(source) => err(source),
            Migration::Unsupported => StoreError::FormatUnsupported {
                root: root.to_path_buf(),
                found: v,
                supported: FORMAT_VERSION,
            },
        }),
    }
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
