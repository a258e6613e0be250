//! The typed layer: stages, instructions, heredocs, flags, validation.

use std::time::Duration;

use rbuild_dockerfile::*;

fn df(text: &str) -> Dockerfile {
    parse_dockerfile(text).unwrap_or_else(|e| panic!("{e}"))
}

fn err(text: &str) -> Error {
    parse_dockerfile(text).expect_err(text)
}

fn cmds(d: &Dockerfile, stage: usize) -> Vec<Command> {
    d.stages[stage]
        .instructions
        .iter()
        .map(|i| i.command.clone())
        .collect()
}

#[test]
fn stages_and_meta_args() {
    let d = df("ARG BASE=alpine\nARG V\nFROM --platform=$BUILDPLATFORM ${BASE}:3 AS Build\nRUN echo hi\n\nFROM scratch\nCOPY --from=build /a /b\n");
    assert_eq!(
        d.meta_args,
        vec![
            ArgDecl {
                name: "BASE".into(),
                default: Some("alpine".into())
            },
            ArgDecl {
                name: "V".into(),
                default: None
            }
        ]
    );
    assert_eq!(d.stages.len(), 2);
    let s = &d.stages[0];
    assert_eq!(
        (s.name.as_deref(), s.base.as_str(), s.platform.as_deref()),
        (Some("build"), "${BASE}:3", Some("$BUILDPLATFORM"))
    );
    assert_eq!(s.location, Location::new(3, 4));
    assert_eq!(s.instructions[0].source, "RUN echo hi");
    assert_eq!(d.stages[1].location, Location::new(6, 7));
    assert_eq!(d.directives.escape, '\\');
}

#[test]
fn errors_carry_locations() {
    let e = err("FROM a\nRUN x\nFOO bar\n");
    // BuildKit's hint too (instructions/parse.go: suggest.WrapError over the instructions).
    assert_eq!(
        e.to_string(),
        "Dockerfile:3: unknown instruction: FOO (did you mean FROM?)"
    );
    assert_eq!(e.location, Some(Location::new(3, 3)));
    let e = err("FROM a\nCOPY --bogus=1 a b\n");
    assert_eq!(
        (e.message().as_str(), e.location.map(|l| l.start_line)),
        ("unknown flag: --bogus", Some(2))
    );
    assert_eq!(
        err("RUN x\nFROM a\n").message(),
        "no build stage in current context"
    );
    assert!(err("ARG X\n").message().contains("no stages"));
    assert!(err("FROM a b\n").message().contains("one or three"));
    assert!(err("FROM a AS 1x\n")
        .message()
        .contains("invalid name for build stage"));
    assert!(err("FROM a AS x\nFROM b AS X\n")
        .message()
        .contains("duplicate stage name"));
    assert!(err("FROM a\nCOPY a\n")
        .message()
        .contains("at least two arguments"));
    assert!(err("FROM a\nSHELL sh -c\n").message().contains("JSON form"));
    assert!(err("FROM a\nWORKDIR\n").message().contains("exactly one"));
    assert!(err("FROM a\nEXPOSE 80/foo\n").message().contains("proto"));
    assert!(err("FROM a\nEXPOSE 70000\n").message().contains("EXPOSE"));
    assert!(err("FROM a\nRUN --network=bridge x\n")
        .message()
        .contains("network"));
    assert!(err("FROM a\nRUN --mount=type=cache,size=1 x\n")
        .message()
        .contains("unexpected key 'size' for mount type 'cache'"));
    assert!(err("FROM a\nCMD --x=1 y\n")
        .message()
        .contains("unknown flag"));
    assert!(err("FROM a\nCOPY --link --link a b\n")
        .message()
        .contains("duplicate flag"));
}

