//! Expansion table in the spirit of BuildKit's envVarTest (rows written for this crate).

use std::collections::BTreeMap;

use super::*;
use crate::error::ExpandErrorKind;

fn env() -> BTreeMap<String, String> {
    [
        ("PWD", "/home"),
        ("SHELL", "bash"),
        ("KOREAN", "한국어"),
        ("NULL", ""),
        ("FOO", "foo/bar/baz.tar.gz"),
        ("SP", "a b  c"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect()
}

/// (input, Ok(expected) | Err(message fragment))
const WORDS: &[(&str, Result<&str, &str>)] = &[
    ("hello", Ok("hello")),
    ("he'l'lo", Ok("hello")),
    ("he\"l\"lo", Ok("hello")),
    ("he\\'llo", Ok("he'llo")),
    ("'$PWD'", Ok("$PWD")),
    ("\"$PWD\"", Ok("/home")),
    ("$PWD", Ok("/home")),
    ("${PWD}", Ok("/home")),
    ("${PWD}x", Ok("/homex")),
    ("$PWD/x", Ok("/home/x")),
    ("\\$PWD", Ok("$PWD")),
    ("\"\\$PWD\"", Ok("$PWD")),
    ("\"\\a\"", Ok("\\a")),
    ("\"\\\"\"", Ok("\"")),
    ("\"\\\\\"", Ok("\\")),
    ("\\a", Ok("a")),
    ("'\\a'", Ok("\\a")),
    ("abc\\", Ok("abc")),
    ("$", Ok("$")),
    ("a$", Ok("a$")),
    ("$ a", Ok("$ a")),
    ("$1", Ok("")),
    ("$$", Ok("")),
    ("$UNSET", Ok("")),
    ("${KOREAN}", Ok("한국어")),
    ("$KOREAN국", Ok("")),
    ("'a b'\"c d\"", Ok("a bc d")),
    // default / alternative / error operators
    ("${UNSET:-def}", Ok("def")),
    ("${NULL:-def}", Ok("def")),
    ("${NULL-def}", Ok("")),
    ("${UNSET-def}", Ok("def")),
    ("${PWD:-def}", Ok("/home")),
    ("${PWD:+alt}", Ok("alt")),
    ("${NULL:+alt}", Ok("")),
    ("${NULL+alt}", Ok("alt")),
    ("${UNSET+alt}", Ok("")),
    ("${UNSET:?}", Err("UNSET: is not allowed to be unset")),
    ("${NULL:?}", Err("NULL: is not allowed to be empty")),
    ("${NULL?}", Ok("")),
    ("${UNSET?custom msg}", Err("UNSET: custom msg")),
    ("${PWD:?x}", Ok("/home")),
    ("${UNSET:-${PWD}}", Ok("/home")),
    ("${UNSET:-'a b'}", Ok("a b")),
    ("${UNSET:-\"$PWD x\"}", Ok("/home x")),
    ("${UNSET:-a\\}b}", Ok("a}b")),
    // prefix / suffix removal
    ("${FOO#*/}", Ok("bar/baz.tar.gz")),
    ("${FOO##*/}", Ok("baz.tar.gz")),
    ("${FOO%.*}", Ok("foo/bar/baz.tar")),
    ("${FOO%%.*}", Ok("foo/bar/baz")),
    ("${FOO#nomatch}", Ok("foo/bar/baz.tar.gz")),
    ("${FOO#foo}", Ok("/bar/baz.tar.gz")),
    ("${FOO%gz}", Ok("foo/bar/baz.tar.")),
    ("${FOO#f?o/}", Ok("bar/baz.tar.gz")),
    ("${FOO##[a-f]*/}", Ok("baz.tar.gz")),
    ("${UNSET#x}", Ok("")),
    ("${PWD#\\/}", Ok("home")),
    // replacement
    ("${FOO/bar/X}", Ok("foo/X/baz.tar.gz")),
    ("${FOO//a/_}", Ok("foo/b_r/b_z.t_r.gz")),
    ("${FOO/a/_}", Ok("foo/b_r/baz.tar.gz")),
    ("${FOO/[bz]/_}", Ok("foo/_ar/baz.tar.gz")),
    ("${FOO//[!a-z]/}", Ok("foobarbaztargz")),
    ("${FOO/b?z/Q}", Ok("foo/bar/Q.tar.gz")),
    ("${FOO/*./}", Ok("gz")),
    ("${FOO/nomatch/x}", Ok("foo/bar/baz.tar.gz")),
    ("${FOO//\\//:}", Ok("foo:bar:baz.tar.gz")),
    ("${SHELL/sh/\\/}", Ok("ba/")),
    // errors
    ("${", Err("syntax error: missing '}'")),
    ("${PWD", Err("syntax error: missing '}'")),
    ("${PWD:-abc", Err("syntax error: missing '}'")),
    ("${}", Err("syntax error: bad substitution")),
    ("${:}", Err("syntax error: bad substitution")),
    ("${{x}", Err("syntax error: bad substitution")),
    (
        "${PWD:#x}",
        Err("unsupported modifier (:#) in substitution"),
    ),
    (
        "${PWD:%x}",
        Err("unsupported modifier (:%) in substitution"),
    ),
    ("${PWD:x}", Err("unsupported modifier (:x) in substitution")),
    ("${PWD!}", Err("unsupported modifier (!) in substitution")),
    ("${PWD/x", Err("syntax error: missing '/' in ${}")),
    ("${PWD/x/y", Err("syntax error: missing '}'")),
    (
        "'abc",
        Err("unexpected end of statement while looking for matching single-quote"),
    ),
    (
        "\"abc",
        Err("unexpected end of statement while looking for matching double-quote"),
    ),
];

#[test]
fn expand_word_table() {
    let env = env();
    let lexer = Lexer::new('\\');
    for (input, want) in WORDS {
        let got = lexer.expand_word(input, &env);
        match (want, got) {
            (Ok(w), Ok(g)) => assert_eq!(&g, w, "input {input:?}"),
            (Err(w), Err(g)) => {
                let message = g.kind.to_string();
                assert!(
                    message.contains(w),
                    "input {input:?}: error {message:?} lacks {w:?}"
                );
                assert!(g.to_string().starts_with("failed to process"), "{g}");
            }
            (w, g) => panic!("input {input:?}: want {w:?}, got {g:?}"),
        }
    }
}

#[test]
fn backtick_escape() {
    let env = env();
    let lexer = Lexer::new('`');
    assert_eq!(lexer.expand_word("`$PWD", &env).unwrap(), "$PWD");
    assert_eq!(lexer.expand_word("\\$PWD", &env).unwrap(), "\\/home");
    assert_eq!(lexer.expand_word("c:\\dir", &env).unwrap(), "c:\\dir");
    assert_eq!(lexer.expand_word("\"`\"\"", &env).unwrap(), "\"");
}

#[test]
fn expand_words_splits() {
    let env = env();
    let lexer = Lexer::default();
    let cases: &[(&str, &[&str])] = &[
        ("a b", &["a", "b"]),
        ("  a   b  ", &["a", "b"]),
        ("\"a b\" c", &["a b", "c"]),
        ("$SP", &["a", "b", "c"]),
        ("\"$SP\"", &["a b  c"]),
        ("x$SP", &["xa", "b", "c"]),
        ("''", &[]),
        ("a\\ b", &["a b"]),
        ("${UNSET:-x y}", &["x", "y"]),
    ];
    for (input, want) in cases {
        assert_eq!(
            lexer.expand_words(input, &env).unwrap(),
            *want,
            "input {input:?}"
        );
    }
}

#[test]
fn matches_are_the_set_variables_used() {
    let env = env();
    let (s, m) = Lexer::default()
        .expand_word_with_matches("$PWD ${UNSET} ${SHELL:-x} \"$NULL\"", &env)
        .unwrap();
    assert_eq!(s, "/home  bash ");
    assert_eq!(m.into_iter().collect::<Vec<_>>(), ["NULL", "PWD", "SHELL"]);
}

#[test]
fn env_impls() {
    let pairs = vec![
        ("A".to_string(), "1".to_string()),
        ("A".to_string(), "2".to_string()),
    ];
    let slice: &[(String, String)] = &pairs;
    let l = Lexer::default();
    assert_eq!(l.expand_word("$A", &slice).unwrap(), "2");
    assert_eq!(l.expand_word("$A", &pairs).unwrap(), "2");
    let hm: HashMap<String, String> = [("A".to_string(), "h".to_string())].into();
    assert_eq!(l.expand_word("$A", &hm).unwrap(), "h");
    assert_eq!(l.expand_word("$A", &EmptyEnv).unwrap(), "");
}

#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let word = "${A:-".repeat(5000) + &"}".repeat(5000);
    assert!(Lexer::default().expand_word(&word, &EmptyEnv).is_err());
}

#[test]
fn f9_expansion_is_capped() {
    let big: BTreeMap<String, String> = [("A".to_string(), "x".repeat(600 * 1024))]
        .into_iter()
        .collect();
    let lexer = Lexer::default();
    assert_eq!(lexer.expand_word("$A", &big).unwrap().len(), 600 * 1024);
    let err = lexer.expand_word("$A$A", &big).unwrap_err();
    assert_eq!(err.kind, ExpandErrorKind::TooLarge { mib: 1 }, "{err}");
    let err = lexer.expand_word("\"${A}\"-${A:-x}", &big).unwrap_err();
    assert_eq!(err.kind, ExpandErrorKind::TooLarge { mib: 1 }, "{err}");
}
