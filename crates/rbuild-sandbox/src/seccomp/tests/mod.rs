//! The generator against a small classic-BPF interpreter and a reference reading of the plan.

use super::bpf::*;
use super::compile::*;
use super::profile::{Arg, Op, Profile};
use super::*;

const EPERM: u32 = RET_ERRNO | libc::EPERM as u32;
const ENOSYS: u32 = RET_ERRNO | libc::ENOSYS as u32;

/// Runs `p` on one struct seccomp_data, as the kernel would.
fn interpret(p: &[Insn], arch: u32, nr: u32, args: [u64; 6]) -> u32 {
    let mut data = Vec::with_capacity(64);
    data.extend(nr.to_ne_bytes());
    data.extend(arch.to_ne_bytes());
    data.extend(0u64.to_ne_bytes());
    args.iter().for_each(|a| data.extend(a.to_ne_bytes()));
    let (mut a, mut pc) = (0u32, 0usize);
    loop {
        let i = p[pc];
        pc += 1;
        let jump = |cond: bool| usize::from(if cond { i.jt } else { i.jf });
        match i.code {
            LD_W_ABS => {
                let k = i.k as usize;
                a = u32::from_ne_bytes(data[k..k + 4].try_into().unwrap());
            }
            AND_K => a &= i.k,
            JA => pc += i.k as usize,
            JEQ_K => pc += jump(a == i.k),
            JGT_K => pc += jump(a > i.k),
            JGE_K => pc += jump(a >= i.k),
            RET_K => return i.k,
            c => panic!("unexpected opcode {c:#x}"),
        }
    }
}

/// What the plan says, read directly: the first check whose conditions hold, else the default.
fn reference(plan: &Plan, nr: u32, args: [u64; 6]) -> u32 {
    if plan.newer_than.is_some_and(|h| nr > h) {
        return ENOSYS;
    }
    let holds = |a: &Arg| {
        let v = args[a.index as usize];
        match a.op {
            Op::Eq => v == a.value,
            Op::Ne => v != a.value,
            Op::Lt => v < a.value,
            Op::Le => v <= a.value,
            Op::Gt => v > a.value,
            Op::Ge => v >= a.value,
            Op::MaskedEq => v & a.value == a.value_two,
        }
    };
    plan.syscalls
        .get(&nr)
        .and_then(|checks| checks.iter().find(|c| c.args.iter().all(holds)))
        .map_or(plan.default, |c| c.ret)
}

fn default_caps() -> Vec<&'static str> {
    crate::caps::DEFAULT_CAPS.iter().map(|(_, n)| *n).collect()
}

fn native_plan(profile: &Profile, caps: &[&str]) -> Plan {
    let t = Target {
        arch: X86_64,
        caps,
        kernel: (6, 1),
    };
    plan(profile, &t, &syscalls::number, syscalls::highest()).unwrap()
}

fn nr(name: &str) -> u32 {
    syscalls::number(name).unwrap()
}

/// Runs the default program for this build on one call.
fn default_says(name: &str, args: [u64; 6]) -> u32 {
    let p = compile(&default_profile(), &default_caps(), (6, 1)).unwrap();
    interpret(&p, X86_64.audit, nr(name), args)
}

#[test]
fn default_profile_allows_the_common_calls() {
    for name in [
        "read",
        "write",
        "execve",
        "openat",
        "clone",
        "chroot",
        "ptrace",
        "arch_prctl",
    ] {
        assert_eq!(default_says(name, [0; 6]), RET_ALLOW, "{name}");
    }
}

#[test]
fn default_profile_refuses_what_docker_refuses() {
    for name in [
        "keyctl",
        "add_key",
        "bpf",
        "perf_event_open",
        "unshare",
        "mount",
        "umount2",
        "kexec_load",
        "init_module",
        "setns",
        "reboot",
        "io_uring_setup",
    ] {
        assert_eq!(default_says(name, [0; 6]), EPERM, "{name}");
    }
    assert_eq!(default_says("clone3", [0; 6]), ENOSYS);
}

