//! Profile files, every comparison, other architectures and the security option values.

use super::*;
use crate::seccomp::profile::{Action, Arg, Op, Profile, Rule};
use crate::seccomp::{compile, program_for, SeccompError, SeccompMode};

fn rule(name: &str, args: Vec<Arg>, action: Action) -> Rule {
    Rule {
        args: Some(args),
        ..Rule::new(&[name], action)
    }
}

#[test]
fn every_comparison_matches_its_64_bit_meaning() {
    let v = 0x0000_0005_8000_0000u64;
    for op in [Op::Eq, Op::Ne, Op::Lt, Op::Le, Op::Gt, Op::Ge, Op::MaskedEq] {
        let arg = Arg {
            index: 2,
            value: v,
            value_two: 0x0000_0004_0000_0000,
            op,
        };
        let profile = Profile {
            default_action: Action::Allow,
            default_errno_ret: None,
            syscalls: Some(vec![rule("read", vec![arg], Action::Errno)]),
        };
        let plan = native_plan(&profile, &[]);
        let p = program(&plan, &X86_64);
        for x in [
            0,
            v - 1,
            v,
            v + 1,
            v ^ (1 << 32),
            v ^ (1 << 40),
            u64::MAX,
            v & 0xffff_ffff,
        ] {
            let args = [0, 0, x, 0, 0, 0];
            let got = interpret(&p, X86_64.audit, nr("read"), args);
            assert_eq!(got, reference(&plan, nr("read"), args), "{op:?} {x:#x}");
        }
    }
}

#[test]
fn docker_profile_files_parse_and_compile() {
    let json = r#"{
        "defaultAction": "SCMP_ACT_ERRNO",
        "defaultErrnoRet": 1,
        "archMap": [{"architecture": "SCMP_ARCH_X86_64", "subArchitectures": null}],
        "syscalls": [
            {"names": ["read", "write", "exit_group", "no_such_call"], "action": "SCMP_ACT_ALLOW",
             "args": null, "includes": {}, "excludes": {}},
            {"name": "getpid", "action": "SCMP_ACT_ERRNO", "errnoRet": 13},
            {"names": ["uname"], "action": "SCMP_ACT_ALLOW", "includes": {"arches": ["arm64"]}}
        ]
    }"#;
    let profile: Profile = serde_json::from_str(json).unwrap();
    let p = compile(&profile, &[], (6, 1)).unwrap();
    let says = |name: &str| interpret(&p, X86_64.audit, nr(name), [0; 6]);
    assert_eq!(says("read"), RET_ALLOW);
    assert_eq!(says("getpid"), RET_ERRNO | 13);
    assert_eq!(says("uname"), EPERM, "arm64-only rule");
    assert_eq!(says("keyctl"), EPERM);
}

#[test]
fn unusable_profiles_are_errors() {
    let bad: Result<Profile, _> = serde_json::from_str(r#"{"defaultAction": "SCMP_ACT_EXPLODE"}"#);
    assert!(bad.unwrap_err().to_string().contains("SCMP_ACT_EXPLODE"));
    let notify = Profile {
        default_action: Action::Notify,
        default_errno_ret: None,
        syscalls: None,
    };
    assert!(matches!(
        compile(&notify, &[], (6, 1)),
        Err(SeccompError::Notify)
    ));
    let arg = Arg {
        index: 6,
        value: 0,
        value_two: 0,
        op: Op::Eq,
    };
    let far = Profile {
        syscalls: Some(vec![rule("read", vec![arg], Action::Allow)]),
        ..notify
    };
    let far = Profile {
        default_action: Action::Errno,
        ..far
    };
    let e = compile(&far, &[], (6, 1)).unwrap_err().to_string();
    assert_eq!(e, "argument index 6 of read is out of range (0-5)");
}

#[test]
fn aarch64_keeps_its_own_rules() {
    let names = [("arch_prctl", 1), ("set_tls", 2), ("read", 3)];
    let number = |n: &str| names.iter().find(|(x, _)| *x == n).map(|(_, nr)| *nr);
    let t = Target {
        arch: AARCH64,
        caps: &[],
        kernel: (6, 1),
    };
    let plan = plan(&default_profile(), &t, &number, 400).unwrap();
    let p = program(&plan, &AARCH64);
    assert_eq!(interpret(&p, AARCH64.audit, 1, [0; 6]), EPERM, "x86 only");
    assert_eq!(
        interpret(&p, AARCH64.audit, 2, [0; 6]),
        RET_ALLOW,
        "arm only"
    );
    assert_eq!(interpret(&p, AARCH64.audit, 3, [0; 6]), RET_ALLOW);
    assert_eq!(interpret(&p, X86_64.audit, 3, [0; 6]), EPERM, "wrong arch");
}

#[test]
fn modes_from_security_options() {
    assert_eq!(
        SeccompMode::from_security_opt("unconfined"),
        SeccompMode::Unconfined
    );
    assert_eq!(
        SeccompMode::from_security_opt("builtin"),
        SeccompMode::Default
    );
    assert_eq!(
        SeccompMode::from_security_opt("/etc/p.json"),
        SeccompMode::Profile("/etc/p.json".into())
    );
    assert!(program_for(&SeccompMode::Default, true, &[])
        .unwrap()
        .is_none());
    let missing = SeccompMode::Profile("/no/such/profile.json".into());
    let e = program_for(&missing, false, &[]).unwrap_err();
    assert_eq!(e.to_string(), "read seccomp profile /no/such/profile.json");
}

#[test]
fn kernel_versions() {
    assert_eq!(kernel_version("6.18.44-fc-v1147"), Some((6, 18)));
    assert_eq!(kernel_version("4.8"), Some((4, 8)));
    assert_eq!(kernel_version("5"), Some((5, 0)));
    assert_eq!(kernel_version("x"), None);
}
