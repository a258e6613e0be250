//! seccomp(2): installing the compiled filter on the calling thread.

use crate::seccomp::Insn;
use std::io;

/// seccomp(2) operation: install a BPF filter.
const SECCOMP_SET_MODE_FILTER: libc::c_long = 1;

/// Installs `program`; needs no_new_privs (or CAP_SYS_ADMIN). The init is single-threaded, so
/// no TSYNC is needed.
pub fn install(program: &[Insn]) -> io::Result<()> {
    let mut filter: Vec<libc::sock_filter> = program
        .iter()
        .map(|i| libc::sock_filter {
            code: i.code,
            jt: i.jt,
            jf: i.jf,
            k: i.k,
        })
        .collect();
    let len =
        u16::try_from(filter.len()).map_err(|_| io::Error::from_raw_os_error(libc::EINVAL))?;
    let prog = libc::sock_fprog {
        len,
        filter: filter.as_mut_ptr(),
    };
    let flags: libc::c_long = 0;
    // SAFETY: prog points at `filter`, which lives until the call returns; the kernel copies it.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            SECCOMP_SET_MODE_FILTER,
            flags,
            &prog as *const libc::sock_fprog,
        )
    };
    super::check(rc)
}
