//! bpf(2): loading the device filter and attaching it to a cgroup v2 directory.

use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;
use std::sync::Mutex;

const BPF_PROG_LOAD: libc::c_long = 5;
const BPF_PROG_ATTACH: libc::c_long = 8;
const BPF_PROG_QUERY: libc::c_long = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
/// Lets other programs stay attached above and below (all must allow), as runc attaches.
const BPF_F_ALLOW_MULTI: u32 = 2;

/// The BPF_PROG_LOAD part of union bpf_attr, up to expected_attach_type.
#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

/// The BPF_PROG_ATTACH part of union bpf_attr.
#[repr(C)]
struct ProgAttach {
    target_fd: u32,
    attach_bpf_fd: u32,
    attach_type: u32,
    attach_flags: u32,
}

/// The BPF_PROG_QUERY part of union bpf_attr, up to prog_cnt.
#[repr(C)]
#[derive(Default)]
struct ProgQuery {
    target_fd: u32,
    attach_type: u32,
    query_flags: u32,
    attach_flags: u32,
    prog_ids: u64,
    prog_cnt: u32,
}

fn bpf<T>(cmd: libc::c_long, attr: &mut T) -> io::Result<libc::c_long> {
    // SAFETY: attr is a live, initialised struct whose layout matches the kernel's union
    // bpf_attr prefix for `cmd`; the kernel reads at most size_of::<T>() bytes of it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T,
            std::mem::size_of::<T>() as libc::c_uint,
        )
    };
    super::check(rc).map(|()| rc)
}

/// Loads an encoded BPF_PROG_TYPE_CGROUP_DEVICE program; on failure the error carries the
/// verifier's log. The descriptor is close-on-exec (the kernel always sets O_CLOEXEC on it).
fn load(code: &[u8]) -> io::Result<OwnedFd> {
    let license = c"Apache-2.0";
    let mut attr = ProgLoad {
        prog_type: BPF_PROG_TYPE_CGROUP_DEVICE,
        insn_cnt: (code.len() / 8) as u32,
        insns: code.as_ptr() as u64,
        license: license.as_ptr() as u64,
        expected_attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    attr.prog_name[..10].copy_from_slice(b"rbuild_dev");
    let fd = match bpf(BPF_PROG_LOAD, &mut attr) {
        Ok(fd) => fd,
        Err(first) => {
            // Load again with a log, only to say why the verifier refused it.
            let mut log = vec![0u8; 64 * 1024];
            attr.log_level = 1;
            attr.log_size = log.len() as u32;
            attr.log_buf = log.as_mut_ptr() as u64;
            let _ = bpf(BPF_PROG_LOAD, &mut attr);
            let end = log.iter().position(|b| *b == 0).unwrap_or(log.len());
            let text = String::from_utf8_lossy(&log[..end]);
            return Err(io::Error::new(first.kind(), format!("{first}: {text}")));
        }
    };
    // SAFETY: a successful BPF_PROG_LOAD returns a new descriptor that only we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as libc::c_int) })
}

/// Programs loaded by this process, by their code: every RUN of a build attaches the same
/// one, and loading (the verifier and the JIT) cost more than the rest of a RUN's cgroup.
static LOADED: Mutex<Vec<(Vec<u8>, OwnedFd)>> = Mutex::new(Vec::new());

/// Attaches `code` (encoded instructions), loaded once per process, to the cgroup v2
/// directory `dir`; the attachment lives as long as the cgroup.
pub fn attach_device_filter(dir: &Path, code: &[u8]) -> io::Result<()> {
    let mut loaded = LOADED.lock().unwrap_or_else(|p| p.into_inner());
    let prog = match loaded.iter().position(|(c, _)| c == code) {
        Some(i) => &loaded[i].1,
        None => {
            loaded.push((code.to_vec(), load(code)?));
            &loaded[loaded.len() - 1].1
        }
    };
    let cgroup = std::fs::File::open(dir)?;
    let mut attr = ProgAttach {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_bpf_fd: prog.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        attach_flags: BPF_F_ALLOW_MULTI,
    };
    bpf(BPF_PROG_ATTACH, &mut attr).map(drop)
}

/// How many device programs are attached to the cgroup v2 directory `dir` itself (not
/// inherited from its ancestors).
pub fn attached_device_programs(dir: &Path) -> io::Result<u32> {
    let cgroup = std::fs::File::open(dir)?;
    // No id buffer: the kernel only writes the count back.
    let mut attr = ProgQuery {
        target_fd: cgroup.as_raw_fd() as u32,
        attach_type: BPF_CGROUP_DEVICE,
        ..Default::default()
    };
    bpf(BPF_PROG_QUERY, &mut attr)?;
    Ok(attr.prog_cnt)
}
