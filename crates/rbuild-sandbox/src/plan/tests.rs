use super::*;
use crate::spec::{Limits, MountSpec, RunSpec};

fn spec() -> RunSpec {
    RunSpec {
        cwd: "/".into(),
        ..Default::default()
    }
}

fn targets(steps: &[Step]) -> Vec<String> {
    steps
        .iter()
        .filter_map(|s| match s {
            Step::Mount { target, .. } | Step::Bind { target, .. } => Some(target.clone()),
            _ => None,
        })
        .collect()
}

#[test]
fn proc_comes_first_then_dev() {
    let steps = build(&spec(), Path::new("/run/x"), Path::new("/s"), Userns::Host);
    let t = targets(&steps);
    assert_eq!(&t[..2], &["/proc".to_string(), "/dev".to_string()]);
    assert!(t.contains(&"/sys".to_string()));
}

#[test]
fn etc_files_are_bound_from_etc_dir() {
    let steps = build(&spec(), Path::new("/run/x"), Path::new("/s"), Userns::Host);
    let binds = bind_sources(&steps);
    assert_eq!(
        binds,
        vec![
            PathBuf::from("/run/x/hosts"),
            PathBuf::from("/run/x/resolv.conf"),
            PathBuf::from("/run/x/hostname")
        ]
    );
}

#[test]
fn sys_is_read_only_and_proc_has_no_exec() {
    let steps = build(&spec(), Path::new("/e"), Path::new("/s"), Userns::Host);
    for s in &steps {
        if let Step::Mount { fstype, flags, .. } = s {
            if fstype == "sysfs" {
                assert_ne!(flags & MS_RDONLY, 0);
            }
            if fstype == "proc" {
                assert_ne!(flags & MS_NOEXEC, 0);
            }
        }
    }
}

#[test]
fn masks_and_read_only_paths_follow_the_kernel_filesystems_and_precede_the_steps_mounts() {
    let mut s = spec();
    s.extra_mounts = vec![MountSpec::Tmpfs {
        target: "/dev".into(),
        size: None,
    }];
    let steps = build(&s, Path::new("/e"), Path::new("/s"), Userns::Host);
    let first_mask = steps
        .iter()
        .position(|s| matches!(s, Step::Mask { .. }))
        .unwrap();
    let last_protect = steps
        .iter()
        .rposition(|s| matches!(s, Step::Mask { .. } | Step::ReadOnly { .. }))
        .unwrap();
    let target = |s: &Step| match s {
        Step::Mount { target, .. } | Step::Bind { target, .. } => Some(target.clone()),
        _ => None,
    };
    // /proc, /dev (its null is the mask source) and /sys before; /etc binds and the step's
    // own mounts (here a tmpfs over /dev) after, so they cannot redirect a mask.
    let before: Vec<String> = steps[..first_mask].iter().filter_map(target).collect();
    assert!(
        before
            .iter()
            .all(|t| ["/proc", "/dev", "/sys"].contains(&t.as_str()) || t.starts_with("/dev/")),
        "{before:?}"
    );
    let after: Vec<String> = steps[last_protect..].iter().filter_map(target).collect();
    assert_eq!(after.last().map(String::as_str), Some("/dev"), "{after:?}");
    assert!(after.iter().any(|t| t == "/etc/hosts"), "{after:?}");
    let masks: Vec<_> = steps
        .iter()
        .filter(|s| matches!(s, Step::Mask { .. }))
        .collect();
    assert_eq!(masks.len(), MASKED_PATHS.len());
    assert!(steps.contains(&Step::ReadOnly {
        path: "/proc/sys".into()
    }));
    assert!(steps.contains(&Step::Mask {
        path: "/proc/kcore".into()
    }));
}

#[test]
fn devices_and_links() {
    let steps = build(&spec(), Path::new("/e"), Path::new("/s"), Userns::Host);
    assert!(steps.contains(&Step::Mknod {
        path: "/dev/null".into(),
        major: 1,
        minor: 3
    }));
    assert!(steps.contains(&Step::Symlink {
        target: "pts/ptmx".into(),
        link: "/dev/ptmx".into()
    }));
    assert!(steps.contains(&Step::Symlink {
        target: "/proc/self/fd".into(),
        link: "/dev/fd".into()
    }));
}

