//! The stat cache's record: fixed-size binary entries (stat key, digest), and an index over
//! the loaded record. A no-op rebuild of a large context loads the record on every build,
//! so loading must be cheap: no per-entry allocation, one small table of offsets.

use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::os::unix::fs::MetadataExt;

/// A raw sha256 digest.
pub type Digest = [u8; 32];

/// Bytes of one encoded entry: five u64/i64, two u32 nanoseconds, the digest.
pub const ENTRY_LEN: usize = 5 * 8 + 2 * 4 + 32;

/// The stat fields that identify one version of a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct StatKey {
    dev: u64,
    ino: u64,
    size: u64,
    mtime: i64,
    mtime_ns: u32,
    ctime: i64,
    ctime_ns: u32,
}

impl StatKey {
    /// The key of a file's current metadata.
    pub fn of(meta: &std::fs::Metadata) -> StatKey {
        StatKey {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.size(),
            mtime: meta.mtime(),
            mtime_ns: meta.mtime_nsec() as u32,
            ctime: meta.ctime(),
            ctime_ns: meta.ctime_nsec() as u32,
        }
    }

    /// The change time in nanoseconds since the epoch.
    pub fn ctime_total(&self) -> i128 {
        self.ctime as i128 * 1_000_000_000 + self.ctime_ns as i128
    }

    /// Appends the entry (little-endian fields, then the digest) to `out`.
    pub fn encode(&self, digest: &Digest, out: &mut Vec<u8>) {
        for v in [self.dev, self.ino, self.size] {
            out.extend_from_slice(&v.to_le_bytes());
        }
        out.extend_from_slice(&self.mtime.to_le_bytes());
        out.extend_from_slice(&self.mtime_ns.to_le_bytes());
        out.extend_from_slice(&self.ctime.to_le_bytes());
        out.extend_from_slice(&self.ctime_ns.to_le_bytes());
        out.extend_from_slice(digest);
    }

    /// Decodes one entry of exactly [`ENTRY_LEN`] bytes.
    pub fn decode(entry: &[u8]) -> Option<(StatKey, Digest)> {
        let mut at = 0;
        let mut take = |n: usize| {
            let part = entry.get(at..at + n);
            at += n;
            part
        };
        let u64_at = |b: Option<&[u8]>| Some(u64::from_le_bytes(b?.try_into().ok()?));
        let u32_at = |b: Option<&[u8]>| Some(u32::from_le_bytes(b?.try_into().ok()?));
        let key = StatKey {
            dev: u64_at(take(8))?,
            ino: u64_at(take(8))?,
            size: u64_at(take(8))?,
            mtime: u64_at(take(8))? as i64,
            mtime_ns: u32_at(take(4))?,
            ctime: u64_at(take(8))? as i64,
            ctime_ns: u32_at(take(4))?,
        };
        let digest = take(32)?.try_into().ok()?;
        (entry.len() == ENTRY_LEN).then_some((key, digest))
    }
}

/// A multiply-rotate hasher for stat keys: they are not attacker-chosen in any way that
/// matters (a context can only slow down its own build), and SipHash showed in profiles.
#[derive(Default, Clone, Copy)]
pub struct StatHasher(u64);

impl Hasher for StatHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for chunk in bytes.chunks(8) {
            let mut b = [0u8; 8];
            b[..chunk.len()].copy_from_slice(chunk);
            self.write_u64(u64::from_le_bytes(b));
        }
    }
    fn write_u32(&mut self, v: u32) {
        self.write_u64(v as u64);
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = (self.0.rotate_left(5) ^ v).wrapping_mul(0x51_7c_c1_b7_27_22_0a_95);
    }
    fn write_i64(&mut self, v: i64) {
        self.write_u64(v as u64);
    }
}

/// The hash of a stat key (for the index, and remembered for pruning).
pub fn key_hash(key: &StatKey) -> u64 {
    BuildHasherDefault::<StatHasher>::default().hash_one(key)
}

/// A loaded record and an open-addressing index of its entries by key hash.
///
/// Entries are only ever returned after comparing their whole key, so a hash collision can
/// cost a lookup (the file is read again), never a wrong digest.
#[derive(Default)]
pub struct Known {
    record: Vec<u8>,
    /// Entry number + 1 per slot (0: empty); a power of two at least twice the entries.
    slots: Vec<u32>,
}

