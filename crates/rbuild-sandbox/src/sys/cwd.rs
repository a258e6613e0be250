//! Entering the working directory of the command.

use std::io;

/// Changes into `cwd`, creating it and missing parents (0755) first.
pub fn enter(cwd: &str) -> io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    if !std::path::Path::new(cwd).is_dir() {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(cwd)?;
    }
    std::env::set_current_dir(cwd)
}
