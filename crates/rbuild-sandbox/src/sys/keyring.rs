//! The kernel keyring: each RUN gets its own anonymous session keyring, so keys the invoking
//! session holds (credentials, tokens) are neither found nor possessed inside the step.

use std::io;

/// keyctl(2) operation: join (or, with a NULL name, create and join) a session keyring.
const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;

/// Replaces this process's session keyring with a new anonymous one, as runc does. A kernel
/// without keyring support (ENOSYS) has nothing to share, so that is not an error.
pub fn join_new_session() -> io::Result<()> {
    let name: *const libc::c_char = std::ptr::null();
    // SAFETY: a NULL name asks for an anonymous keyring; no memory is written.
    let rc = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name) };
    match super::check(rc) {
        Err(e) if e.raw_os_error() == Some(libc::ENOSYS) => Ok(()),
        r => r,
    }
}
