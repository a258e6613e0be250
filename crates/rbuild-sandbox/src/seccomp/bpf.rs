//! The filter as a classic BPF program over struct seccomp_data (nr at 0, arch at 4, six u64
//! arguments from 16). Layout: check the architecture, refuse other ABIs, answer ENOSYS above
//! the known numbers, then a binary search over the syscall numbers whose leaves hold each
//! syscall's argument checks. Far jumps go through `ja`, so no conditional offset overflows.

use super::compile::{Arch, Check, Plan, RET_ERRNO};
use super::profile::{Arg, Op};
use serde::{Deserialize, Serialize};

/// One instruction (struct sock_filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Insn {
    /// Opcode.
    pub code: u16,
    /// Offset when the condition holds.
    pub jt: u8,
    /// Offset when it does not.
    pub jf: u8,
    /// Constant operand.
    pub k: u32,
}

/// `A = *(u32 *)(data + k)`: BPF_LD | BPF_W | BPF_ABS.
pub const LD_W_ABS: u16 = 0x20;
/// `A &= k`: BPF_ALU | BPF_AND | BPF_K.
pub const AND_K: u16 = 0x54;
/// `pc += k`: BPF_JMP | BPF_JA.
pub const JA: u16 = 0x05;
/// `A == k`: BPF_JMP | BPF_JEQ | BPF_K.
pub const JEQ_K: u16 = 0x15;
/// `A > k`: BPF_JMP | BPF_JGT | BPF_K.
pub const JGT_K: u16 = 0x25;
/// `A >= k`: BPF_JMP | BPF_JGE | BPF_K.
pub const JGE_K: u16 = 0x35;
/// `return k`: BPF_RET | BPF_K.
pub const RET_K: u16 = 0x06;

/// The kernel's limit on a filter's length (BPF_MAXINSNS).
pub const MAX_INSNS: usize = 4096;

/// Offset of seccomp_data.nr.
const NR: u32 = 0;
/// Offset of seccomp_data.arch.
const ARCH: u32 = 4;

const fn insn(code: u16, jt: u8, jf: u8, k: u32) -> Insn {
    Insn { code, jt, jf, k }
}

const fn ld(offset: u32) -> Insn {
    insn(LD_W_ABS, 0, 0, offset)
}

const fn ret(value: u32) -> Insn {
    insn(RET_K, 0, 0, value)
}

/// Offsets of the low and high words of argument `i` (64-bit, in native byte order).
fn arg_words(i: u32) -> (u32, u32) {
    let base = 16 + 8 * i;
    if cfg!(target_endian = "little") {
        (base, base + 4)
    } else {
        (base + 4, base)
    }
}

/// The whole program for `plan` on `arch`.
pub fn program(plan: &Plan, arch: &Arch) -> Vec<Insn> {
    let eperm = RET_ERRNO | libc::EPERM as u32;
    let mut p = vec![ld(ARCH), insn(JEQ_K, 1, 0, arch.audit), ret(eperm), ld(NR)];
    if let Some(bit) = arch.abi_bit {
        p.extend([insn(JGE_K, 0, 1, bit), ret(eperm)]);
    }
    if let Some(highest) = plan.newer_than {
        p.extend([
            insn(JGT_K, 0, 1, highest),
            ret(RET_ERRNO | libc::ENOSYS as u32),
        ]);
    }
    p.extend(tree(&ranges(plan), plan.default));
    p
}

/// Consecutive numbers with the same checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range<'a> {
    /// First number.
    pub lo: u32,
    /// Last number.
    pub hi: u32,
    /// The checks of every number in it.
    pub checks: &'a [Check],
}

/// Groups the plan's syscalls into ranges, in ascending order.
pub fn ranges(plan: &Plan) -> Vec<Range<'_>> {
    let mut out: Vec<Range> = Vec::new();
    for (nr, checks) in &plan.syscalls {
        match out.last_mut() {
            Some(r) if r.hi + 1 == *nr && r.checks == checks.as_slice() => r.hi = *nr,
            _ => out.push(Range {
                lo: *nr,
                hi: *nr,
                checks,
            }),
        }
    }
    out
}

/// A binary search with A = nr: `if nr > last of the left half, ja to the right half`.
fn tree(items: &[Range], default: u32) -> Vec<Insn> {
    match items {
        [] => vec![ret(default)],
        [one] => leaf(one, default),
        _ => {
            let mid = items.len() / 2;
            let left = tree(&items[..mid], default);
            let mut out = vec![
                insn(JGT_K, 0, 1, items[mid - 1].hi),
                insn(JA, 0, 0, left.len() as u32),
            ];
            out.extend(left);
            out.extend(tree(&items[mid..], default));
            out
        }
    }
}

