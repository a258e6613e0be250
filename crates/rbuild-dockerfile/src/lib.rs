//! Dockerfile text to AST and typed instructions, with BuildKit-compatible parsing and
//! shell-word expansion. Pure code: no I/O.
//!
//! * [`parse`] / [`dump`]: the AST exactly as BuildKit's parser builds it.
//! * [`parse_dockerfile`]: typed stages and instructions, words kept raw.
//! * [`Lexer`] / [`expand_command`]: shell-word expansion with a stage's environment.

mod dump;
mod error;
mod instructions;
mod parser;
mod shell;

pub use dump::{dump, go_quote};
pub use error::{Error, ExpandError, Location, Warning};
pub use instructions::{
    parse_dockerfile, parse_mount, parse_trigger, AddCmd, ArgDecl, Command, CopyCmd, Directives,
    Dockerfile, Healthcheck, Heredoc, Instruction, KeyValue, MountKind, RunCmd, RunMount,
    ShellOrExec, Stage,
};
pub use parser::{parse, parse_heredoc_word, Ast, Node, RawHeredoc};
pub use shell::{expand_command, EmptyEnv, Env, Lexer};