impl Known {
    /// Indexes `record`; a record of the wrong size is ignored (everything is rehashed).
    pub fn new(record: Vec<u8>) -> Known {
        let n = record.len() / ENTRY_LEN;
        if !record.len().is_multiple_of(ENTRY_LEN) || n >= u32::MAX as usize / 2 {
            return Known::default();
        }
        let mut known = Known {
            slots: vec![0; (2 * n).next_power_of_two().max(2)],
            record,
        };
        for i in 0..n {
            if let Some((key, _)) = known.entry(i) {
                if known.find(&key).is_none() {
                    let slot = known.free_slot(&key);
                    known.slots[slot] = i as u32 + 1;
                }
            }
        }
        known
    }

    /// The remembered digest of `key`.
    pub fn get(&self, key: &StatKey) -> Option<Digest> {
        self.find(key).and_then(|i| self.entry(i)).map(|(_, d)| d)
    }

    /// How many entries the record holds.
    pub fn len(&self) -> usize {
        self.record.len() / ENTRY_LEN
    }

    /// Whether the record is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Every entry of the record.
    pub fn entries(&self) -> impl Iterator<Item = (StatKey, Digest)> + '_ {
        self.record
            .chunks_exact(ENTRY_LEN)
            .filter_map(StatKey::decode)
    }

    fn entry(&self, i: usize) -> Option<(StatKey, Digest)> {
        StatKey::decode(self.record.get(i * ENTRY_LEN..(i + 1) * ENTRY_LEN)?)
    }

    /// The first slot probed for `key`: the top bits of a multiplied hash mix best.
    fn home(&self, key: &StatKey) -> usize {
        let bits = self.slots.len().trailing_zeros();
        (key_hash(key).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - bits.max(1))) as usize
            & (self.slots.len() - 1)
    }

    fn find(&self, key: &StatKey) -> Option<usize> {
        let mask = self.slots.len().checked_sub(1)?;
        let mut slot = self.home(key);
        loop {
            let i = self.slots[slot].checked_sub(1)? as usize;
            if self.entry(i).is_some_and(|(k, _)| k == *key) {
                return Some(i);
            }
            slot = (slot + 1) & mask;
        }
    }

    fn free_slot(&self, key: &StatKey) -> usize {
        let mask = self.slots.len() - 1;
        let mut slot = self.home(key);
        while self.slots[slot] != 0 {
            slot = (slot + 1) & mask;
        }
        slot
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    fn key(ino: u64) -> StatKey {
        StatKey {
            dev: 1,
            ino,
            size: 3,
            mtime: 4,
            mtime_ns: 5,
            ctime: -6,
            ctime_ns: 999_999_999,
        }
    }

    #[test]
    fn stat_keys_round_trip() {
        let mut buf = Vec::new();
        key(2).encode(&[7; 32], &mut buf);
        assert_eq!(buf.len(), ENTRY_LEN);
        assert_eq!(StatKey::decode(&buf), Some((key(2), [7; 32])));
        assert_eq!(StatKey::decode(&buf[1..]), None);
        assert_eq!(key(2).ctime_total(), -5_000_000_001);
    }

    #[test]
    fn index_finds_every_entry_and_nothing_else() {
        let mut record = Vec::new();
        for i in 0..1000 {
            key(i).encode(&[i as u8; 32], &mut record);
        }
        // A duplicate key: the first entry wins, the record keeps both.
        key(5).encode(&[0xff; 32], &mut record);
        let known = Known::new(record);
        assert_eq!(known.len(), 1001);
        for i in 0..1000 {
            assert_eq!(known.get(&key(i)), Some([i as u8; 32]), "{i}");
        }
        assert_eq!(known.get(&key(1000)), None);
        assert_eq!(known.entries().count(), 1001);
    }

    #[test]
    fn bad_or_empty_records_know_nothing() {
        let mut record = Vec::new();
        key(1).encode(&[1; 32], &mut record);
        record.pop();
        assert!(Known::new(record).is_empty());
        let empty = Known::new(Vec::new());
        assert!(empty.is_empty() && empty.get(&key(1)).is_none());
        assert!(Known::default().get(&key(1)).is_none());
    }

    #[test]
    fn hasher_separates_nearby_keys() {
        let hashes: HashSet<u64> = (0..1000).map(|i| key_hash(&key(i))).collect();
        assert_eq!(hashes.len(), 1000);
    }
}
