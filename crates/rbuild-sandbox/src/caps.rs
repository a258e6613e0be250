//! Docker's default capability set and how the process is reduced to it.

use crate::sys::ProcSys;

/// Capability numbers (linux/capability.h) of Docker's default set.
pub const DEFAULT_CAPS: &[(u32, &str)] = &[
    (0, "CAP_CHOWN"),
    (1, "CAP_DAC_OVERRIDE"),
    (3, "CAP_FOWNER"),
    (4, "CAP_FSETID"),
    (5, "CAP_KILL"),
    (6, "CAP_SETGID"),
    (7, "CAP_SETUID"),
    (8, "CAP_SETPCAP"),
    (10, "CAP_NET_BIND_SERVICE"),
    (13, "CAP_NET_RAW"),
    (18, "CAP_SYS_CHROOT"),
    (27, "CAP_MKNOD"),
    (29, "CAP_AUDIT_WRITE"),
    (31, "CAP_SETFCAP"),
];

/// The default set as a 64-bit mask.
pub fn default_mask() -> u64 {
    DEFAULT_CAPS.iter().fold(0, |m, (c, _)| m | (1u64 << c))
}

/// Every capability of a kernel whose last capability number is `last_cap`.
pub fn all_mask(last_cap: u32) -> u64 {
    u64::MAX >> (63 - last_cap.min(63))
}

/// The permitted set from /proc/self/status text (`CapPrm:` in hex); every capability up to
/// `last_cap` when the line is missing.
pub fn permitted(status: &str, last_cap: u32) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix("CapPrm:"))
        .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        .unwrap_or(u64::MAX)
        & all_mask(last_cap)
}

/// The names of the default set, as seccomp profiles name capabilities.
pub fn default_names() -> Vec<&'static str> {
    DEFAULT_CAPS.iter().map(|(_, n)| *n).collect()
}

/// Capabilities to drop from the bounding set to keep only `keep`, given the kernel's last
/// capability number.
pub fn to_drop(last_cap: u32, keep: u64) -> Vec<u32> {
    (0..=last_cap.min(63))
        .filter(|c| keep & (1u64 << c) == 0)
        .collect()
}

/// Reads /proc/sys/kernel/cap_last_cap (40 on current kernels if unreadable).
pub fn last_cap() -> u32 {
    std::fs::read_to_string("/proc/sys/kernel/cap_last_cap")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(40)
}

/// Drops everything outside `keep` from the bounding set (needs CAP_SETPCAP, so it runs before
/// the uid changes).
pub fn limit_bounding<P: ProcSys>(sys: &mut P, last_cap: u32, keep: u64) -> std::io::Result<()> {
    for cap in to_drop(last_cap, keep) {
        sys.drop_bounding(cap)?;
    }
    sys.clear_ambient()
}

/// Sets the final sets after the uid change: `keep` for root, nothing for other users (as a
/// setuid transition without keep-caps does). Inheritable is always empty, as in Docker ≥ 20.10.
pub fn apply_sets<P: ProcSys>(sys: &mut P, uid: u32, keep: u64) -> std::io::Result<()> {
    let set = if uid == 0 { keep } else { 0 };
    sys.capset(set, set, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mask_has_fourteen_caps_and_no_sys_admin() {
        assert_eq!(default_mask().count_ones(), 14);
        assert_eq!(
            default_mask() & (1 << 21),
            0,
            "CAP_SYS_ADMIN must not be in the set"
        );
    }

    #[test]
    fn drops_everything_else() {
        let d = to_drop(40, default_mask());
        assert!(d.contains(&21) && d.contains(&12) && d.contains(&40));
        assert!(!d.contains(&0) && !d.contains(&31));
        assert_eq!(d.len(), 41 - 14);
        assert!(to_drop(40, all_mask(40)).is_empty());
    }

    #[test]
    fn permitted_set_from_status() {
        let status = "Name:\tx\nCapPrm:\t000001fffeffffff\nCapEff:\t0\n";
        assert_eq!(permitted(status, 40), 0x1ff_feff_ffff);
        assert_eq!(permitted("", 40), all_mask(40));
    }

    #[test]
    fn all_caps_up_to_the_last() {
        assert_eq!(all_mask(40), 0x1ff_ffff_ffff);
        assert_eq!(all_mask(0), 1);
        assert_eq!(all_mask(63), u64::MAX);
        assert_eq!(all_mask(70), u64::MAX);
    }
}
