//! The builder side: prepares a run directory and cgroup, spawns the init, streams output,
//! and cleans up.

use crate::cgroup::{Cgroup, Layout};
use crate::error::SandboxError;
use crate::plan::Stub;
use crate::spec::{ExitReason, InitRequest, OutputStream, Report, RunOutcome, RunSpec};
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};

mod dir;
mod pump;

use dir::RunDir;

static RUN_COUNTER: AtomicU64 = AtomicU64::new(0);

/// A unique name for this run (cgroup and temp dir).
fn run_name() -> String {
    let n = RUN_COUNTER.fetch_add(1, Ordering::SeqCst);
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{}-{n}-{t:x}", std::process::id())
}

/// Checks the spec before anything is created.
pub fn validate(spec: &RunSpec) -> Result<(), SandboxError> {
    let bad = |m: String| Err(SandboxError::InvalidSpec(m));
    if spec.argv.is_empty() {
        return bad("argv is empty".into());
    }
    if !spec.cwd.starts_with('/') {
        return bad(format!("cwd {:?} is not absolute", spec.cwd));
    }
    for (what, p) in [("upper", &spec.upper), ("work", &spec.work)] {
        if !p.is_absolute() || !p.is_dir() {
            return bad(format!(
                "{what} dir {} must be an existing absolute path",
                p.display()
            ));
        }
    }
    if let Some(l) = spec.lowers.iter().find(|l| !l.is_absolute() || !l.is_dir()) {
        return bad(format!(
            "lower dir {} must be an existing absolute path",
            l.display()
        ));
    }
    if let Some(d) = &spec.run_dir {
        let empty = std::fs::read_dir(d).map(|mut e| e.next().is_none());
        if !d.is_absolute() || !matches!(empty, Ok(true)) {
            return bad(format!(
                "run dir {} must be an existing, empty, absolute directory",
                d.display()
            ));
        }
    }
    if let Some(m) = spec
        .extra_mounts
        .iter()
        .find(|m| !m.target().starts_with('/'))
    {
        return bad(format!("mount target {:?} is not absolute", m.target()));
    }
    Ok(())
}

/// What the init reported.
#[derive(Default)]
struct Reports {
    stubs: Vec<Stub>,
    exit: Option<ExitReason>,
    error: Option<SandboxError>,
}

fn parse_reports(bytes: &[u8]) -> Reports {
    let mut r = Reports::default();
    for line in bytes.split(|b| *b == b'\n').filter(|l| !l.is_empty()) {
        match serde_json::from_slice::<Report>(line) {
            Ok(Report::Stubs(s)) => r.stubs.extend(s),
            Ok(Report::Exit(e)) => r.exit = Some(e),
            Ok(Report::Error(e)) => r.error = Some(SandboxError::Setup(e)),
            Ok(Report::ExecFailed(_)) => {}
            Err(e) => r.error = Some(SandboxError::Report(e)),
        }
    }
    r
}

/// Variations of a run used by tests.
#[derive(Debug, Clone, Default)]
pub struct Options {
    /// Mount the overlay with the legacy mount(2) only.
    pub legacy_overlay: bool,
    /// Use this cgroup2 mount instead of the host's detected layout.
    pub cgroup2_root: Option<PathBuf>,
    /// On a hybrid host, the v1 devices controller for the allow-list (the fallback when the
    /// unified hierarchy cannot hold the eBPF filter), with pid 1 moved into it.
    pub v1_devices: bool,
}

