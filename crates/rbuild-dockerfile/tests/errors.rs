//! Typed errors: kinds a caller can match on, lines where known, and each message once in
//! the `source()` chain (a reporter printing the chain, like anyhow's `{:#}`, repeats nothing).

use rbuild_dockerfile::*;

fn err(text: &str) -> Error {
    parse_dockerfile(text).expect_err(text)
}

/// The texts a chain reporter prints: the error, then each `source()`.
fn chain(e: &dyn std::error::Error) -> Vec<String> {
    let mut out = vec![e.to_string()];
    let mut next = e.source();
    while let Some(s) = next {
        out.push(s.to_string());
        next = s.source();
    }
    out
}

#[test]
fn kinds_can_be_matched() {
    let e = err("FROM a\nCOPY --bogus=1 a b\n");
    let want = ErrorKind::Flag(FlagError::Unknown {
        name: "bogus".into(),
        suggestion: None,
    });
    assert_eq!((&e.kind, e.line()), (&want, Some(2)));
    let e = parse("# comment\n").unwrap_err();
    assert_eq!(e.kind, ErrorKind::Syntax(SyntaxError::NoInstructions));
    assert_eq!(e.line(), None, "no line: the file as a whole");
    let e = err("FROM a\nRUN --mount=type=nfs,target=/x true\n");
    assert!(matches!(
        e.kind,
        ErrorKind::Mount(MountError::UnsupportedType { .. })
    ));
    let e = err("FROM a\nEXPOSE 9-1\n");
    assert!(matches!(
        e.kind,
        ErrorKind::Instruction(InstructionError::Port(PortError::ReversedRange { .. }))
    ));
}

/// The bug this guards against: `Dockerfile:3: unknown flag: bogus: Dockerfile:3: unknown
/// flag: bogus`, a Display that holds its source's text while also exposing it as `source()`.
#[test]
fn each_message_appears_once_in_the_chain() {
    let e = err("FROM a\nRUN x\nCOPY --bogus a b\n");
    assert_eq!(chain(&e), vec!["Dockerfile:3: unknown flag: --bogus"]);
    let e = err("FROM a\nHEALTHCHECK --interval=5x CMD true\n");
    assert_eq!(
        chain(&e),
        vec![
            "Dockerfile:2: invalid --interval",
            "time: unknown unit \"x\" in duration \"5x\"",
        ]
    );
    assert_eq!(
        e.message(),
        "invalid --interval: time: unknown unit \"x\" in duration \"5x\""
    );
    let x = Lexer::default().expand_word("${A", &EmptyEnv).unwrap_err();
    assert_eq!(
        chain(&x),
        vec!["failed to process \"${A\": syntax error: missing '}'"]
    );
}

#[test]
fn expansion_errors_have_kinds() {
    let lexer = Lexer::default();
    let e = lexer.expand_word("${A:?}", &EmptyEnv).unwrap_err();
    assert_eq!(
        e.kind,
        ExpandErrorKind::Unset {
            name: "A".into(),
            message: None
        }
    );
    assert_eq!(e.kind.to_string(), "A: is not allowed to be unset");
    let env = vec![("A".to_string(), String::new())];
    let e = lexer.expand_word("${A:?set it}", &env).unwrap_err();
    assert_eq!(e.kind.to_string(), "A: set it");
    assert!(matches!(e.kind, ExpandErrorKind::Empty { .. }));
}

#[test]
fn mount_values_are_checked_after_expansion() {
    let d = parse_dockerfile("FROM a\nRUN --mount=type=$T,target=/x true\n").unwrap();
    let cmd = &d.stages[0].instructions[0].command;
    let env = vec![("T".to_string(), "nfs".to_string())];
    let e = expand_command(cmd, &Lexer::default(), &env).unwrap_err();
    assert_eq!(e.word, "type=$T,target=/x");
    assert_eq!(
        e.kind,
        ExpandErrorKind::Mount(Box::new(MountError::UnsupportedType {
            value: "nfs".into(),
            suggestion: None,
        }))
    );
    let e = expand_command(cmd, &Lexer::default(), &EmptyEnv).unwrap_err();
    assert!(matches!(e.kind, ExpandErrorKind::Mount(_)), "{e}");
}
