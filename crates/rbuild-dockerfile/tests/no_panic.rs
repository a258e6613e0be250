//! Property: no input makes the parser, the typed layer or the lexer panic.

use proptest::prelude::*;
use rbuild_dockerfile::{dump, parse, parse_dockerfile, parse_trigger, EmptyEnv, Lexer};

/// Text built from Dockerfile-ish fragments, so the interesting paths are reached often.
fn dockerfileish() -> impl Strategy<Value = String> {
    let frag = prop::sample::select(vec![
        "FROM ",
        "RUN ",
        "COPY ",
        "ADD ",
        "ENV ",
        "LABEL ",
        "ARG ",
        "ONBUILD ",
        "HEALTHCHECK ",
        "CMD ",
        "EXPOSE ",
        "SHELL ",
        "# escape=`",
        "# syntax=x",
        "\n",
        "\\\n",
        "`\n",
        " ",
        "\t",
        "<<EOF",
        "<<-'E'",
        "EOF",
        "\nEOF\n",
        "--mount=type=cache,target=/x",
        "--from=a",
        "--",
        "[\"a\", ",
        "]",
        "\"",
        "'",
        "=",
        "${A:-",
        "}",
        "$",
        "#",
        "\r\n",
        "é",
        "\u{a0}",
        "AS ",
        "x",
    ]);
    prop::collection::vec(frag, 0..40).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn parser_never_panics(text in "\\PC*") {
        if let Ok(ast) = parse(&text) { let _ = dump(&ast); }
        let _ = parse_dockerfile(&text);
        let _ = parse_trigger(&text, '\\');
    }

    #[test]
    fn structured_input_never_panics(text in dockerfileish()) {
        if let Ok(ast) = parse(&text) { let _ = dump(&ast); }
        let _ = parse_dockerfile(&text);
        let _ = parse_trigger(&text, '`');
    }

    #[test]
    fn lexer_never_panics(word in "[a-zA-Z0-9$\\{\\}:\\-+?#%/*\\[\\]!'\"\\\\` \t]{0,40}") {
        for esc in ['\\', '`'] {
            let l = Lexer::new(esc);
            let _ = l.expand_word(&word, &EmptyEnv);
            let _ = l.expand_words(&word, &EmptyEnv);
            let env = vec![("A".to_string(), "x*y".to_string())];
            let _ = l.expand_word_with_matches(&word, &env);
        }
    }
}
