//! Rootless runs: an ordinary user's rbuild enters a user namespace ([`enter`]) where it is
//! root over the ids /etc/subuid and /etc/subgid give it, then builds as root would. The pure
//! part here reads the ranges and makes the map newuidmap/newgidmap (Debian's `uidmap`) write.

mod enter;
pub use enter::{enter, in_user_namespace, session, Mapping, Session};

/// A range of subordinate ids.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IdRange {
    /// The first id on the host.
    pub start: u32,
    /// How many ids.
    pub count: u32,
}

/// How many ids a container user namespace wants: the 16-bit range images assume.
pub const WANTED_IDS: u32 = 65536;

/// The ranges /etc/subuid or /etc/subgid text gives to `user` (by name or decimal id), in
/// file order; comments, blank and malformed lines are skipped, as shadow's tools do.
pub fn subid_ranges(text: &str, user: &str, uid: u32) -> Vec<IdRange> {
    text.lines()
        .filter(|l| !l.trim_start().starts_with('#'))
        .filter_map(|l| {
            let mut f = l.trim().split(':');
            let (owner, start, count) = (f.next()?, f.next()?, f.next()?);
            let mine = owner == user || owner.parse::<u32>().is_ok_and(|o| o == uid);
            let range = IdRange {
                start: start.parse().ok()?,
                count: count.parse().ok()?,
            };
            (mine && range.count > 0).then_some(range)
        })
        .collect()
}

/// The first range with at least `WANTED_IDS` ids, else the largest.
pub fn best_range(ranges: &[IdRange]) -> Option<IdRange> {
    ranges
        .iter()
        .find(|r| r.count >= WANTED_IDS)
        .or_else(|| ranges.iter().max_by_key(|r| r.count))
        .copied()
}

/// The map of a rootless user namespace: id 0 inside is the caller's own id, ids from 1 on are
/// the subordinate range (as rootlesskit and podman map them). Triples of (inside, outside,
/// count).
pub fn id_map(own: u32, range: IdRange) -> [(u32, u32, u32); 2] {
    [(0, own, 1), (1, range.start, range.count)]
}

/// True when a uid_map or gid_map text maps `id` (inside the namespace).
pub fn maps_id(map: &str, id: u32) -> bool {
    map.lines().any(|l| {
        let f: Vec<u64> = l
            .split_whitespace()
            .filter_map(|n| n.parse().ok())
            .collect();
        f.len() == 3 && (f[0]..f[0] + f[2]).contains(&u64::from(id))
    })
}

/// True when /proc/self/uid_map text is the initial namespace's identity map.
pub fn is_identity_map(uid_map: &str) -> bool {
    uid_map.split_whitespace().eq(["0", "0", "4294967295"])
}

/// The arguments of newuidmap (or newgidmap, same syntax) for process `pid`.
pub fn newidmap_args(tool: &str, pid: u32, map: &[(u32, u32, u32)]) -> Vec<String> {
    let mut args = vec![tool.to_string(), pid.to_string()];
    for (inside, outside, count) in map {
        args.extend([inside.to_string(), outside.to_string(), count.to_string()]);
    }
    args
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBUID: &str = "# users\nalice:100000:65536\nbob:165536:1000\n1001:300000:65536\n\
        broken\nbob:200000:notanumber\nbob:400000:70000\ncarol:500000:0\n";

    #[test]
    fn ranges_by_name_or_id() {
        assert_eq!(
            subid_ranges(SUBUID, "alice", 1000),
            vec![IdRange {
                start: 100000,
                count: 65536
            }]
        );
        let bob = subid_ranges(SUBUID, "bob", 1001);
        assert_eq!(bob.len(), 3, "{bob:?}");
        assert_eq!(best_range(&bob).map(|r| r.start), Some(300000));
        assert!(subid_ranges(SUBUID, "carol", 1002).is_empty());
        assert_eq!(best_range(&[]), None);
        let small = [IdRange {
            start: 1,
            count: 10,
        }];
        assert_eq!(best_range(&small), Some(small[0]));
    }

    #[test]
    fn identity_map_means_the_initial_namespace() {
        assert!(is_identity_map("         0          0 4294967295\n"));
        assert!(!is_identity_map("         0       1000          1\n"));
        assert!(!is_identity_map("0 1000 1\n1 100000 65536\n"));
        assert!(maps_id("0 1000 1\n1 100000 65536\n", 5));
        assert!(!maps_id("         0       1000          1\n", 5));
        assert!(maps_id("0 0 4294967295\n", 5));
    }

    #[test]
    fn the_map_puts_the_caller_at_root() {
        let map = id_map(
            1000,
            IdRange {
                start: 100000,
                count: 65536,
            },
        );
        assert_eq!(
            newidmap_args("newuidmap", 42, &map),
            ["newuidmap", "42", "0", "1000", "1", "1", "100000", "65536"]
        );
    }
}
