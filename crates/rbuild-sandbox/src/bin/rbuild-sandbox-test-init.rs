//! Test helper: a binary that can be re-executed as the sandbox init (used by integration
//! tests), and that plays the builder in a child process: `run SPEC.json` runs a spec and prints
//! the outcome; `mark-and-spawn CMD...` marks inherited descriptors close-on-exec, then runs CMD.

use std::io::Write;

fn main() {
    rbuild_sandbox::init_if_requested();
    let args: Vec<String> = std::env::args().collect();
    match args.get(1).map(String::as_str) {
        Some("run") if args.len() == 3 => std::process::exit(run(&args[2])),
        Some("mark-and-spawn") if args.len() > 2 => {
            rbuild_sandbox::mark_inherited_fds_cloexec();
            let status = std::process::Command::new(&args[2])
                .args(&args[3..])
                .status();
            std::process::exit(status.map_or(126, |s| s.code().unwrap_or(125)));
        }
        _ => {
            eprintln!(
                "this binary only serves as the rbuild sandbox init ({}) and test builder",
                rbuild_sandbox::INIT_ARG
            );
            std::process::exit(2);
        }
    }
}

/// Runs the spec in `path` (JSON), streaming the step's output, then prints one line:
/// `OUTCOME <reason>` or `ERROR <message>`.
fn run(path: &str) -> i32 {
    let spec: rbuild_sandbox::RunSpec = match std::fs::read(path)
        .map_err(|e| e.to_string())
        .and_then(|b| serde_json::from_slice(&b).map_err(|e| e.to_string()))
    {
        Ok(s) => s,
        Err(e) => {
            eprintln!("read spec {path}: {e}");
            return 2;
        }
    };
    let exe = std::path::Path::new("/proc/self/exe");
    let mut on_output = |s: rbuild_sandbox::OutputStream, b: &[u8]| {
        let _ = match s {
            rbuild_sandbox::OutputStream::Stdout => std::io::stdout().write_all(b),
            rbuild_sandbox::OutputStream::Stderr => std::io::stderr().write_all(b),
        };
    };
    match rbuild_sandbox::run(&spec, exe, &mut on_output) {
        Ok(o) => println!("OUTCOME {:?}", o.reason),
        Err(e) => println!("ERROR {e}"),
    }
    0
}
