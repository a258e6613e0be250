//! From a profile to the decisions of one filter: which rules apply on this architecture, with
//! these capabilities and this kernel, and what each syscall number returns.

use super::profile::{Action, Arg, Filter, Profile};
use super::SeccompError;
use std::collections::BTreeMap;

/// seccomp return values (linux/seccomp.h).
pub const RET_KILL_PROCESS: u32 = 0x8000_0000;
/// Kill the thread.
pub const RET_KILL_THREAD: u32 = 0;
/// Send SIGSYS.
pub const RET_TRAP: u32 = 0x0003_0000;
/// Fail with the errno in the low 16 bits.
pub const RET_ERRNO: u32 = 0x0005_0000;
/// Notify a tracer with the data in the low 16 bits.
pub const RET_TRACE: u32 = 0x7ff0_0000;
/// Allow and log.
pub const RET_LOG: u32 = 0x7ffc_0000;
/// Allow.
pub const RET_ALLOW: u32 = 0x7fff_0000;

/// An architecture the filter is generated for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Arch {
    /// Its AUDIT_ARCH_* value, which the kernel puts in seccomp_data.arch.
    pub audit: u32,
    /// Its name in profiles (Go's GOARCH).
    pub name: &'static str,
    /// Syscall numbers with this bit set are another ABI (x32) sharing the audit value.
    pub abi_bit: Option<u32>,
}

/// x86_64 (AUDIT_ARCH_X86_64); x32 calls carry bit 30 in their number.
pub const X86_64: Arch = Arch {
    audit: 0xc000_003e,
    name: "amd64",
    abi_bit: Some(0x4000_0000),
};

/// aarch64 (AUDIT_ARCH_AARCH64).
pub const AARCH64: Arch = Arch {
    audit: 0xc000_00b7,
    name: "arm64",
    abi_bit: None,
};

/// The architecture this crate is built for, if the filter supports it.
pub fn native() -> Option<Arch> {
    if cfg!(target_arch = "x86_64") {
        Some(X86_64)
    } else if cfg!(target_arch = "aarch64") {
        Some(AARCH64)
    } else {
        None
    }
}

/// What the filter is for: the architecture, the process's capabilities and the kernel.
#[derive(Debug, Clone)]
pub struct Target<'a> {
    /// The architecture.
    pub arch: Arch,
    /// Capability names of the process's bounding set.
    pub caps: &'a [&'a str],
    /// The running kernel (major, minor).
    pub kernel: (u32, u32),
}

/// One applicable rule of a syscall.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Check {
    /// Conditions that must all hold (none: always).
    pub args: Vec<Arg>,
    /// The seccomp return value when they hold.
    pub ret: u32,
}

/// The decisions of one filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    /// The return value of a syscall no rule matches.
    pub default: u32,
    /// The rules per syscall number, conditional ones first, in profile order.
    pub syscalls: BTreeMap<u32, Vec<Check>>,
    /// Numbers above this are newer than the name table: ENOSYS, so libc falls back (as runc
    /// does); None when the default already allows.
    pub newer_than: Option<u32>,
}

/// The seccomp return value of an action.
pub fn ret(action: Action, errno: Option<u32>) -> Result<u32, SeccompError> {
    let data = errno.unwrap_or(libc::EPERM as u32) & 0xffff;
    Ok(match action {
        Action::Kill | Action::KillThread => RET_KILL_THREAD,
        Action::KillProcess => RET_KILL_PROCESS,
        Action::Trap => RET_TRAP,
        Action::Errno => RET_ERRNO | data,
        Action::Trace => RET_TRACE | data,
        Action::Allow => RET_ALLOW,
        Action::Log => RET_LOG,
        Action::Notify => return Err(SeccompError::Notify),
    })
}

/// "major.minor[.patch...]" as (major, minor); None when unreadable.
pub fn kernel_version(release: &str) -> Option<(u32, u32)> {
    let mut parts = release.split(['.', '-', '+']);
    let major = parts.next()?.parse().ok()?;
    let minor = parts
        .next()
        .map_or(Some(0), |m| m.parse().ok())
        .unwrap_or(0);
    Some((major, minor))
}

/// Whether a rule's includes all hold and none of its excludes does.
fn applies(includes: Option<&Filter>, excludes: Option<&Filter>, t: &Target) -> bool {
    let has_cap = |c: &String| t.caps.iter().any(|x| x == c);
    let is_arch = |a: &String| a == t.arch.name;
    let kernel_at_least = |k: &String| kernel_version(k).is_some_and(|v| t.kernel >= v);
    let inc = includes.is_none_or(|f| {
        f.caps.iter().flatten().all(has_cap)
            && f.arches
                .as_ref()
                .is_none_or(|a| a.is_empty() || a.iter().any(is_arch))
            && f.min_kernel.as_ref().is_none_or(kernel_at_least)
    });
    let exc = excludes.is_some_and(|f| {
        f.caps.iter().flatten().any(has_cap)
            || f.arches.iter().flatten().any(is_arch)
            || f.min_kernel.as_ref().is_some_and(kernel_at_least)
    });
    inc && !exc
}

/// The decisions of `profile` for `target`; `number` names syscalls on its architecture
/// (names it does not know are skipped, as runc does), `highest` is the newest number it knows.
pub fn plan(
    profile: &Profile,
    target: &Target,
    number: &dyn Fn(&str) -> Option<u32>,
    highest: u32,
) -> Result<Plan, SeccompError> {
    let default = ret(profile.default_action, profile.default_errno_ret)?;
    let mut syscalls: BTreeMap<u32, Vec<Check>> = BTreeMap::new();
    for rule in profile.syscalls.iter().flatten() {
        if !applies(rule.includes.as_ref(), rule.excludes.as_ref(), target) {
            continue;
        }
        let args = rule.args.clone().unwrap_or_default();
        if let Some(a) = args.iter().find(|a| a.index > 5) {
            return Err(SeccompError::ArgIndex {
                syscall: rule.all_names().next().unwrap_or("").to_string(),
                index: a.index,
            });
        }
        let check = Check {
            args,
            ret: ret(rule.action, rule.errno_ret)?,
        };
        for nr in rule.all_names().filter_map(number) {
            syscalls.entry(nr).or_default().push(check.clone());
        }
    }
    for checks in syscalls.values_mut() {
        // A check with conditions must be tried before one that always matches.
        checks.sort_by_key(|c| c.args.is_empty());
        checks.dedup();
    }
    // Rules that return the default change nothing.
    syscalls.retain(|_, c| !(c.len() == 1 && c[0].args.is_empty() && c[0].ret == default));
    let newer_than = (default != RET_ALLOW).then_some(highest);
    Ok(Plan {
        default,
        syscalls,
        newer_than,
    })
}
