//! Issue 17: every RUN has a private network by default (slirp4netns NAT): the internet and the
//! host's resolver are reachable, the host's loopback services are not, and the helper leaves
//! with the run.

mod common;
use common::*;
use rbuild_sandbox::{MountSpec, NetworkMode};
use std::io::{Read, Write};
use std::net::TcpListener;
use std::path::Path;

const MIRROR: &str = "http://deb.debian.org/debian/dists/bookworm/Release";

#[test]
fn f17_default_run_has_its_own_network() {
    require_prereqs();
    let s = Scratch::new("f17-private");
    let out = run_ok(&spec(
        &s,
        "readlink /proc/self/ns/net; ls /sys/class/net | tr '\\n' ' '; echo; ip route; cat /etc/resolv.conf",
    ));
    let host_ns = std::fs::read_link("/proc/self/ns/net").unwrap();
    let mut lines = out.lines();
    assert_ne!(lines.next(), host_ns.to_str(), "{out}");
    assert_eq!(lines.next(), Some("eth0 lo "), "{out}");
    assert!(out.contains("default via 10.0.2.2 dev eth0"), "{out}");
    let host_resolv = std::fs::read_to_string("/etc/resolv.conf").unwrap();
    let want = rbuild_sandbox::net::private_resolv_conf(&host_resolv);
    assert!(out.ends_with(&want), "{out}");
}

/// A TCP service on the host's 127.0.0.1 answering every connection with a greeting.
fn loopback_service() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for mut c in listener.incoming().flatten() {
            let _ = c.write_all(b"HELLO-FROM-HOST-LOOPBACK\n");
        }
    });
    port
}

#[test]
fn f17_host_loopback_services_are_unreachable() {
    require_prereqs();
    let s = Scratch::new("f17-loopback");
    let port = loopback_service();
    let script = format!(
        "for a in 127.0.0.1 10.0.2.2 localhost; do echo \"$a: $(nc -w 3 $a {port} </dev/null 2>&1)\"; done"
    );
    let out = run_ok(&spec(&s, &script));
    assert!(!out.contains("HELLO-FROM-HOST"), "{out}");
    assert_eq!(out.lines().count(), 3, "{out}");
    // Control: the host's network reaches it, so the service does answer.
    let mut sp = spec(&s, &script);
    sp.network = NetworkMode::Host;
    let out = run_ok(&sp);
    assert!(out.contains("127.0.0.1: HELLO-FROM-HOST-LOOPBACK"), "{out}");
}

#[test]
fn f17_http_get_from_the_debian_mirror() {
    require_prereqs();
    let s = Scratch::new("f17-wget");
    let out = run_ok(&spec(&s, &format!("wget -q -O - {MIRROR} | head -n 3")));
    assert!(out.contains("Origin: Debian"), "{out}");
    // --network=none stays offline.
    let mut sp = spec(&s, &format!("wget -q -O - {MIRROR} || echo OFFLINE"));
    sp.network = NetworkMode::None;
    assert!(run_ok(&sp).contains("OFFLINE"));
}

/// A tmpfs on `dir` (removed on drop): the upper of a run whose lower is the host's root must
/// not be inside it, or overlayfs refuses the overlapping layers.
struct Tmpfs(std::path::PathBuf);

