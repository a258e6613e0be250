//! Splitting a mount's entries into parts, so that no manifest outgrows what registries take
//! (distribution caps manifests at 4 MiB) and no config outgrows the store's JSON cap.

use std::collections::HashMap;

use rbuild_oci::Descriptor;

use super::format::Entry;

/// Most layers (chunks) one part's manifest lists (about 140 bytes each in its JSON).
pub(crate) const PART_CHUNKS: usize = 8192;
/// About the most bytes of entries one part's config holds.
pub(crate) const PART_BYTES: usize = 4 << 20;

/// Entries of one part, their chunk indexes renumbered into `chunks`, its layers.
pub(crate) type Part = (Vec<Entry>, Vec<Descriptor>);

/// A generous guess of an entry's JSON size.
fn json_size(e: &Entry) -> usize {
    120 + e.path.len() * 2 + e.target.as_ref().map_or(0, |t| t.len() * 2) + 120 * e.chunks.len()
}

/// Splits `entries` (whose chunk indexes point into `chunks`) into parts; a chunk two parts
/// use is listed by both. Always at least one part.
pub(crate) fn split(entries: Vec<Entry>, chunks: &[Descriptor]) -> Vec<Part> {
    let mut parts = Vec::new();
    let mut cur: Vec<Entry> = Vec::new();
    let mut local: HashMap<u64, u64> = HashMap::new();
    let mut layers: Vec<Descriptor> = Vec::new();
    let mut bytes = 0;
    for mut e in entries {
        let fresh = e
            .chunks
            .iter()
            .filter(|p| !local.contains_key(&p.0))
            .count();
        let full = layers.len() + fresh > PART_CHUNKS || bytes + json_size(&e) > PART_BYTES;
        if full && !cur.is_empty() {
            parts.push((std::mem::take(&mut cur), std::mem::take(&mut layers)));
            local.clear();
            bytes = 0;
        }
        bytes += json_size(&e);
        for piece in &mut e.chunks {
            let next = local.len() as u64;
            let i = *local.entry(piece.0).or_insert_with(|| {
                layers.push(chunks[piece.0 as usize].clone());
                next
            });
            piece.0 = i;
        }
        cur.push(e);
    }
    parts.push((cur, layers));
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cachemounts::format::{Kind, Piece};
    use rbuild_oci::Digest;

    fn file(path: &str, chunks: &[u64]) -> Entry {
        Entry {
            path: path.into(),
            kind: Kind::File,
            mode: 0o644,
            uid: 0,
            gid: 0,
            mtime: [0, 0],
            size: chunks.len() as u64,
            target: None,
            chunks: chunks
                .iter()
                .map(|c| Piece(*c, 0, 1, Digest::of(b"p")))
                .collect(),
        }
    }

    #[test]
    fn parts_renumber_chunks_and_stay_under_the_caps() {
        let chunks: Vec<Descriptor> = (0..PART_CHUNKS as u64 + 10)
            .map(|i| Descriptor::new("x", Digest::of(&i.to_le_bytes()), 1))
            .collect();
        let mut entries = vec![file("shared", &[0])];
        entries.extend((1..chunks.len() as u64).map(|i| file(&format!("f{i}"), &[i, 0])));
        let parts = split(entries, &chunks);
        assert_eq!(parts.len(), 2);
        for (entries, layers) in &parts {
            assert!(layers.len() <= PART_CHUNKS);
            for e in entries {
                for p in &e.chunks {
                    assert!((p.0 as usize) < layers.len());
                }
            }
        }
        // Chunk 0 is used in both parts: each lists it.
        assert!(parts.iter().all(|(_, l)| l.contains(&chunks[0])));
        let (first, second) = (&parts[0], &parts[1]);
        let last = &first.0[first.0.len() - 1];
        assert_eq!(first.1[last.chunks[0].0 as usize], chunks[PART_CHUNKS - 1]);
        assert_eq!(
            second.1[second.0[0].chunks[0].0 as usize],
            chunks[PART_CHUNKS]
        );
        assert_eq!(
            split(Vec::new(), &[]).len(),
            1,
            "an empty mount has one part"
        );
    }
}