/// Runs `spec` in a sandbox; see the crate docs.
pub fn run(
    spec: &RunSpec,
    exe: &Path,
    on_output: &mut dyn FnMut(OutputStream, &[u8]),
    opts: &Options,
) -> Result<RunOutcome, SandboxError> {
    validate(spec)?;
    let rootless = crate::rootless::in_user_namespace();
    let seccomp =
        crate::seccomp::program_for(&spec.seccomp, spec.insecure, &crate::caps::default_names())?;
    let name = run_name();
    let dir = RunDir::create(&name, spec)?;
    let mut cgroup = if rootless {
        crate::cgroup::delegated::for_run(&name, &spec.limits, on_output)
    } else {
        Some(run_cgroup(spec, &name, opts)?)
    };
    let copy = spec.rootfs.copies(rootless, crate::seccomp::running_kernel);
    let merged = copy.then(|| spec.work.join("merged"));
    let before = match &merged {
        Some(m) => Some(copy_rootfs(spec, &dir, m)?),
        None => None,
    };
    let req = InitRequest {
        spec: spec.clone(),
        root_dir: dir.join("root"),
        etc_dir: dir.join("etc"),
        secrets_dir: dir.join("secrets"),
        net_helper: net_helper(spec, &dir)?,
        empty_lower: dir.join("empty"),
        links_dir: dir.join("l"),
        cgroup_procs: cgroup.as_ref().map(Cgroup::procs_files).unwrap_or_default(),
        cgroup_dir: cgroup.as_ref().and_then(Cgroup::start_dir),
        legacy_overlay: opts.legacy_overlay,
        seccomp,
        rootless,
        rootfs_copy: merged.clone(),
    };
    let result = spawn_and_wait(&req, exe, on_output);
    let oom = cgroup.as_ref().is_some_and(Cgroup::oom_killed);
    let destroyed = cgroup.as_mut().map_or(Ok(()), Cgroup::destroy);
    let reports = result?;
    if let (Some(m), Some(before)) = (&merged, &before) {
        crate::copyfs::collect(m, before, &spec.upper)?;
        std::fs::remove_dir_all(m).map_err(SandboxError::io("remove", m))?;
    }
    crate::cleanup::remove_stubs(&spec.upper, &spec.lowers, &reports.stubs)?;
    destroyed?;
    drop(dir);
    outcome(reports, oom)
}

/// The lowers (or the empty lower of FROM scratch) copied into `merged`, stamped.
fn copy_rootfs(
    spec: &RunSpec,
    dir: &RunDir,
    merged: &Path,
) -> Result<crate::copyfs::Manifest, SandboxError> {
    std::fs::create_dir(merged).map_err(SandboxError::io("create", merged))?;
    let lowers = if spec.lowers.is_empty() {
        vec![dir.join("empty")]
    } else {
        spec.lowers.clone()
    };
    crate::copyfs::merge(&lowers, merged)?;
    crate::copyfs::record(merged, &spec.work)
}

/// Every run as root gets a cgroup, if only for the device allow-list; it goes away on every
/// path.
fn run_cgroup(spec: &RunSpec, name: &str, opts: &Options) -> Result<Cgroup, SandboxError> {
    // Stale run cgroups of killed builds go when this process first makes one of its own.
    crate::cgroup::sweep_stale_in_background();
    let layout = match &opts.cgroup2_root {
        Some(root) => Layout::V2 { root: root.clone() },
        None => crate::cgroup::host_layout()?,
    };
    let layout = match layout {
        Layout::V1(m) if opts.v1_devices => {
            Layout::V1(crate::cgroup::V1Mounts { unified: None, ..m })
        }
        other => other,
    };
    let devices = (!spec.insecure).then_some(crate::cgroup::devices::DEFAULT_ALLOW);
    Cgroup::create(&layout, name, &spec.limits, devices)
}

fn outcome(r: Reports, oom: bool) -> Result<RunOutcome, SandboxError> {
    match (r.exit, r.error) {
        (Some(reason), _) if oom && reason != ExitReason::Exited(0) => Ok(RunOutcome {
            reason: ExitReason::OomKilled,
        }),
        (Some(reason), _) => Ok(RunOutcome { reason }),
        (None, _) if oom => Ok(RunOutcome {
            reason: ExitReason::OomKilled,
        }),
        (None, Some(e)) => Err(e),
        (None, None) => Err(SandboxError::InitEnded {
            status: "successfully".into(),
        }),
    }
}

/// The helper of a private network, found in the builder's PATH (the init has no environment).
fn net_helper(spec: &RunSpec, dir: &RunDir) -> Result<Option<crate::net::Helper>, SandboxError> {
    if spec.network != crate::spec::NetworkMode::Private {
        return Ok(None);
    }
    let path = std::env::var("PATH").unwrap_or_else(|_| crate::process::DEFAULT_PATH.into());
    Ok(Some(crate::net::Helper {
        exe: crate::net::find_helper(&path)?,
        log: dir.join("etc").join("net.log"),
    }))
}