impl Tmpfs {
    fn new(dir: &Path) -> Tmpfs {
        std::fs::create_dir_all(dir).unwrap();
        let ok = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=512m", "tmpfs"])
            .arg(dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "mount tmpfs on {}", dir.display());
        Tmpfs(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn f17_apt_get_update_in_a_debian_run() {
    require_prereqs();
    assert!(
        Path::new("/usr/bin/apt-get").exists() && Path::new("/etc/debian_version").exists(),
        "this test runs apt-get from the host's Debian root: it needs a Debian host"
    );
    let s = Scratch::new("f17-apt");
    let t = Tmpfs::new(&s.path("t"));
    for d in ["upper", "work"] {
        std::fs::create_dir_all(t.0.join(d)).unwrap();
    }
    let mut sp = spec(&s, "apt-get update 2>&1 | tail -n 3; echo APT-EXIT=$?");
    sp.lowers = vec!["/".into()];
    sp.upper = t.0.join("upper");
    sp.work = t.0.join("work");
    sp.env = vec!["PATH=/usr/sbin:/usr/bin:/sbin:/bin".into()];
    let out = run_ok(&sp);
    assert!(out.contains("Reading package lists"), "{out}");
    assert!(!out.contains("Err:") && !out.contains("W: "), "{out}");
    let lists = t.0.join("upper/var/lib/apt/lists");
    let fetched = std::fs::read_dir(&lists).map_or(0, |d| {
        d.flatten()
            .filter(|e| e.file_name().to_string_lossy().contains("deb.debian.org"))
            .count()
    });
    assert!(
        fetched > 0,
        "no index fetched into {}: {out}",
        lists.display()
    );
}

/// The slirp4netns process serving the network namespace `netns` (a /proc/PID/ns/net link).
fn helper_of(netns: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
        let args: Vec<String> = cmd
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        if !args.first()?.ends_with("slirp4netns") {
            return None;
        }
        let target = &args[args.len().checked_sub(3)?];
        let ns = std::fs::read_link(format!("/proc/{target}/ns/net")).ok()?;
        (ns.to_str()? == netns).then_some(pid)
    })
}

fn gone_or_zombie(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map_or(true, |s| {
        s.rsplit(')')
            .next()
            .is_some_and(|r| r.trim_start().starts_with('Z'))
    })
}

#[test]
fn f17_the_helper_runs_outside_the_run_and_leaves_with_it() {
    require_prereqs();
    let s = Scratch::new("f17-helper");
    let sync = s.path("sync");
    std::fs::create_dir_all(&sync).unwrap();
    for f in ["up", "go"] {
        nix::unistd::mkfifo(
            &sync.join(f),
            nix::sys::stat::Mode::from_bits_truncate(0o600),
        )
        .unwrap();
    }
    let mut sp = spec(
        &s,
        "readlink /proc/self/ns/net > /sync/up; read x < /sync/go; echo done",
    );
    sp.extra_mounts.push(MountSpec::Bind {
        source: sync.clone(),
        target: "/sync".into(),
        readonly: false,
    });
    let runner = std::thread::spawn(move || run_ok(&sp));
    let mut netns = String::new();
    std::fs::File::open(sync.join("up"))
        .unwrap()
        .read_to_string(&mut netns)
        .unwrap();
    let helper = helper_of(netns.trim());
    let cgroups = helper.map(|p| std::fs::read_to_string(format!("/proc/{p}/cgroup")));
    std::fs::write(sync.join("go"), "\n").unwrap();
    assert_eq!(runner.join().unwrap(), "done\n");
    let pid = helper.expect("no slirp4netns serves the run's namespace");
    let cgroups = cgroups.unwrap().unwrap();
    assert!(
        cgroups.contains("::/") || cgroups.contains(":/"),
        "{cgroups}"
    );
    assert!(
        !cgroups.contains("/rbuild/"),
        "helper in the run's cgroup: {cgroups}"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !gone_or_zombie(pid) {
        assert!(
            std::time::Instant::now() < deadline,
            "slirp4netns {pid} outlived the run"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

#[test]
fn f17_cost_of_a_private_network_per_run() {
    require_prereqs();
    let s = Scratch::new("f17-cost");
    let mut mean = Vec::new();
    for mode in [NetworkMode::Host, NetworkMode::None, NetworkMode::Private] {
        let mut sp = spec(&s, "true");
        sp.network = mode;
        run_ok(&sp);
        let start = std::time::Instant::now();
        for _ in 0..10 {
            run_ok(&sp);
        }
        let per_run = start.elapsed() / 10;
        eprintln!("{mode:?}: {per_run:?} per RUN of `true`");
        mean.push(per_run);
    }
    let extra = mean[2].saturating_sub(mean[0]);
    eprintln!("a private network adds {extra:?} per RUN");
    assert!(
        extra < std::time::Duration::from_secs(1),
        "the private network costs {extra:?} per RUN"
    );
}
