//! Standard output for command results: a reader that goes away (`rbuild images | head -1`)
//! ends the command quietly, as it does for other Unix tools, instead of a panic.

use std::io::Write;

/// Writes `args` and a newline to stdout; exits with status 0 when the reader has gone.
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| out.write_all(b"\n"));
    if let Err(e) = written {
        if e.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(0);
        }
        // Any other stdout failure (full disk) is reported once, then the command stops.
        eprintln!("ERROR: cannot write to standard output: {e}");
        std::process::exit(1);
    }
}

/// `println!` for command results, through [`line`].
#[macro_export]
macro_rules! outln {
    () => {
        $crate::output::line(format_args!(""))
    };
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}