#[test]
fn run_forms_and_mounts() {
    let d = df("FROM a\nRUN [\"echo\", \"a b\"]\nRUN --mount=type=cache,target=/c,id=$ID --mount=type=secret,id=s,required --network=none echo \\\n  hi\n");
    let c = cmds(&d, 0);
    let Command::Run(r) = &c[0] else { panic!() };
    assert_eq!(r.cmd, ShellOrExec::Exec(vec!["echo".into(), "a b".into()]));
    let Command::Run(r) = &c[1] else { panic!() };
    assert_eq!(r.cmd, ShellOrExec::Shell("echo   hi".into()));
    assert_eq!(r.network.as_deref(), Some("none"));
    assert_eq!(r.mounts.len(), 2);
    assert_eq!(
        (r.mounts[0].kind, r.mounts[0].id.as_deref()),
        (MountKind::Cache, Some("$ID"))
    );
    assert_eq!(
        (r.mounts[1].kind, r.mounts[1].required),
        (MountKind::Secret, true)
    );
    assert_eq!(d.stages[0].instructions[1].location, Location::new(3, 4));
    let env: Vec<(String, String)> = vec![("ID".into(), "mycache".into())];
    let Command::Run(x) = expand_command(&c[1], &Lexer::new('\\'), &env).unwrap() else {
        panic!()
    };
    assert_eq!(x.mounts[0].id.as_deref(), Some("mycache"));
    assert_eq!(x.cmd, r.cmd, "RUN's command is not expanded");
}

#[test]
fn heredocs() {
    let text = "FROM a\nRUN <<EOF\necho $HOME\nEOF\nRUN cat <<-'A' && cat <<B\n\t\tone\n\tA\ntwo\nB\nCOPY --chmod=755 <<\"S\" /s.sh\n#!/bin/sh\nS\nRUN echo after\n";
    let d = df(text);
    let c = cmds(&d, 0);
    let Command::Run(r) = &c[0] else { panic!() };
    assert_eq!(r.cmd, ShellOrExec::Shell("<<EOF".into()));
    assert_eq!(
        r.heredocs,
        vec![Heredoc {
            name: "EOF".into(),
            content: "echo $HOME\n".into(),
            expand: true
        }]
    );
    let Command::Run(r) = &c[1] else { panic!() };
    assert_eq!(
        r.heredocs,
        vec![
            Heredoc {
                name: "A".into(),
                content: "one\n".into(),
                expand: false
            },
            Heredoc {
                name: "B".into(),
                content: "two\n".into(),
                expand: true
            }
        ]
    );
    let Command::Copy(cp) = &c[2] else { panic!() };
    assert_eq!(cp.sources, vec!["<<\"S\"".to_string()]);
    assert_eq!(
        cp.heredoc_for(&cp.sources[0]).unwrap().content,
        "#!/bin/sh\n"
    );
    assert!(!cp.heredocs[0].expand);
    assert_eq!(cp.chmod.as_deref(), Some("755"));
    let locs: Vec<_> = d.stages[0]
        .instructions
        .iter()
        .map(|i| (i.location.start_line, i.location.end_line))
        .collect();
    assert_eq!(locs, vec![(2, 4), (5, 9), (10, 12), (13, 13)]);
    // The dump shows markers, never bodies.
    assert_eq!(
        dump(&parse(text).unwrap()).lines().nth(1),
        Some("(run \"<<EOF\")")
    );
    assert_eq!(
        err("FROM a\nRUN <<EOF\nx\n").message(),
        "unterminated heredoc"
    );
    assert!(err("FROM a\nCOPY a <<EOF\nx\nEOF\n")
        .message()
        .contains("heredoc as a destination"));
    // JSON form never takes heredocs.
    let d = df("FROM a\nRUN [\"cat\", \"<<EOF\"]\nRUN true\n");
    assert_eq!(d.stages[0].instructions.len(), 2);
}

#[test]
fn onbuild() {
    let d = df("FROM a\nONBUILD RUN echo hi\nONBUILD COPY <<EOF /x\nbody\nEOF\n");
    let c = cmds(&d, 0);
    assert_eq!(c[0], Command::OnBuild("RUN echo hi".into()));
    let Command::OnBuild(t) = &c[1] else { panic!() };
    assert_eq!(t, "COPY <<EOF /x\nbody\nEOF");
    let trig = parse_trigger(t, '\\').unwrap();
    let Command::Copy(cp) = trig.command else {
        panic!()
    };
    assert_eq!(cp.heredocs[0].content, "body\n");
    assert!(err("FROM a\nONBUILD ONBUILD RUN x\n")
        .message()
        .contains("Chaining"));
    assert!(err("FROM a\nONBUILD FROM b\n")
        .message()
        .contains("FROM isn't allowed"));
    assert!(err("FROM a\nONBUILD MAINTAINER me\n")
        .message()
        .contains("MAINTAINER isn't allowed"));
    assert!(parse_trigger("FROM x", '\\').is_err());
    assert!(parse_trigger("BOGUS x", '\\')
        .unwrap_err()
        .message()
        .contains("unknown instruction"));
    let d = df("FROM a\nONBUILD BOGUS x\n");
    assert!(d
        .warnings
        .iter()
        .any(|w| w.line == 2 && w.message.contains("ONBUILD")));
}

