//! Helpers of the RUN sandbox tests: Dockerfiles, RUN output lines, the host's interfaces.

use std::path::Path;

pub fn dockerfile(ctx: &Path, body: &str) {
    std::fs::write(ctx.join("Dockerfile"), body).unwrap();
}

/// The first RUN output line starting with `prefix`, without it.
pub fn line_after<'a>(lines: &[&'a str], prefix: &str) -> &'a str {
    lines
        .iter()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no output line starting with {prefix:?} in {lines:#?}"))
}

/// The interfaces a RUN on the default, private network sees (slirp4netns's, named eth0),
/// sorted.
pub const PRIVATE_NET: [&str; 2] = ["eth0", "lo"];

/// The host's network interfaces, sorted.
pub fn host_interfaces() -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir("/sys/class/net")
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
        .collect();
    v.sort();
    v
}

pub fn words(s: &str) -> Vec<String> {
    let mut v: Vec<String> = s.split_whitespace().map(String::from).collect();
    v.sort();
    v
}

/// The run cgroups (`rbuild/<pid>-…` and `rbuild/devices-<hash>/<pid>-…`, in every hierarchy)
/// of the rbuild process `pid`.
pub fn cgroups_of(pid: u32) -> Vec<std::path::PathBuf> {
    let prefix = format!("{pid}-");
    let mut bases: Vec<std::path::PathBuf> =
        vec!["/sys/fs/cgroup".into(), "/sys/fs/cgroup/unified".into()];
    bases.extend(
        std::fs::read_dir("/sys/fs/cgroup")
            .into_iter()
            .flatten()
            .flatten()
            .map(|e| e.path()),
    );
    let mut found: Vec<std::path::PathBuf> = bases
        .iter()
        .flat_map(|b| rbuild_testkit::run_cgroup_parents(&b.join("rbuild")))
        .filter_map(|parent| std::fs::read_dir(parent).ok())
        .flat_map(|rd| rd.flatten().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with(&prefix))
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

/// The value of control file `file` in the first of `dirs` that has it, trimmed.
pub fn cgroup_value(dirs: &[std::path::PathBuf], file: &str) -> Option<String> {
    dirs.iter()
        .find_map(|d| std::fs::read_to_string(d.join(file)).ok())
        .map(|v| v.trim().to_string())
}

/// The pid of the host process whose command line contains `needle`, if one runs.
pub fn pid_with_cmdline(needle: &str) -> Option<u32> {
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_str()?.parse().ok()?;
        let cmd = std::fs::read(e.path().join("cmdline")).ok()?;
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        (cmd.contains(needle) && pid != std::process::id()).then_some(pid)
    })
}

/// The cgroup directories process `pid` is in, one per mounted hierarchy, from its
/// /proc/PID/cgroup (paths as this process sees them) and this process's mounts.
pub fn cgroup_dirs_of(pid: u32) -> Vec<std::path::PathBuf> {
    let own = std::fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap_or_default();
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let mut dirs = Vec::new();
    for line in own.lines() {
        let mut parts = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (parts.next(), parts.next(), parts.next()) else {
            continue;
        };
        for m in mounts.lines() {
            let Some((left, right)) = m.split_once(" - ") else {
                continue;
            };
            let point = left.split(' ').nth(4).unwrap_or("");
            let mut r = right.split(' ');
            let (fstype, opts) = (r.next().unwrap_or(""), r.nth(1).unwrap_or(""));
            let matches = match fstype {
                "cgroup" => {
                    !ctrls.is_empty() && ctrls.split(',').all(|c| opts.split(',').any(|o| o == c))
                }
                "cgroup2" => ctrls.is_empty(),
                _ => false,
            };
            if matches {
                dirs.push(std::path::Path::new(point).join(path.trim_start_matches('/')));
            }
        }
    }
    dirs.retain(|d| d.is_dir());
    dirs
}
