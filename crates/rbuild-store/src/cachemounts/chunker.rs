//! Where pieces end. A file is cut by content (a gear rolling hash, as in FastCDC): a file up
//! to [`CHUNK_MIN`] bytes is one piece, a larger one is cut where the hash says, so an edit
//! moves at most the cuts next to it and the pieces before and after it keep their digests.
//! Pieces are then packed into blobs of up to [`PACK_MAX`] bytes (see `pack`).
//!
//! These constants and the gear table are part of the format only in that changing them
//! changes piece digests (every piece would be sent again once); import does not depend on
//! them.

/// No piece is shorter, except a file's last (or only) one.
pub const CHUNK_MIN: usize = 256 << 10;
/// Where the cut condition relaxes (about the average piece size).
pub const CHUNK_AVG: usize = 1 << 20;
/// No piece is longer.
pub const CHUNK_MAX: usize = 4 << 20;
/// A pack (one blob) closes before a piece would take it past this many bytes. Registries
/// spend milliseconds on each blob request (distribution 2.8 allocates a 4 MiB buffer per
/// blob GET), so an import of a few hundred packs costs far less than one of thousands of
/// file-sized blobs; since packs are reused by reference (see `pack`), their size does not
/// change what a second export sends.
pub const PACK_MAX: usize = 8 << 20;
/// The largest chunk (pack) an import accepts.
pub const CHUNK_LIMIT: u64 = 16 << 20;

/// Before [`CHUNK_AVG`]: 22 bits must be zero (cuts are rare); after: 18 bits. The bits are
/// the hash's top ones, which depend on the last 64 bytes (the low ones on the last few).
const MASK_SMALL: u64 = ((1 << 22) - 1) << 42;
const MASK_LARGE: u64 = ((1 << 18) - 1) << 46;

/// 256 pseudo-random words (splitmix64 from a fixed seed).
const fn gear_table() -> [u64; 256] {
    let mut table = [0u64; 256];
    let mut state: u64 = 0x7262_7569_6c64_2d63;
    let mut i = 0;
    while i < 256 {
        state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        table[i] = z ^ (z >> 31);
        i += 1;
    }
    table
}

static GEAR: [u64; 256] = gear_table();

/// The length of the next piece at the start of `data` (which holds at least [`CHUNK_MAX`]
/// bytes unless the file ends within it).
pub fn cut(data: &[u8]) -> usize {
    let end = data.len().min(CHUNK_MAX);
    if end <= CHUNK_MIN {
        return end;
    }
    let mid = CHUNK_AVG.min(end);
    let mut h = 0u64;
    for (i, b) in data.iter().enumerate().take(mid).skip(CHUNK_MIN) {
        h = (h << 1).wrapping_add(GEAR[*b as usize]);
        if h & MASK_SMALL == 0 {
            return i + 1;
        }
    }
    for (i, b) in data.iter().enumerate().take(end).skip(mid) {
        h = (h << 1).wrapping_add(GEAR[*b as usize]);
        if h & MASK_LARGE == 0 {
            return i + 1;
        }
    }
    end
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Deterministic noise (xorshift), so the test needs no randomness crate.
    pub(crate) fn noise(len: usize, seed: u64) -> Vec<u8> {
        let mut s = seed | 1;
        (0..len)
            .map(|_| {
                s ^= s << 13;
                s ^= s >> 7;
                s ^= s << 17;
                s as u8
            })
            .collect()
    }

    fn cuts(mut data: &[u8]) -> Vec<usize> {
        let mut out = Vec::new();
        while !data.is_empty() {
            let n = cut(data);
            out.push(n);
            data = &data[n..];
        }
        out
    }

    #[test]
    fn cuts_are_bounded_and_survive_an_insertion() {
        let data = noise(12 << 20, 7);
        let a = cuts(&data);
        assert!(a.len() >= 3, "{a:?}");
        assert!(a[..a.len() - 1]
            .iter()
            .all(|n| (CHUNK_MIN..=CHUNK_MAX).contains(n)));
        assert_eq!(a.iter().sum::<usize>(), data.len());
        // 100 bytes inserted early: the cuts after the first one or two come back.
        let mut edited = data[..1000].to_vec();
        edited.extend_from_slice(&[0xaa; 100]);
        edited.extend_from_slice(&data[1000..]);
        let b = cuts(&edited);
        let from_end = |v: &[usize], len: usize| {
            let mut at = 0;
            v.iter()
                .map(|n| {
                    at += n;
                    len - at
                })
                .collect::<std::collections::BTreeSet<_>>()
        };
        let (ea, eb) = (from_end(&a, data.len()), from_end(&b, edited.len()));
        let kept = ea.intersection(&eb).count();
        assert!(kept + 2 >= ea.len(), "{a:?} vs {b:?}");
    }

    #[test]
    fn short_data_is_one_piece() {
        assert_eq!(cut(&[1, 2, 3]), 3);
        assert_eq!(cut(&[]), 0);
        assert_eq!(cut(&noise(CHUNK_MIN, 1)), CHUNK_MIN);
    }
}
