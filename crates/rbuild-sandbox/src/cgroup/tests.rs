use super::*;

const HYBRID: &str = "\
25 24 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
26 25 0:23 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw
28 25 0:25 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory
29 25 0:26 / /sys/fs/cgroup/pids rw - cgroup cgroup rw,pids
31 25 0:28 / /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices
30 25 0:27 / /sys/fs/cgroup/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
";

#[test]
fn hybrid_prefers_v1() {
    assert_eq!(
        detect(HYBRID),
        Some(Layout::V1(V1Mounts {
            memory: Some("/sys/fs/cgroup/memory".into()),
            pids: Some("/sys/fs/cgroup/pids".into()),
            cpu: Some("/sys/fs/cgroup/cpu,cpuacct".into()),
            devices: Some("/sys/fs/cgroup/devices".into()),
            unified: Some("/sys/fs/cgroup/unified".into()),
        }))
    );
}

#[test]
fn f3_devices_alone_makes_a_v1_layout() {
    let info = "36 31 0:33 / /sys/fs/cgroup/devices rw - cgroup cgroup rw,devices\n\
                41 31 0:38 / /sys/fs/cgroup/unified rw - cgroup2 cgroup2 rw\n";
    let Some(Layout::V1(m)) = detect(info) else {
        panic!("not v1: {:?}", detect(info));
    };
    assert_eq!(m.devices, Some("/sys/fs/cgroup/devices".into()));
    assert_eq!(m.memory, None);
}

#[test]
fn pure_v2() {
    let info = "30 1 0:26 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
    assert_eq!(
        detect(info),
        Some(Layout::V2 {
            root: "/sys/fs/cgroup".into()
        })
    );
    assert_eq!(detect("1 0 0:1 / / rw - ext4 /dev/sda rw\n"), None);
}

#[test]
fn cpu_and_swap_arithmetic() {
    let l = Limits {
        cpus: Some(1.5),
        ..Default::default()
    };
    assert_eq!(cpu_quota(&l), Some((150_000, 100_000)));
    let l = Limits {
        cpu_quota: Some(5000),
        cpu_period: Some(10_000),
        cpus: Some(3.0),
        ..Default::default()
    };
    assert_eq!(cpu_quota(&l), Some((5000, 10_000)));
    let l = Limits {
        memory: Some(100),
        ..Default::default()
    };
    assert_eq!(memory_swap_total(&l), Some(200));
    let l = Limits {
        memory: Some(100),
        memory_swap: Some(-1),
        ..Default::default()
    };
    assert_eq!(memory_swap_total(&l), Some(-1));
}

#[test]
fn v1_and_v2_writes() {
    let l = Limits {
        memory: Some(64 << 20),
        pids: Some(20),
        cpus: Some(0.5),
        ..Default::default()
    };
    let w = v1::writes(&l);
    assert_eq!(
        w[0],
        ("memory", "memory.limit_in_bytes", "67108864".to_string())
    );
    assert_eq!(
        w[1],
        (
            "memory",
            "memory.memsw.limit_in_bytes",
            "134217728".to_string()
        )
    );
    assert!(w.contains(&("pids", "pids.max", "20".to_string())));
    assert!(w.contains(&("cpu", "cpu.cfs_quota_us", "50000".to_string())));
    let w = v2::writes(&l);
    assert!(w.contains(&("memory.swap.max", "67108864".to_string())));
    assert!(w.contains(&("cpu.max", "50000 100000".to_string())));
    assert_eq!(v2::controllers(&w), "+memory +pids +cpu");
}

#[test]
fn counters() {
    let t = "oom_kill_disable 0\nunder_oom 0\noom_kill 3\n";
    assert_eq!(counter(t, "oom_kill"), Some(3));
    assert_eq!(counter(t, "oom"), None);
}

#[test]
fn controllers_pass_down_every_level_to_a_filtered_run_cgroup() {
    let root = Path::new("/sys/fs/cgroup");
    let filtered = root.join("rbuild/devices-0123456789abcdef");
    assert_eq!(
        v2::passing_on(root, &filtered),
        [root, &root.join("rbuild"), &filtered]
    );
    let unfiltered = root.join("rbuild");
    assert_eq!(v2::passing_on(root, &unfiltered), [root, &unfiltered]);
}
