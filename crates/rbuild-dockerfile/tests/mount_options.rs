//! Every `--mount` key, alias and default, and every refusal, with BuildKit's wording
//! (`frontend/dockerfile/instructions/commands_runmount.go`, which BuildKit's tests cover
//! only in part). Issue 14.

use rbuild_dockerfile::*;

fn mount(spec: &str) -> RunMount {
    parse_mount(spec).unwrap_or_else(|e| panic!("{spec}: {e}"))
}

fn refused(spec: &str) -> String {
    parse_mount(spec).expect_err(spec).message()
}

/// A RUN whose one mount spec holds a variable: accepted at parse time, refused (with the
/// same words as a variable-free spec) once expanded.
fn refused_after_expansion(spec: &str, vars: &[(&str, &str)]) -> String {
    let text = format!("FROM a\nRUN --mount={spec} true\n");
    let d = parse_dockerfile(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
    let cmd = &d.stages[0].instructions[0].command;
    let env: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    expand_command(cmd, &Lexer::default(), &env)
        .expect_err(spec)
        .to_string()
}

#[test]
fn type_defaults_to_bind_and_keys_have_aliases() {
    let m = mount("target=/x");
    assert_eq!((m.kind, m.readonly), (MountKind::Bind, true));
    for spec in ["dst=/x", "destination=/x", "TARGET=/x", "Target=/x"] {
        assert_eq!(mount(spec).target.as_deref(), Some("/x"), "{spec}");
    }
    assert_eq!(mount("src=a").source.as_deref(), Some("a"));
    assert_eq!(mount("source=a").source.as_deref(), Some("a"));
    assert_eq!(mount("type=CACHE").kind, MountKind::Cache);
    for (spec, readonly) in [
        ("rw", false),
        ("readwrite", false),
        ("rw=true", false),
        ("readwrite=0", true),
        ("ro=false", false),
        ("readonly=T", true),
        ("type=cache,ro", true),
        ("type=tmpfs,readonly", true),
        ("type=cache", false),
        ("type=tmpfs", false),
        ("type=secret,id=a", true),
        ("type=ssh", true),
        ("ro,type=cache", true),
    ] {
        assert_eq!(mount(spec).readonly, readonly, "{spec}");
    }
}

#[test]
fn empty_values_are_absent_and_keys_any_type_accepts() {
    let m = mount("target=,source=,from=,id=");
    assert_eq!((m.target, m.source, m.from, m.id), (None, None, None, None));
    let m = mount("type=cache,id=c,env=X");
    assert_eq!((m.id.as_deref(), m.env.as_deref()), (Some("c"), Some("X")));
    assert_eq!(mount("type=secret,id=s,env=").env.as_deref(), Some(""));
    assert_eq!(
        mount("type=cache,sharing=LOCKED").sharing.as_deref(),
        Some("locked")
    );
    assert_eq!(
        mount("type=cache,sharing=private,sharing=shared").cache_sharing(),
        "shared"
    );
    assert_eq!(mount("type=tmpfs,size=1.5GiB").size, Some(3 << 29));
    assert!(mount("type=ssh,required=1").required);
    assert_eq!(
        mount("\"target=/a,b\",type=cache").target.as_deref(),
        Some("/a,b")
    );
}

#[test]
fn contradictions_are_refused_as_buildkit_refuses_them() {
    let cases = [
        (
            "type=secret,from=a,id=x",
            "secret mount should not have a from",
        ),
        (
            "type=secret,id=x,sharing=locked",
            "secret mount should not define sharing",
        ),
        (
            "type=secret",
            "invalid secret mount. one of source, target required",
        ),
        (
            "type=secret,env=X",
            "invalid secret mount. one of source, target required",
        ),
        ("type=secret,src=a,id=b", "both source and id can't be set"),
        (
            "type=bind,target=/x,sharing=locked",
            "invalid cache sharing set for bind mount",
        ),
        (
            "type=ssh,sharing=private",
            "invalid cache sharing set for ssh mount",
        ),
        (
            "target=/x,mode=0700",
            "mode not allowed for \"bind\" type mounts",
        ),
        (
            "type=tmpfs,target=/x,uid=1",
            "uid not allowed for \"tmpfs\" type mounts",
        ),
        (
            "type=tmpfs,gid=1,uid=1",
            "uid not allowed for \"tmpfs\" type mounts",
        ),
        (
            "type=bind,gid=1",
            "gid not allowed for \"bind\" type mounts",
        ),
    ];
    for (spec, want) in cases {
        assert_eq!(refused(spec), want, "{spec}");
    }
}

/// `required` and `size` are checked against the type read so far, so order matters.
#[test]
fn type_specific_keys_depend_on_the_order_written() {
    let cases = [
        (
            "required,type=secret,id=x",
            "unexpected key 'required' for mount type 'bind'",
        ),
        (
            "type=cache,required=true",
            "unexpected key 'required' for mount type 'cache'",
        ),
        (
            "size=1m,type=tmpfs,target=/x",
            "unexpected key 'size' for mount type 'bind'",
        ),
        (
            "type=cache,size=1",
            "unexpected key 'size' for mount type 'cache'",
        ),
    ];
    for (spec, want) in cases {
        assert_eq!(refused(spec), want, "{spec}");
    }
    assert!(mount("type=secret,required,id=x").required);
    assert_eq!(mount("type=tmpfs,size=1k,target=/x").size, Some(1024));
}

#[test]
fn bad_values_and_unknown_keys() {
    let cases = [
        ("type=nfs", "unsupported mount type \"nfs\""),
        ("type=Tmp", "unsupported mount type \"Tmp\""),
        (
            "type=cahce",
            "unsupported mount type \"cahce\" (did you mean cache?)",
        ),
        (
            "type=cache,sharing=lockd",
            "unsupported sharing value \"lockd\" (did you mean locked?)",
        ),
        ("type=cache,sharing=no", "unsupported sharing value \"no\""),
        ("type=cache,mode=9", "invalid value 9 for mode"),
        ("type=cache,mode=+7", "invalid value +7 for mode"),
        ("type=cache,uid=-1", "invalid value -1 for uid"),
        (
            "type=cache,gid=4294967296",
            "invalid value 4294967296 for gid",
        ),
        ("ro=maybe", "invalid value for ro: maybe"),
        ("READWRITE=yes", "invalid value for readwrite: yes"),
        (
            "type=secret,id=a,required=2",
            "invalid value for required: 2",
        ),
        ("type=tmpfs,size=big", "invalid value for size: big"),
        ("type=tmpfs,size=-1", "invalid value for size: -1"),
        (
            "target=/x,bogus",
            "invalid field 'bogus' must be a key=value pair",
        ),
        ("target=/x,", "invalid field '' must be a key=value pair"),
        ("type", "invalid field 'type' must be a key=value pair"),
        (
            "Targte=/y",
            "unexpected key 'targte' in 'Targte=/y' (did you mean target?)",
        ),
        (
            "sharng=locked",
            "unexpected key 'sharng' in 'sharng=locked' (did you mean sharing?)",
        ),
        ("zzz=1", "unexpected key 'zzz' in 'zzz=1'"),
    ];
    for (spec, want) in cases {
        assert_eq!(refused(spec), want, "{spec}");
    }
}

#[test]
fn csv_errors_are_go_csv_errors() {
    assert_eq!(
        refused("a\"b"),
        "failed to parse csv mounts: parse error on line 1, column 2: bare \" in non-quoted-field"
    );
    assert_eq!(
        refused("\"target=/x"),
        "failed to parse csv mounts: parse error on line 1, column 2: extraneous or missing \" in quoted-field"
    );
    let text = "FROM a\nRUN --mount= true\n";
    let e = parse_dockerfile(text).unwrap_err();
    assert_eq!(
        e.to_string(),
        "Dockerfile:2: failed to parse csv mounts: EOF"
    );
}

/// BuildKit reads all but `from` only once the values are expanded, when the stage is built;
/// the error is the mount's own, without the `failed to process` of an expansion error.
#[test]
fn specs_with_variables_are_checked_once_expanded() {
    assert_eq!(
        refused_after_expansion("type=cache,target=$T,bogus=1", &[("T", "/t")]),
        "unexpected key 'bogus' in 'bogus=1'"
    );
    assert_eq!(
        refused_after_expansion("type=$T,size=1m,target=/x", &[("T", "cache")]),
        "unexpected key 'size' for mount type 'cache'"
    );
    assert_eq!(
        refused_after_expansion("type=$T,id=$I", &[("T", "secret"), ("I", "")]),
        "invalid secret mount. one of source, target required"
    );
    assert_eq!(
        refused_after_expansion("type=cache,target=${T:?unset}", &[]),
        "failed to process \"${T:?unset}\": T: unset"
    );
    // The flag word loses one level of quoting and escapes; expansion removes the next.
    let text = "FROM a\nRUN --mount=type=\\'cache\\',target=/c true\n";
    let d = parse_dockerfile(text).unwrap();
    let Command::Run(r) = &d.stages[0].instructions[0].command else {
        panic!()
    };
    assert_eq!(
        r.mounts[0].kind,
        MountKind::Bind,
        "quotes: provisional at parse time"
    );
    let Command::Run(x) =
        expand_command(&Command::Run(r.clone()), &Lexer::default(), &EmptyEnv).unwrap()
    else {
        panic!()
    };
    assert_eq!(
        (x.mounts[0].kind, x.mounts[0].target.as_deref()),
        (MountKind::Cache, Some("/c"))
    );
}
