//! Which platforms a RUN can execute on this machine: the native one, and the ones binfmt_misc
//! hands to an emulator (QEMU user mode). A handler needs the `F` flag: the kernel then opens
//! the interpreter when it is registered, so it works inside a sandbox whose root has no
//! `/usr/bin/qemu-*`. `register_from` registers handlers from binfmt.d files (systemd-binfmt's
//! format, which Debian's qemu-user-static installs).

use std::io;
use std::path::{Path, PathBuf};

/// Where binfmt_misc lives.
pub const BINFMT_DIR: &str = "/proc/sys/fs/binfmt_misc";

/// One binfmt_misc handler as the kernel reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Handler {
    /// Its name (`qemu-aarch64`).
    pub name: String,
    /// Whether it is enabled.
    pub enabled: bool,
    /// The interpreter path.
    pub interpreter: String,
    /// Its flags (`F`, `P`, `O`, `C`).
    pub flags: String,
}

/// The OCI platform (`os/arch[/variant]`) a QEMU handler name runs, if it is one.
pub fn platform_of(handler: &str) -> Option<&'static str> {
    let arch = handler.strip_prefix("qemu-")?;
    Some(match arch {
        "aarch64" => "linux/arm64",
        "arm" => "linux/arm/v7",
        "riscv64" => "linux/riscv64",
        "ppc64le" => "linux/ppc64le",
        "s390x" => "linux/s390x",
        "i386" => "linux/386",
        "x86_64" => "linux/amd64",
        "mips64el" => "linux/mips64le",
        "loongarch64" => "linux/loong64",
        _ => return None,
    })
}

/// The Debian package that provides an emulator for `platform`.
pub const EMULATOR_PACKAGE: &str = "qemu-user-static";

/// Parses one handler file of binfmt_misc (`enabled`, `interpreter ...`, `flags: ...`).
pub fn parse_handler(name: &str, text: &str) -> Handler {
    let mut h = Handler {
        name: name.to_string(),
        enabled: false,
        interpreter: String::new(),
        flags: String::new(),
    };
    for line in text.lines() {
        if line == "enabled" {
            h.enabled = true;
        } else if let Some(i) = line.strip_prefix("interpreter ") {
            h.interpreter = i.to_string();
        } else if let Some(f) = line.strip_prefix("flags: ") {
            h.flags = f.to_string();
        }
    }
    h
}

/// The registered handlers (empty when binfmt_misc is not mounted).
pub fn handlers(dir: &Path) -> Vec<Handler> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut out: Vec<Handler> = entries
        .flatten()
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().to_string();
            if name == "register" || name == "status" {
                return None;
            }
            let text = std::fs::read_to_string(e.path()).ok()?;
            Some(parse_handler(&name, &text))
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Platforms the handlers let a sandboxed RUN execute: enabled, with the `F` flag.
pub fn emulated(handlers: &[Handler]) -> Vec<&'static str> {
    let mut out: Vec<&'static str> = handlers
        .iter()
        .filter(|h| h.enabled && h.flags.contains('F'))
        .filter_map(|h| platform_of(&h.name))
        .collect();
    out.sort_unstable();
    out.dedup();
    out
}

/// binfmt.d files (`/usr/lib/binfmt.d/qemu-*.conf`) that register a handler not yet
/// registered; `(name, registration line)`.
pub fn pending_registrations(conf_dir: &Path, registered: &[Handler]) -> Vec<(String, String)> {
    let Ok(entries) = std::fs::read_dir(conf_dir) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for e in entries.flatten() {
        let Ok(text) = std::fs::read_to_string(e.path()) else {
            continue;
        };
        for line in text.lines().filter(|l| l.starts_with(':')) {
            let name = line[1..].split(':').next().unwrap_or("").to_string();
            let known = registered.iter().any(|h| h.name == name);
            if platform_of(&name).is_some() && !known {
                out.push((name, line.to_string()));
            }
        }
    }
    out.sort();
    out
}

/// Registers one handler: writes its line to binfmt_misc's `register` file (needs root).
pub fn register(binfmt_dir: &Path, line: &str) -> io::Result<()> {
    std::fs::write(binfmt_dir.join("register"), line)
}

/// Mounts binfmt_misc at its usual place if it is not mounted (needs root).
pub fn ensure_mounted() -> io::Result<PathBuf> {
    let dir = PathBuf::from(BINFMT_DIR);
    if dir.join("register").exists() {
        return Ok(dir);
    }
    let src = std::ffi::CString::new("binfmt_misc").map_err(io::Error::other)?;
    let tgt = std::ffi::CString::new(BINFMT_DIR).map_err(io::Error::other)?;
    // SAFETY: NUL-terminated strings alive for the call; no data argument.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            tgt.as_ptr(),
            src.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    // Another `setup binfmt` mounting at the same moment makes this one fail (EBUSY seen on a
    // fresh machine when two tests set up emulation at once): what counts is that it is there.
    let err = io::Error::last_os_error();
    if rc != 0 && !dir.join("register").exists() {
        return Err(err);
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn handlers_parse_and_only_f_flagged_ones_count() {
        let text = "enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\nflags: OPF\noffset 0\n";
        let h = parse_handler("qemu-aarch64", text);
        assert!(h.enabled && h.flags == "OPF");
        let no_f = parse_handler(
            "qemu-arm",
            "enabled\ninterpreter /usr/bin/qemu-arm\nflags: \n",
        );
        let off = parse_handler("qemu-riscv64", "disabled\nflags: F\n");
        assert_eq!(emulated(&[h, no_f, off]), vec!["linux/arm64"]);
        assert_eq!(platform_of("qemu-arm"), Some("linux/arm/v7"));
        assert_eq!(platform_of("python3.11"), None);
    }

    #[test]
    fn pending_registrations_come_from_binfmt_d_files() {
        let dir = std::env::temp_dir().join(format!("rbuild-binfmt-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join("qemu-aarch64.conf"),
            ":qemu-aarch64:M::\\x7fELF:\\xff:/x:OPF\n",
        )
        .unwrap();
        std::fs::write(
            dir.join("python3.11.conf"),
            ":python3.11:M::x::/usr/bin/python3.11:\n",
        )
        .unwrap();
        let pending = pending_registrations(&dir, &[]);
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].0, "qemu-aarch64");
        let registered = [parse_handler("qemu-aarch64", "enabled\nflags: OPF\n")];
        assert!(pending_registrations(&dir, &registered).is_empty());
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