#[test]
fn shm_size_default_and_custom() {
    let shm = |steps: &[Step]| {
        steps.iter().find_map(|s| match s {
            Step::Mount { target, data, .. } if target == "/dev/shm" => Some(data.clone()),
            _ => None,
        })
    };
    assert_eq!(
        shm(&build(
            &spec(),
            Path::new("/e"),
            Path::new("/s"),
            Userns::Host
        ))
        .unwrap(),
        "mode=1777,size=67108864"
    );
    let mut s = spec();
    s.limits = Limits {
        shm_size: Some(1024),
        ..Default::default()
    };
    assert_eq!(
        shm(&build(&s, Path::new("/e"), Path::new("/s"), Userns::Host)).unwrap(),
        "mode=1777,size=1024"
    );
}

#[test]
fn extra_mounts_are_planned() {
    let mut s = spec();
    s.extra_mounts = vec![
        MountSpec::Bind {
            source: "/nonexistent-file".into(),
            target: "/src".into(),
            readonly: true,
        },
        MountSpec::Tmpfs {
            target: "/cache".into(),
            size: Some(4096),
        },
    ];
    let steps = build(&s, Path::new("/e"), Path::new("/s"), Userns::Host);
    assert!(steps.contains(&Step::Bind {
        source: "/nonexistent-file".into(),
        target: "/src".into(),
        readonly: true,
        kind: Kind::File
    }));
    assert!(targets(&steps).contains(&"/cache".to_string()));
}

#[test]
fn legacy_options_use_short_names() {
    assert_eq!(short_name(0), "0");
    assert_eq!(short_name(35), "z");
    assert_eq!(short_name(36), "10");
    let opts = legacy_overlay_options(200, false);
    assert!(opts.starts_with("lowerdir=0:1:2:"));
    assert!(opts.len() < 1000, "{}", opts.len());
}

#[test]
fn short_names_never_clash_with_upper_and_work() {
    for i in 0..2000 {
        let n = short_name(i);
        assert!(n != "U" && n != "W", "{i} -> {n}");
    }
}

#[test]
fn a_rootless_plan_binds_devices_and_makes_proc_early() {
    let steps = build(
        &spec(),
        Path::new("/e"),
        Path::new("/s"),
        Userns::Rootless { tty_group: true },
    );
    assert!(!steps.iter().any(|s| matches!(s, Step::Mknod { .. })));
    let binds = bind_sources(&steps);
    for (name, _, _) in crate::devices::DEVICES {
        assert!(
            binds.contains(&PathBuf::from(format!("/dev/{name}"))),
            "{name}"
        );
    }
    let early: Vec<&str> = steps
        .iter()
        .filter_map(|s| match s {
            Step::Early { fstype, .. } => Some(fstype.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(early, ["proc", "sysfs"]);
    let mut host = spec();
    host.network = crate::spec::NetworkMode::Host;
    let steps = build(
        &host,
        Path::new("/e"),
        Path::new("/s"),
        Userns::Rootless { tty_group: true },
    );
    assert!(bind_sources(&steps).contains(&PathBuf::from("/sys")));
    // userxattr refuses redirect_dir=off (it means "follow"); root keeps its options.
    assert!(overlay_options(true).contains(&"userxattr"));
    assert!(legacy_overlay_options(1, true).contains("redirect_dir=nofollow"));
    assert!(!legacy_overlay_options(1, false).contains("userxattr"));
}

#[test]
fn devpts_asks_for_the_tty_group_only_where_it_is_mapped() {
    let pts = |ns: Userns| -> String {
        build(&spec(), Path::new("/e"), Path::new("/s"), ns)
            .into_iter()
            .find_map(|s| match s {
                Step::Mount { fstype, data, .. } if fstype == "devpts" => Some(data),
                _ => None,
            })
            .unwrap()
    };
    assert!(pts(Userns::Host).ends_with(",gid=5"));
    assert!(pts(Userns::Rootless { tty_group: true }).ends_with(",gid=5"));
    assert!(!pts(Userns::Rootless { tty_group: false }).contains("gid="));
}
