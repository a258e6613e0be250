//! Writes a busybox root filesystem tarball: `busybox-tarball OUT.tar` (used by scripts/demo.sh).

fn main() -> std::io::Result<()> {
    let Some(out) = std::env::args_os().nth(1) else {
        eprintln!("usage: busybox-tarball OUT.tar");
        std::process::exit(2);
    };
    rbuild_testkit::busybox_tarball(std::path::Path::new(&out))
}
