//! Generic key-value namespaces in `cache.db`, with the blobs each entry refers to.

use std::time::{SystemTime, UNIX_EPOCH};

use rbuild_oci::Digest;
use rusqlite::{params, OptionalExtension, Transaction};

use crate::db::FORMAT_VERSION;
use crate::error::Result;
use crate::Store;

/// Seconds since the epoch (0 if the clock is before 1970).
pub(crate) fn now_unix() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

/// An entry dropped because a blob it refers to is gone: (namespace, key, blob).
pub(crate) type Dropped = (String, String, Digest);

impl Store {
    /// The store format version this build reads and writes.
    pub fn format_version(&self) -> i64 {
        FORMAT_VERSION
    }

    /// A value from a namespace.
    pub fn kv_get(&self, ns: &str, key: &str) -> Result<Option<Vec<u8>>> {
        self.db.with(|conn| {
            conn.prepare_cached("SELECT value FROM kv WHERE ns = ?1 AND key = ?2")?
                .query_row(params![ns, key], |r| r.get(0))
                .optional()
        })
    }

    /// Sets a value (clearing any blob references recorded for the key).
    pub fn kv_put(&self, ns: &str, key: &str, value: &[u8]) -> Result<()> {
        self.kv_put_refs(ns, key, value, &[])
    }

    /// Sets a value and records the blobs it refers to; `prune` drops the entry when one of
    /// them is removed.
    pub fn kv_put_refs(&self, ns: &str, key: &str, value: &[u8], blobs: &[Digest]) -> Result<()> {
        self.db.with(|conn| {
            let tx = conn.transaction()?;
            put_one(&tx, ns, key, value, blobs)?;
            tx.commit()
        })
    }

    /// Sets many values in one transaction.
    pub fn kv_put_many(&self, ns: &str, entries: &[(String, Vec<u8>)]) -> Result<()> {
        self.db.with(|conn| {
            let tx = conn.transaction()?;
            for (key, value) in entries {
                put_one(&tx, ns, key, value, &[])?;
            }
            tx.commit()
        })
    }

    /// Deletes a key (absent keys are fine).
    pub fn kv_delete(&self, ns: &str, key: &str) -> Result<()> {
        self.db.with(|conn| {
            let tx = conn.transaction()?;
            delete_one(&tx, ns, key)?;
            tx.commit()
        })
    }

    /// Every key of a namespace, sorted.
    pub fn kv_keys(&self, ns: &str) -> Result<Vec<String>> {
        self.db.with(|conn| {
            let mut stmt = conn.prepare("SELECT key FROM kv WHERE ns = ?1 ORDER BY key")?;
            let rows = stmt.query_map(params![ns], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Deletes every key of a namespace; returns how many.
    pub fn kv_clear(&self, ns: &str) -> Result<usize> {
        self.db.with(|conn| {
            let tx = conn.transaction()?;
            let n = tx.execute("DELETE FROM kv WHERE ns = ?1", params![ns])?;
            tx.execute("DELETE FROM kv_refs WHERE ns = ?1", params![ns])?;
            tx.commit()?;
            Ok(n)
        })
    }

    /// Deletes every key of a namespace starting with `prefix`; returns how many.
    pub(crate) fn kv_delete_prefix(&self, ns: &str, prefix: &str) -> Result<usize> {
        const MATCH: &str = "ns = ?1 AND substr(key, 1, length(?2)) = ?2";
        self.db.with(|conn| {
            let tx = conn.transaction()?;
            let n = tx.execute(
                &format!("DELETE FROM kv WHERE {MATCH}"),
                params![ns, prefix],
            )?;
            tx.execute(
                &format!("DELETE FROM kv_refs WHERE {MATCH}"),
                params![ns, prefix],
            )?;
            tx.commit()?;
            Ok(n)
        })
    }

    /// Every blob digest some entry refers to.
    pub(crate) fn kv_referenced_blobs(&self) -> Result<Vec<Digest>> {
        let all: Vec<String> = self.db.with(|conn| {
            let mut stmt = conn.prepare("SELECT DISTINCT digest FROM kv_refs")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect()
        })?;
        Ok(all.iter().filter_map(|s| s.parse().ok()).collect())
    }

    /// Deletes every entry (any namespace) that refers to one of `blobs`; returns them.
    pub(crate) fn kv_drop_referring(&self, blobs: &[Digest]) -> Result<Vec<Dropped>> {
        self.db.with(|conn| {
            let tx = conn.transaction()?;
            let mut dropped = Vec::new();
            for d in blobs {
                for (ns, key) in referring(&tx, d)? {
                    delete_one(&tx, &ns, &key)?;
                    dropped.push((ns, key, d.clone()));
                }
            }
            tx.commit()?;
            Ok(dropped)
        })
    }
}

fn put_one(
    tx: &Transaction<'_>,
    ns: &str,
    key: &str,
    value: &[u8],
    blobs: &[Digest],
) -> rusqlite::Result<()> {
    // Cached statements: a build makes a few of these per step, and parsing the SQL each
    // time was most of their cost.
    tx.prepare_cached(
        "INSERT OR REPLACE INTO kv (ns, key, value, updated) VALUES (?1, ?2, ?3, ?4)",
    )?
    .execute(params![ns, key, value, now_unix()])?;
    tx.prepare_cached("DELETE FROM kv_refs WHERE ns = ?1 AND key = ?2")?
        .execute(params![ns, key])?;
    for d in blobs {
        tx.prepare_cached("INSERT OR IGNORE INTO kv_refs (ns, key, digest) VALUES (?1, ?2, ?3)")?
            .execute(params![ns, key, d.to_string()])?;
    }
    Ok(())
}

fn delete_one(tx: &Transaction<'_>, ns: &str, key: &str) -> rusqlite::Result<()> {
    tx.prepare_cached("DELETE FROM kv WHERE ns = ?1 AND key = ?2")?
        .execute(params![ns, key])?;
    tx.prepare_cached("DELETE FROM kv_refs WHERE ns = ?1 AND key = ?2")?
        .execute(params![ns, key])?;
    Ok(())
}

fn referring(tx: &Transaction<'_>, d: &Digest) -> rusqlite::Result<Vec<(String, String)>> {
    let mut stmt = tx.prepare("SELECT ns, key FROM kv_refs WHERE digest = ?1")?;
    let rows = stmt.query_map(params![d.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?;
    rows.collect()
}
