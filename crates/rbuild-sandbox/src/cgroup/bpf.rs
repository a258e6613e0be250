//! The cgroup v2 device filter: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE generated
//! from the allow rules. Its context (struct bpf_cgroup_dev_ctx) holds three u32s: access_type
//! at 0 (`access << 16 | type`), major at 4, minor at 8. It returns 1 to allow and 0 to deny.

use super::devices::{DevType, DeviceRule, RWM};

/// One eBPF instruction (struct bpf_insn).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Insn {
    /// Opcode.
    pub code: u8,
    /// Destination register.
    pub dst: u8,
    /// Source register.
    pub src: u8,
    /// Jump offset or memory offset.
    pub off: i16,
    /// Immediate.
    pub imm: i32,
}

/// `dst = *(u32 *)(src + off)`: BPF_LDX | BPF_MEM | BPF_W.
pub const LDX_W: u8 = 0x61;
/// `dst &= imm`: BPF_ALU64 | BPF_AND | BPF_K.
pub const AND_K: u8 = 0x57;
/// `dst >>= imm`: BPF_ALU64 | BPF_RSH | BPF_K.
pub const RSH_K: u8 = 0x77;
/// `dst = src`: BPF_ALU64 | BPF_MOV | BPF_X.
pub const MOV_X: u8 = 0xbf;
/// `dst = imm`: BPF_ALU64 | BPF_MOV | BPF_K.
pub const MOV_K: u8 = 0xb7;
/// `if dst != imm goto +off`: BPF_JMP | BPF_JNE | BPF_K.
pub const JNE_K: u8 = 0x55;
/// `if dst != src goto +off`: BPF_JMP | BPF_JNE | BPF_X.
pub const JNE_X: u8 = 0x5d;
/// `return r0`: BPF_JMP | BPF_EXIT.
pub const EXIT: u8 = 0x95;

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        dst,
        src,
        off,
        imm,
    }
}

/// The filter for `rules`: r2 = type, r3 = requested access, r4 = major, r5 = minor, then one
/// block per rule that returns 1 when every field matches, and a final `return 0`.
pub fn device_program(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(AND_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for r in rules {
        p.extend(rule_block(r));
    }
    p.push(insn(MOV_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

/// One rule: each test jumps past the rest of the block when its field does not match.
fn rule_block(r: &DeviceRule) -> Vec<Insn> {
    let mut b = Vec::new();
    if r.kind != DevType::All {
        b.push(insn(JNE_K, 2, 0, 0, r.kind as i32));
    }
    if r.access & RWM != RWM {
        // Allowed only when the requested bits are a subset: (req & allowed) == req.
        b.push(insn(MOV_X, 1, 3, 0, 0));
        b.push(insn(AND_K, 1, 0, 0, i32::from(r.access)));
        b.push(insn(JNE_X, 1, 3, 0, 0));
    }
    // Majors have 12 bits and minors 20, so they fit a positive immediate.
    if let Some(m) = r.major {
        b.push(insn(JNE_K, 4, 0, 0, m as i32));
    }
    if let Some(m) = r.minor {
        b.push(insn(JNE_K, 5, 0, 0, m as i32));
    }
    b.push(insn(MOV_K, 0, 0, 0, 1));
    b.push(insn(EXIT, 0, 0, 0, 0));
    let len = b.len();
    for (i, ins) in b.iter_mut().enumerate() {
        if ins.code == JNE_K || ins.code == JNE_X {
            ins.off = (len - i - 1) as i16;
        }
    }
    b
}

/// The program as the kernel reads it: 8 bytes per instruction, registers in one byte (dst in
/// the low nibble), little-endian offset and immediate.
pub fn encode(program: &[Insn]) -> Vec<u8> {
    let mut out = Vec::with_capacity(program.len() * 8);
    for i in program {
        out.push(i.code);
        out.push((i.src << 4) | (i.dst & 0x0f));
        out.extend_from_slice(&i.off.to_le_bytes());
        out.extend_from_slice(&i.imm.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests;
