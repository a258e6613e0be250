//! Test helper: a binary that can be re-executed as the sandbox init (used by integration tests).

fn main() {
    rbuild_sandbox::init_if_requested();
    eprintln!(
        "this binary only serves as the rbuild sandbox init ({})",
        rbuild_sandbox::INIT_ARG
    );
    std::process::exit(2);
}
