//! The device allow-list of every RUN: Docker's defaults (deny everything, then allow mknod of
//! any node and read/write/mknod of the standard character devices). A RUN can still create
//! /dev/sda's node, but opening it fails with EPERM.

/// Access bits, as the kernel's BPF_DEVCG_ACC_* values.
pub const MKNOD: u8 = 1;
/// Read access.
pub const READ: u8 = 2;
/// Write access.
pub const WRITE: u8 = 4;
/// Read, write and mknod.
pub const RWM: u8 = READ | WRITE | MKNOD;

/// Which device nodes a rule covers, as the kernel's BPF_DEVCG_DEV_* values (0 = both).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DevType {
    /// Block and character devices.
    All = 0,
    /// Block devices.
    Block = 1,
    /// Character devices.
    Char = 2,
}

/// One allow rule; `None` numbers match any.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeviceRule {
    /// The node type.
    pub kind: DevType,
    /// Major number.
    pub major: Option<u32>,
    /// Minor number.
    pub minor: Option<u32>,
    /// Allowed accesses (MKNOD | READ | WRITE).
    pub access: u8,
}

const fn chr(major: u32, minor: Option<u32>, access: u8) -> DeviceRule {
    DeviceRule {
        kind: DevType::Char,
        major: Some(major),
        minor,
        access,
    }
}

/// Docker's default allow-list (moby's default spec plus runc's always-allowed devices).
pub const DEFAULT_ALLOW: &[DeviceRule] = &[
    DeviceRule {
        kind: DevType::Char,
        major: None,
        minor: None,
        access: MKNOD,
    },
    DeviceRule {
        kind: DevType::Block,
        major: None,
        minor: None,
        access: MKNOD,
    },
    chr(1, Some(3), RWM),    // null
    chr(1, Some(5), RWM),    // zero
    chr(1, Some(7), RWM),    // full
    chr(1, Some(8), RWM),    // random
    chr(1, Some(9), RWM),    // urandom
    chr(5, Some(0), RWM),    // tty
    chr(5, Some(1), RWM),    // console
    chr(5, Some(2), RWM),    // ptmx
    chr(136, None, RWM),     // pts/*
    chr(10, Some(200), RWM), // net/tun
];

/// Whether `rules` allow `access` to a device: the reference the BPF program must agree with.
#[cfg(test)]
pub fn allows(rules: &[DeviceRule], kind: DevType, major: u32, minor: u32, access: u8) -> bool {
    rules.iter().any(|r| {
        (r.kind == DevType::All || r.kind == kind)
            && r.major.is_none_or(|m| m == major)
            && r.minor.is_none_or(|m| m == minor)
            && access & !r.access == 0
    })
}

/// A rule in the devices.allow syntax of cgroup v1: "c 1:3 rwm", "b *:* m".
pub fn v1_line(r: &DeviceRule) -> String {
    let kind = match r.kind {
        DevType::All => 'a',
        DevType::Block => 'b',
        DevType::Char => 'c',
    };
    let num = |n: Option<u32>| n.map_or("*".to_string(), |n| n.to_string());
    let mut access = String::new();
    for (bit, c) in [(READ, 'r'), (WRITE, 'w'), (MKNOD, 'm')] {
        if r.access & bit != 0 {
            access.push(c);
        }
    }
    format!("{kind} {}:{} {access}", num(r.major), num(r.minor))
}

/// The cgroup v1 control-file writes, in order: deny everything, then each allow rule.
pub fn v1_writes(rules: &[DeviceRule]) -> Vec<(&'static str, String)> {
    let mut w = vec![("devices.deny", "a".to_string())];
    w.extend(rules.iter().map(|r| ("devices.allow", v1_line(r))));
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f3_v1_writes_deny_all_then_allow_dockers_list() {
        let w = v1_writes(DEFAULT_ALLOW);
        assert_eq!(w[0], ("devices.deny", "a".to_string()));
        let lines: Vec<&str> = w[1..].iter().map(|(_, l)| l.as_str()).collect();
        assert_eq!(
            lines,
            [
                "c *:* m",
                "b *:* m",
                "c 1:3 rwm",
                "c 1:5 rwm",
                "c 1:7 rwm",
                "c 1:8 rwm",
                "c 1:9 rwm",
                "c 5:0 rwm",
                "c 5:1 rwm",
                "c 5:2 rwm",
                "c 136:* rwm",
                "c 10:200 rwm"
            ]
        );
        assert!(w[1..].iter().all(|(f, _)| *f == "devices.allow"));
    }

    #[test]
    fn f3_device_allow_list_refuses_block_devices() {
        let d = DEFAULT_ALLOW;
        assert!(allows(d, DevType::Block, 7, 0, MKNOD));
        assert!(!allows(d, DevType::Block, 7, 0, READ));
        assert!(!allows(d, DevType::Block, 8, 0, READ | WRITE));
        assert!(allows(d, DevType::Char, 1, 3, READ | WRITE));
        assert!(allows(d, DevType::Char, 136, 42, READ | WRITE));
        assert!(!allows(d, DevType::Char, 1, 1, READ), "/dev/mem");
        assert!(!allows(d, DevType::Char, 10, 229, READ), "/dev/fuse");
        assert!(allows(d, DevType::Char, 4, 64, MKNOD));
    }
}