#[test]
fn healthcheck() {
    let d = df("FROM a\nHEALTHCHECK NONE\nHEALTHCHECK --interval=1m30s --timeout=500ms --retries=3 CMD curl -f x\nHEALTHCHECK --start-period=0s CMD [\"true\"]\n");
    let c = cmds(&d, 0);
    assert_eq!(c[0], Command::Healthcheck(Healthcheck::None));
    assert_eq!(
        c[1],
        Command::Healthcheck(Healthcheck::Check {
            test: ShellOrExec::Shell("curl -f x".into()),
            interval: Some(Duration::from_secs(90)),
            timeout: Some(Duration::from_millis(500)),
            start_period: None,
            start_interval: None,
            retries: Some(3),
        })
    );
    let Command::Healthcheck(Healthcheck::Check {
        test, start_period, ..
    }) = &c[2]
    else {
        panic!()
    };
    assert_eq!(
        (test, start_period),
        (&ShellOrExec::Exec(vec!["true".into()]), &None)
    );
    for bad in [
        "--interval=5 CMD x",
        "--interval=1us CMD x",
        "--retries=-1 CMD x",
        "--retries=x CMD x",
        "CMD",
        "NONE x",
        "CONNECT x",
        "--bogus=1 CMD x",
    ] {
        assert!(
            parse_dockerfile(&format!("FROM a\nHEALTHCHECK {bad}\n")).is_err(),
            "{bad}"
        );
    }
}

#[test]
fn directives() {
    let d = df("# syntax=example.com/frontend:1\n# escape=`\n# check=skip=all\nFROM a\nRUN dir c:\\ `\n  /w\n");
    assert_eq!(
        d.directives.syntax.as_deref(),
        Some("example.com/frontend:1")
    );
    assert_eq!(d.directives.escape, '`');
    assert_eq!(d.directives.check.as_deref(), Some("skip=all"));
    assert!(d
        .warnings
        .iter()
        .any(|w| w.line == 1 && w.message.contains("external frontend")));
    assert_eq!(
        d.stages[0].instructions[0].command,
        Command::Run(RunCmd {
            cmd: ShellOrExec::Shell("dir c:\\   /w".into()),
            heredocs: vec![],
            mounts: vec![],
            network: None,
            security: None,
            mount_specs: vec![],
        })
    );
    let d = df("# syntax=docker/dockerfile:1\nFROM a\n");
    assert!(d.warnings.is_empty());
    assert!(err("# escape=x\nFROM a\n")
        .message()
        .contains("invalid escape"));
    assert!(err("# escape=`\n# escape=\\\nFROM a\n")
        .message()
        .contains("only one escape"));
}

#[test]
fn copy_and_add_flags() {
    let d = df("FROM a\nCOPY --from=b --link --parents --exclude=*.md --exclude=x [\"a b\", \"/d/\"]\nADD --keep-git-dir=true --unpack=false --link=false git@h:r.git /src\n");
    let c = cmds(&d, 0);
    let Command::Copy(cp) = &c[0] else { panic!() };
    assert_eq!(cp.from.as_deref(), Some("b"));
    assert!(cp.link && cp.parents);
    assert_eq!(cp.exclude, vec!["*.md".to_string(), "x".to_string()]);
    assert_eq!(
        (cp.sources.clone(), cp.dest.as_str()),
        (vec!["a b".to_string()], "/d/")
    );
    let Command::Add(ad) = &c[1] else { panic!() };
    assert!(ad.keep_git_dir && !ad.link);
    assert_eq!(ad.unpack, Some(false));
    assert!(err("FROM a\nADD --from=x a b\n")
        .message()
        .contains("unknown flag: --from"));
}