/// Tests that nr is in the range, then the checks; nothing jumps over the body, so its length
/// is free.
fn leaf(r: &Range, default: u32) -> Vec<Insn> {
    let mut out = if r.lo == r.hi {
        vec![insn(JEQ_K, 1, 0, r.lo)]
    } else {
        vec![insn(JGE_K, 0, 1, r.lo), insn(JGT_K, 0, 1, r.hi)]
    };
    out.push(ret(default));
    out.extend(body(r.checks, default));
    out
}

/// The checks in order; an unconditional one ends the body.
fn body(checks: &[Check], default: u32) -> Vec<Insn> {
    let mut out = Vec::new();
    for c in checks {
        if c.args.is_empty() {
            out.push(ret(c.ret));
            return out;
        }
        out.extend(conditional(c));
    }
    out.push(ret(default));
    out
}

/// Where a jump goes: `n` instructions ahead, or past the check (its conditions failed).
#[derive(Debug, Clone, Copy)]
enum To {
    Skip(u8),
    Fail,
}

fn j(code: u16, k: u32, jt: To, jf: To) -> (Insn, To, To) {
    (insn(code, 0, 0, k), jt, jf)
}

fn plain(i: Insn) -> (Insn, To, To) {
    (i, To::Skip(0), To::Skip(0))
}

/// All conditions of a check, then its return; a failed condition jumps past the return.
fn conditional(c: &Check) -> Vec<Insn> {
    let mut pending: Vec<(Insn, To, To)> = c.args.iter().flat_map(condition).collect();
    pending.push(plain(ret(c.ret)));
    let len = pending.len();
    let resolve = |t: To, at: usize| match t {
        To::Skip(n) => n,
        // Checks hold at most six conditions of six instructions: always within reach.
        To::Fail => (len - at - 1) as u8,
    };
    pending
        .iter()
        .enumerate()
        .map(|(at, (i, jt, jf))| Insn {
            jt: resolve(*jt, at),
            jf: resolve(*jf, at),
            ..*i
        })
        .collect()
}

/// The high and low 32 bits of a value.
fn halves(v: u64) -> (u32, u32) {
    ((v >> 32) as u32, v as u32)
}

/// One 64-bit comparison as two 32-bit halves; falls through when it holds.
fn condition(a: &Arg) -> Vec<(Insn, To, To)> {
    let (lo, hi) = arg_words(a.index);
    let (v_hi, v_lo) = halves(a.value);
    let (ok, fail) = (To::Skip(0), To::Fail);
    let (ld_hi, ld_lo) = (plain(ld(hi)), plain(ld(lo)));
    match a.op {
        Op::Eq => vec![
            ld_hi,
            j(JEQ_K, v_hi, ok, fail),
            ld_lo,
            j(JEQ_K, v_lo, ok, fail),
        ],
        Op::Ne => vec![
            ld_hi,
            j(JEQ_K, v_hi, ok, To::Skip(2)),
            ld_lo,
            j(JEQ_K, v_lo, fail, ok),
        ],
        Op::MaskedEq => {
            let (d_hi, d_lo) = halves(a.value_two);
            let and = |m: u32| plain(insn(AND_K, 0, 0, m));
            vec![
                ld_hi,
                and(v_hi),
                j(JEQ_K, d_hi, ok, fail),
                ld_lo,
                and(v_lo),
                j(JEQ_K, d_lo, ok, fail),
            ]
        }
        Op::Gt | Op::Ge | Op::Lt | Op::Le => ordered(a.op, (ld_hi, ld_lo), v_hi, v_lo),
    }
}

/// An ordering: the high words decide unless equal, then the low words do.
fn ordered(
    op: Op,
    (ld_hi, ld_lo): ((Insn, To, To), (Insn, To, To)),
    hi: u32,
    lo: u32,
) -> Vec<(Insn, To, To)> {
    let (ok, fail) = (To::Skip(0), To::Fail);
    let (high, last) = match op {
        Op::Gt | Op::Ge => {
            let last = if op == Op::Gt { JGT_K } else { JGE_K };
            (
                [j(JGT_K, hi, To::Skip(3), ok), j(JEQ_K, hi, ok, fail)],
                j(last, lo, ok, fail),
            )
        }
        _ => {
            let last = if op == Op::Lt { JGE_K } else { JGT_K };
            (
                [j(JGT_K, hi, fail, ok), j(JEQ_K, hi, ok, To::Skip(2))],
                j(last, lo, fail, ok),
            )
        }
    };
    vec![ld_hi, high[0], high[1], ld_lo, last]
}