/// Starts the init with the control socket as its stdin and piped stdout/stderr.
fn spawn_init(exe: &Path) -> Result<(UnixStream, Child), SandboxError> {
    let (ours, theirs) = UnixStream::pair().map_err(|source| SandboxError::Init {
        what: "create the control socket",
        source,
    })?;
    let child = Command::new(exe)
        .arg(crate::INIT_ARG)
        .env_clear()
        .stdin(Stdio::from(OwnedFd::from(theirs)))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|source| SandboxError::Spawn {
            exe: exe.to_path_buf(),
            source,
        })?;
    Ok((ours, child))
}

fn spawn_and_wait(
    req: &InitRequest,
    exe: &Path,
    on_output: &mut dyn FnMut(OutputStream, &[u8]),
) -> Result<Reports, SandboxError> {
    let (mut ours, mut child) = spawn_init(exe)?;
    let body = serde_json::to_vec(req).map_err(SandboxError::Encode)?;
    let sent = ours
        .write_all(&body)
        .and_then(|()| ours.shutdown(std::net::Shutdown::Write));
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let pumped = match (sent, out, err) {
        (Ok(()), Some(out), Some(err)) => pump::pump(out, err, &mut ours, on_output),
        (Err(source), _, _) => Err(SandboxError::Init {
            what: "send the request",
            source,
        }),
        _ => Err(SandboxError::Init {
            what: "take the output pipes",
            source: std::io::ErrorKind::BrokenPipe.into(),
        }),
    };
    if pumped.is_err() {
        let _ = child.kill();
    }
    let status = child.wait().map_err(|source| SandboxError::Init {
        what: "wait for the init",
        source,
    })?;
    let reports = parse_reports(&pumped?);
    if reports.exit.is_none() && reports.error.is_none() && !status.success() {
        return Ok(Reports {
            error: Some(SandboxError::InitEnded {
                status: status.to_string(),
            }),
            ..reports
        });
    }
    Ok(reports)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_decide_outcome() {
        let line = |r: Report| {
            let mut v = serde_json::to_vec(&r).unwrap();
            v.push(b'\n');
            v
        };
        let mut bytes = line(Report::Stubs(vec![]));
        bytes.extend(line(Report::Exit(ExitReason::Signaled(9))));
        assert_eq!(
            outcome(parse_reports(&bytes), true).unwrap().reason,
            ExitReason::OomKilled
        );
        assert_eq!(
            outcome(parse_reports(&bytes), false).unwrap().reason,
            ExitReason::Signaled(9)
        );
        let ok = line(Report::Exit(ExitReason::Exited(0)));
        assert_eq!(
            outcome(parse_reports(&ok), true).unwrap().reason,
            ExitReason::Exited(0)
        );
        let e = line(Report::Error("boom".into()));
        assert!(
            matches!(outcome(parse_reports(&e), false), Err(SandboxError::Setup(m)) if m == "boom")
        );
        assert!(outcome(parse_reports(b""), false).is_err());
    }

    #[test]
    fn validate_rejects_bad_specs() {
        let s = RunSpec {
            argv: vec!["true".into()],
            cwd: "rel".into(),
            ..Default::default()
        };
        assert!(matches!(validate(&s), Err(SandboxError::InvalidSpec(_))));
        let s = RunSpec {
            cwd: "/".into(),
            ..Default::default()
        };
        assert!(validate(&s).is_err());
        let tmp = std::env::temp_dir();
        for run_dir in ["relative", "/no/such/dir", tmp.to_str().unwrap()] {
            let s = RunSpec {
                argv: vec!["true".into()],
                cwd: "/".into(),
                upper: tmp.clone(),
                work: tmp.clone(),
                run_dir: Some(run_dir.into()),
                ..Default::default()
            };
            let e = validate(&s).unwrap_err().to_string();
            assert!(e.contains("run dir") && e.contains(run_dir), "{e}");
        }
    }
}
