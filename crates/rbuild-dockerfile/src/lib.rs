//! Dockerfile text to AST and typed instructions, with BuildKit-compatible parsing and
//! shell-word expansion. Pure code: no I/O.
//!
//! * [`parse`] / [`dump`]: the AST exactly as BuildKit's parser builds it.
//! * [`parse_dockerfile`]: typed stages and instructions, words kept raw.
//! * [`Lexer`] / [`expand_command`]: shell-word expansion with a stage's environment.
//!
//! Known, deliberate differences from BuildKit (none is visible in its parser corpus):
//! * `--flag` words are scanned by character, not by byte, so non-ASCII flag values stay
//!   intact (BuildKit re-encodes each byte, producing mojibake).
//! * Glob patterns in `${v#p}`, `${v%p}`, `${v/p/r}` also accept POSIX bracket expressions
//!   `[a-z]`, `[!x]` (BuildKit treats `[` literally), and any escaped character is literal
//!   (BuildKit rejects escapes other than `\*`, `\?`, `\\`, `\}` and `\/`).
//! * Nesting is bounded (`${a:-${b:-...}}` 64 deep, `ONBUILD ONBUILD ...` 8 deep) so hostile
//!   input cannot overflow the stack; Go's growable stacks have no such limit.
//! * JSON form is read with serde_json: a lone UTF-16 surrogate escape (`"\ud800"`) makes the
//!   array invalid (shell-form fallback) where Go substitutes U+FFFD.
//! * The typed layer is stricter in a few places BuildKit defers to build time: EXPOSE and
//!   HEALTHCHECK values are rejected at parse time, and so is a `RUN --mount` value that
//!   expansion cannot change (BuildKit reads mounts when it builds the stage, so it never
//!   refuses one in a stage the target does not need). The messages are BuildKit's.
//! * "Did you mean" hints for mount types, sharing modes and flags pick the first of equally
//!   close candidates in a fixed order; BuildKit walks a Go map, so its pick among ties varies.
//! * `size=` of a tmpfs takes Rust's float syntax where go-units takes Go's: hexadecimal
//!   floats (`0x1p4k`) are refused.
//! * [`RunMount::target_in`] cleans an absolute target too, so `//` and `/.` are refused like
//!   `/` (BuildKit compares the uncleaned text with `/`).

mod dump;
mod error;
mod instructions;
mod parser;
mod shell;
mod suggest;

pub use dump::{dump, go_quote};
pub use error::{
    DurationError, Error, ErrorKind, ExpandError, ExpandErrorKind, FlagError, InstructionError,
    Location, MountError, PortError, SyntaxError, Warning,
};
pub use instructions::{
    expose_ports, parse_dockerfile, parse_mount, parse_trigger, AddCmd, ArgDecl, Command, CopyCmd,
    Directives, Dockerfile, Healthcheck, Heredoc, Instruction, KeyValue, MountKind, RunCmd,
    RunMount, ShellOrExec, Stage,
};
pub use parser::{parse, parse_heredoc_word, Ast, Node, RawHeredoc};
pub use shell::{expand_command, EmptyEnv, Env, Lexer};
pub use suggest::closest;
