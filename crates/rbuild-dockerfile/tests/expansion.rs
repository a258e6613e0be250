//! `expand_command`: which fields of which instructions are expanded, with a stage's env.

use rbuild_dockerfile::*;

fn df(text: &str) -> Dockerfile {
    parse_dockerfile(text).unwrap_or_else(|e| panic!("{e}"))
}

fn cmds(d: &Dockerfile, stage: usize) -> Vec<Command> {
    d.stages[stage]
        .instructions
        .iter()
        .map(|i| i.command.clone())
        .collect()
}

#[test]
fn env_label_arg_and_expansion() {
    let d = df(EXPANDED);
    assert!(d
        .warnings
        .iter()
        .any(|w| w.line == 3 && w.message.contains("legacy")));
    let x = expand_all(&d);
    let kv = |k: &str, v: &str| KeyValue {
        key: k.into(),
        value: v.into(),
    };
    assert_eq!(
        x[0],
        Command::Env(vec![kv("A", "1"), kv("B", "x y"), kv("C", "1")])
    );
    assert_eq!(x[1], Command::Env(vec![kv("LEGACY", "some value")]));
    assert_eq!(x[2], Command::Label(vec![kv("k", "v")]));
    assert_eq!(
        x[3],
        Command::Arg(vec![
            ArgDecl {
                name: "X".into(),
                default: Some("1".into())
            },
            ArgDecl {
                name: "Y".into(),
                default: None
            }
        ])
    );
    assert_eq!(x[4], Command::Workdir("/w/1".into()));
    assert_eq!(x[5], Command::Volume(vec!["/v".into(), "1".into()]));
    assert_eq!(x[6], Command::Expose(vec!["80".into(), "81/udp".into()]));
    assert_eq!(x[7], Command::User("u:1".into()));
    assert_eq!(x[8], Command::StopSignal("SIGTERM".into()));
    // Raw words keep their quotes in the typed layer.
    let Command::Env(raw) = &cmds(&d, 0)[0] else {
        panic!()
    };
    assert_eq!(raw[1].value, "\"x y\"");
}

const EXPANDED: &str = "FROM a\nENV A=1 B=\"x y\" C=$A\nENV LEGACY some value\nLABEL \"k\"=v\nARG X=${A:-z} Y\nWORKDIR /w/$A\nVOLUME [\"/v\", \"$A\"]\nEXPOSE $P 81/udp\nUSER u:$A\nSTOPSIGNAL SIG$S\nCOPY --chown=$A $A <<EOF /d/$A\nx $A\nEOF\nADD --checksum=$A http://h/$A /d\n";

fn expansion_env() -> std::collections::BTreeMap<String, String> {
    [("A", "1"), ("P", "80"), ("S", "TERM")]
        .into_iter()
        .map(|(k, v)| (k.into(), v.into()))
        .collect()
}

/// Every instruction of stage 0, expanded with [`expansion_env`].
fn expand_all(d: &Dockerfile) -> Vec<Command> {
    let lx = Lexer::new(d.directives.escape);
    cmds(d, 0)
        .iter()
        .map(|c| expand_command(c, &lx, &expansion_env()).unwrap())
        .collect()
}

#[test]
fn copy_add_expansion() {
    let x = expand_all(&df(EXPANDED));
    let Command::Copy(cp) = &x[9] else { panic!() };
    assert_eq!(
        (cp.chown.as_deref(), cp.sources.clone(), cp.dest.as_str()),
        (
            Some("1"),
            vec!["1".to_string(), "<<EOF".to_string()],
            "/d/1"
        )
    );
    assert_eq!(
        cp.heredocs[0].content, "x $A\n",
        "heredoc bodies are not expanded here"
    );
    let Command::Add(ad) = &x[10] else { panic!() };
    assert_eq!(
        (ad.checksum.as_deref(), ad.sources[0].as_str()),
        (Some("1"), "http://h/1")
    );
    // An EXPOSE that only becomes invalid after expansion.
    let bad = Command::Expose(vec!["$A/foo".into()]);
    assert!(expand_command(&bad, &Lexer::default(), &expansion_env()).is_err());
}
