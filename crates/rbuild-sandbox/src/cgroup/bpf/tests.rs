use super::*;
use crate::cgroup::devices::{allows, DEFAULT_ALLOW, MKNOD, READ, WRITE};

/// Runs the subset of eBPF the generator emits against one device context.
fn interpret(p: &[Insn], access_type: u32, major: u32, minor: u32) -> u64 {
    let ctx = [access_type, major, minor];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    loop {
        let i = p[pc];
        let (d, s) = (usize::from(i.dst), usize::from(i.src));
        pc += 1;
        match i.code {
            LDX_W => {
                assert_eq!(s, 1, "loads only from the context");
                r[d] = u64::from(ctx[i.off as usize / 4]);
            }
            AND_K => r[d] &= i.imm as i64 as u64,
            RSH_K => r[d] >>= i.imm,
            MOV_X => r[d] = r[s],
            MOV_K => r[d] = i.imm as i64 as u64,
            JNE_K if r[d] != i.imm as i64 as u64 => pc += i.off as usize,
            JNE_X if r[d] != r[s] => pc += i.off as usize,
            JNE_K | JNE_X => {}
            EXIT => return r[0],
            c => panic!("unexpected opcode {c:#x}"),
        }
    }
}

#[test]
fn f3_program_agrees_with_the_allow_list() {
    let p = device_program(DEFAULT_ALLOW);
    let numbers = [
        (1, 3),
        (1, 1),
        (1, 9),
        (5, 2),
        (7, 0),
        (8, 0),
        (10, 200),
        (10, 229),
        (136, 5),
        (259, 1),
    ];
    for kind in [DevType::Block, DevType::Char] {
        for (major, minor) in numbers {
            for access in 1..=7u8 {
                let want = allows(DEFAULT_ALLOW, kind, major, minor, access);
                let ctx = (u32::from(access) << 16) | kind as u32;
                let got = interpret(&p, ctx, major, minor);
                assert_eq!(
                    got,
                    u64::from(want),
                    "{kind:?} {major}:{minor} access {access}"
                );
            }
        }
    }
}

#[test]
fn f3_program_reads_the_context_then_tests_the_rule() {
    let rule = DeviceRule {
        kind: DevType::Char,
        major: Some(1),
        minor: Some(3),
        access: READ | WRITE | MKNOD,
    };
    let p = device_program(&[rule]);
    assert_eq!(
        &p[..6],
        &[
            insn(LDX_W, 2, 1, 0, 0),
            insn(AND_K, 2, 0, 0, 0xffff),
            insn(LDX_W, 3, 1, 0, 0),
            insn(RSH_K, 3, 0, 0, 16),
            insn(LDX_W, 4, 1, 4, 0),
            insn(LDX_W, 5, 1, 8, 0),
        ]
    );
    // rwm needs no access test; every mismatch jumps to the final `return 0`.
    assert_eq!(
        &p[6..],
        &[
            insn(JNE_K, 2, 0, 4, 2),
            insn(JNE_K, 4, 0, 3, 1),
            insn(JNE_K, 5, 0, 2, 3),
            insn(MOV_K, 0, 0, 0, 1),
            insn(EXIT, 0, 0, 0, 0),
            insn(MOV_K, 0, 0, 0, 0),
            insn(EXIT, 0, 0, 0, 0),
        ]
    );
}

#[test]
fn f3_an_access_subset_rule_masks_the_requested_bits() {
    let mknod_any_block = DeviceRule {
        kind: DevType::Block,
        major: None,
        minor: None,
        access: MKNOD,
    };
    assert_eq!(
        rule_block(&mknod_any_block),
        vec![
            insn(JNE_K, 2, 0, 5, 1),
            insn(MOV_X, 1, 3, 0, 0),
            insn(AND_K, 1, 0, 0, 1),
            insn(JNE_X, 1, 3, 2, 0),
            insn(MOV_K, 0, 0, 0, 1),
            insn(EXIT, 0, 0, 0, 0),
        ]
    );
}

#[test]
fn f3_program_encoding() {
    let bytes = encode(&[insn(LDX_W, 4, 1, 4, 0), insn(JNE_K, 5, 0, -1, 0x1234)]);
    assert_eq!(
        bytes,
        [0x61, 0x14, 4, 0, 0, 0, 0, 0, 0x55, 0x05, 0xff, 0xff, 0x34, 0x12, 0, 0]
    );
    assert_eq!(encode(&device_program(DEFAULT_ALLOW)).len() % 8, 0);
}
