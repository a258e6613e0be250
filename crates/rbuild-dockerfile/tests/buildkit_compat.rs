//! Behaviours matched to BuildKit's Dockerfile frontend (`instructions/parse.go`,
//! `dockerfile2llb/convert.go`), each named after what BuildKit does.

use rbuild_dockerfile::*;

fn commands(text: &str) -> Vec<Command> {
    let d = parse_dockerfile(text).unwrap_or_else(|e| panic!("{e}"));
    d.stages[0]
        .instructions
        .iter()
        .map(|i| i.command.clone())
        .collect()
}

fn err(text: &str) -> String {
    parse_dockerfile(text).expect_err(text).message()
}

/// BuildKit's parseRun accepts a RUN without arguments; dispatchRun prepends the shell to
/// an empty command line, so the step runs `/bin/sh -c ""`.
#[test]
fn bare_run_is_an_empty_shell_command_as_in_buildkit() {
    let c = commands("FROM a\nRUN\nRUN --network=none\n");
    for c in &c {
        let Command::Run(r) = c else { panic!("{c:?}") };
        assert_eq!(r.cmd, ShellOrExec::Shell(String::new()));
    }
    let Command::Run(r) = &commands("FROM a\nRUN []\n")[0] else {
        panic!()
    };
    assert_eq!(
        r.cmd,
        ShellOrExec::Exec(vec![]),
        "JSON form stays exec form"
    );
}

/// BuildKit: a bare CMD/ENTRYPOINT is shell form with an empty command line, which
/// withShell turns into `["/bin/sh", "-c", ""]`; `CMD []` is an empty exec form.
#[test]
fn bare_cmd_and_entrypoint_are_empty_shell_forms_as_in_buildkit() {
    let c = commands("FROM a\nCMD\nENTRYPOINT\nCMD []\nENTRYPOINT []\n");
    let empty_shell = ShellOrExec::Shell(String::new());
    assert_eq!(c[0], Command::Cmd(empty_shell.clone()));
    assert_eq!(c[1], Command::Entrypoint(empty_shell));
    assert_eq!(c[2], Command::Cmd(ShellOrExec::Exec(vec![])));
    assert_eq!(c[3], Command::Entrypoint(ShellOrExec::Exec(vec![])));
}

/// The other bare instructions are errors in BuildKit, with its messages.
#[test]
fn other_bare_instructions_fail_as_in_buildkit() {
    let rows = [
        ("ENV", "ENV requires at least one argument"),
        ("LABEL", "LABEL requires at least one argument"),
        ("ARG", "ARG requires at least one argument"),
        ("EXPOSE", "EXPOSE requires at least one argument"),
        ("VOLUME", "VOLUME requires at least one argument"),
        ("SHELL", "SHELL requires at least one argument"),
        ("HEALTHCHECK", "HEALTHCHECK requires at least one argument"),
        ("ONBUILD", "ONBUILD requires at least one argument"),
        ("WORKDIR", "WORKDIR requires exactly one argument"),
        ("USER", "USER requires exactly one argument"),
        ("STOPSIGNAL", "STOPSIGNAL requires exactly one argument"),
        ("MAINTAINER", "MAINTAINER requires exactly one argument"),
        ("COPY", "COPY requires at least two arguments"),
        ("ADD", "ADD requires at least two arguments"),
        ("FROM", "FROM requires either one or three arguments"),
    ];
    for (keyword, want) in rows {
        let got = err(&format!("FROM a\n{keyword}\n"));
        assert!(got.starts_with(want), "{keyword}: {got}");
    }
}

/// BuildKit's parseArg: `ARG =x` is errBlankCommandNames.
#[test]
fn arg_with_a_blank_name_fails_as_in_buildkit() {
    assert_eq!(err("ARG =x\nFROM a\n"), "ARG names can not be blank");
}

fn heredoc(text: &str) -> Heredoc {
    let Command::Copy(c) = &commands(text)[0] else {
        panic!()
    };
    c.heredocs[0].clone()
}

/// BuildKit's SourcesAndDest.ExpandRaw expands an unquoted-delimiter heredoc with
/// `NewLex('\\')` and `SkipProcessQuotes`: quotes are plain text (so `'${A}'` expands) and
/// escapes are processed (`\$A` is `$A`, `\\` is `\`, any other `\x` is `x`).
#[test]
fn copy_heredoc_expands_like_buildkit_expand_raw() {
    let doc = heredoc("FROM a\nCOPY <<EOF /f\n'${A}' \"$A\" \\$A \\\\ \\n ${U:-d}\nEOF\n");
    assert!(doc.expand);
    let env = vec![("A".to_string(), "1".to_string())];
    let got = Lexer::default().expand_heredoc(&doc.content, &env).unwrap();
    assert_eq!(got, "'1' \"1\" $A \\ n d\n");
    // The directive's escape does not apply: BuildKit's lexer for heredocs is always on `\`.
    let got = Lexer::new('`').expand_heredoc("`$A \\$A\n", &env).unwrap();
    assert_eq!(got, "`1 $A\n");
    let e = Lexer::default().expand_heredoc("x ${A", &env).unwrap_err();
    assert_eq!(e.kind, ExpandErrorKind::MissingBrace);
}

/// BuildKit: a quoted delimiter (`<<"EOF"`, `<<'EOF'`) turns expansion off; the body is
/// copied as written.
#[test]
fn quoted_heredoc_delimiter_keeps_the_body_verbatim_as_in_buildkit() {
    for text in [
        "FROM a\nCOPY <<\"EOF\" /f\n$A \\$A\nEOF\n",
        "FROM a\nCOPY <<'EOF' /f\n$A \\$A\nEOF\n",
    ] {
        let doc = heredoc(text);
        assert!(!doc.expand, "{text}");
        assert_eq!(doc.content, "$A \\$A\n");
    }
}