#[test]
fn default_profile_argument_rules() {
    let user_ns = libc::CLONE_NEWUSER as u64;
    let fork_flags = (libc::CLONE_CHILD_SETTID | libc::CLONE_CHILD_CLEARTID) as u64 | 17;
    assert_eq!(default_says("clone", [user_ns | 17, 0, 0, 0, 0, 0]), EPERM);
    assert_eq!(
        default_says("clone", [fork_flags, 0, 0, 0, 0, 0]),
        RET_ALLOW
    );
    let sock = |family: u64| default_says("socket", [family, 1, 0, 0, 0, 0]);
    assert_eq!(sock(libc::AF_INET as u64), RET_ALLOW);
    assert_eq!(sock(libc::AF_UNIX as u64), RET_ALLOW);
    assert_eq!(sock(libc::AF_VSOCK as u64), EPERM);
    assert_eq!(sock(libc::AF_ALG as u64), EPERM);
    assert_eq!(sock(39), RET_ALLOW);
    assert_eq!(
        sock(u64::from(u32::MAX) + 1 + 40),
        RET_ALLOW,
        "high word decides"
    );
    let pers = |p: u64| default_says("personality", [p, 0, 0, 0, 0, 0]);
    assert_eq!(pers(0), RET_ALLOW);
    assert_eq!(pers(0xffff_ffff), RET_ALLOW);
    assert_eq!(pers(libc::ADDR_NO_RANDOMIZE as u64), EPERM);
}

#[test]
fn other_abis_and_unknown_numbers() {
    let p = compile(&default_profile(), &default_caps(), (6, 1)).unwrap();
    let i386 = 0x4000_0003;
    assert_eq!(interpret(&p, i386, 3, [0; 6]), EPERM, "i386 ABI");
    assert_eq!(
        interpret(&p, X86_64.audit, 0x4000_0000, [0; 6]),
        EPERM,
        "x32"
    );
    let newer = syscalls::highest() + 1;
    assert_eq!(interpret(&p, X86_64.audit, newer, [0; 6]), ENOSYS);
    assert!(p.len() < MAX_INSNS);
}

#[test]
fn capabilities_unlock_their_calls() {
    let mut caps = default_caps();
    caps.push("CAP_SYS_ADMIN");
    let plan = native_plan(&default_profile(), &caps);
    let p = program(&plan, &X86_64);
    let user_ns = libc::CLONE_NEWUSER as u64;
    for (name, args) in [
        ("unshare", [user_ns, 0, 0, 0, 0, 0]),
        ("clone", [user_ns, 0, 0, 0, 0, 0]),
    ] {
        assert_eq!(
            interpret(&p, X86_64.audit, nr(name), args),
            RET_ALLOW,
            "{name}"
        );
    }
    assert_eq!(interpret(&p, X86_64.audit, nr("clone3"), [0; 6]), RET_ALLOW);
    let plan = native_plan(&default_profile(), &[]);
    let p = program(&plan, &X86_64);
    assert_eq!(interpret(&p, X86_64.audit, nr("chroot"), [0; 6]), EPERM);
}

/// Argument vectors around the boundaries of every value in the profile.
fn probes(plan: &Plan) -> Vec<[u64; 6]> {
    let mut values = vec![0u64, 1, u64::MAX, 1 << 32, (1 << 32) - 1];
    for a in plan.syscalls.values().flatten().flat_map(|c| &c.args) {
        for v in [a.value, a.value_two, a.value | a.value_two] {
            values.extend([v, v.wrapping_add(1), v.wrapping_sub(1), v ^ (1 << 32)]);
        }
    }
    let mut out = Vec::new();
    for v in values {
        for i in 0..6 {
            let mut args = [0u64; 6];
            args[i] = v;
            out.push(args);
        }
    }
    out
}

#[test]
fn program_agrees_with_the_plan_everywhere() {
    for caps in [
        default_caps(),
        vec![],
        vec!["CAP_SYS_ADMIN", "CAP_SYS_PTRACE"],
    ] {
        let plan = native_plan(&default_profile(), &caps);
        let p = program(&plan, &X86_64);
        let probes = probes(&plan);
        for nr in 0..=syscalls::highest() + 3 {
            for args in &probes {
                let got = interpret(&p, X86_64.audit, nr, *args);
                assert_eq!(got, reference(&plan, nr, *args), "nr {nr} args {args:x?}");
            }
        }
    }
}

mod profiles;
