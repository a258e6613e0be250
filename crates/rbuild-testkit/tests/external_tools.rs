//! Every external program the tests run (and the code they test runs) is either installed by
//! scripts/install-deps.sh or named there as part of the base system. Programs are found in
//! the sources: `Command::new("…")` (or a `const` path it names), `require_tool("…")`,
//! `run_tool("…")`, shell strings given to `sh -c` or a `sh(…)` helper, and the commands of
//! scripts/*.sh. Needs no root and runs nothing.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::{LazyLock, Mutex};

use regex::Regex;

/// Words a shell command segment may start with that are no program.
const SHELL_WORDS: &[&str] = &[
    "!", "[", "[[", ":", "break", "case", "cd", "command", "continue", "do", "done", "echo",
    "elif", "else", "esac", "eval", "exec", "exit", "export", "false", "fi", "for", "if", "in",
    "kill", "local", "mapfile", "printf", "pwd", "read", "return", "set", "shift", "source",
    "test", "then", "trap", "true", "unset", "wait", "while",
];

/// The workspace root (this crate is crates/rbuild-testkit).
fn project() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// Files under `dir` ending in `ext`, recursively (target/ and hidden dirs skipped).
fn files(dir: &Path, ext: &str, out: &mut Vec<PathBuf>) {
    let Ok(rd) = std::fs::read_dir(dir) else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path();
        let name = e.file_name().to_string_lossy().to_string();
        if p.is_dir() && !name.starts_with('.') && name != "target" && name != "testdata" {
            files(&p, ext, out);
        } else if name.ends_with(ext) {
            out.push(p);
        }
    }
}

/// The program a command word names: the basename of an absolute path; nothing for words
/// that are variables, options, numbers, file names, relative paths (project files) or shell
/// syntax.
fn program(word: &str) -> Option<String> {
    let w = word.trim_matches(|c| c == '"' || c == '\'');
    let first = w.chars().next()?;
    let odd = w.contains(['$', '=', '{', '}', '*', '[', ']']) || w.contains("..");
    if !(first.is_ascii_alphabetic() || first == '/') || odd {
        return None;
    }
    if let Some(abs) = w.strip_prefix('/') {
        // A device or a proc file is no program (`sh -c /dev/pipes/EOF` runs a heredoc).
        if abs.starts_with("dev/") || abs.starts_with("proc/") {
            return None;
        }
        let name = abs.rsplit('/').next()?;
        return (!name.contains('.') && !name.is_empty()).then(|| name.to_string());
    }
    (!w.contains('/') && !SHELL_WORDS.contains(&w)).then(|| w.to_string())
}

/// Compiled once: a debug-build regex compiles slowly, and every source line is scanned.
fn re(pattern: &'static str) -> &'static Regex {
    static CACHE: LazyLock<Mutex<BTreeMap<&'static str, &'static Regex>>> =
        LazyLock::new(Default::default);
    let mut cache = CACHE.lock().unwrap();
    cache
        .entry(pattern)
        .or_insert_with(|| Box::leak(Box::new(Regex::new(pattern).unwrap())))
}

/// `script` with quoted text blanked (it names no command), except the command substitutions
/// inside double quotes, which run.
fn unquote(script: &str) -> String {
    let mut out = String::new();
    let mut chars = script.chars().peekable();
    let (mut quote, mut depth) = (None, 0);
    while let Some(c) = chars.next() {
        match (quote, depth) {
            (Some('\''), _) if c == '\'' => quote = None,
            (Some('\''), _) => {}
            (Some(_), 0) if c == '"' => quote = None,
            (Some(_), 0) if c == '$' && chars.peek() == Some(&'(') => {
                chars.next();
                if chars.peek() == Some(&'(') {
                    // `"$((a / b))"`: arithmetic, which runs nothing.
                    let mut open = 1;
                    while open > 0 {
                        match chars.next() {
                            Some('(') => open += 1,
                            Some(')') => open -= 1,
                            Some(_) => {}
                            None => break,
                        }
                    }
                } else {
                    depth = 1;
                    out.push_str(" ; ");
                }
            }
            (Some(_), 0) => {}
            (Some(_), _) => {
                depth += usize::from(c == '(');
                depth -= usize::from(c == ')');
                out.push(if depth == 0 { ';' } else { c });
            }
            (None, _) if c == '\'' || c == '"' => {
                quote = Some(c);
                out.push_str(" $q ");
            }
            (None, _) => out.push(c),
        }
    }
    out
}

/// The programs a shell command string runs: the first word of each simple command, after
/// quoted literals, parameter expansions and redirections are taken out.
fn shell_programs(script: &str) -> Vec<String> {
    let cleanups = [
        // Arithmetic runs nothing: `$((a * b))`, one level of parentheses inside.
        (r"\$\(\(([^()]|\([^()]*\))*\)\)", "$v"),
        (r"\$\{[^}]*\}", "$v"),
        (r"\d*>&\d+", " "),
        (r"\d*>>?\s*[^\s;&|)]+", " "),
        (r"<\s*[^\s;&|)]+", " "),
        ("\"", " "),
    ];
    let mut text = unquote(script);
    for (pattern, with) in cleanups {
        text = re(pattern).replace_all(&text, with).to_string();
    }
    let mut out = Vec::new();
    for segment in re(r"&&|\|\||[;|&\n(){}`]|\$\(").split(&text) {
        let words = segment
            .split_whitespace()
            .skip_while(|w| w.contains('=') && !w.starts_with('-'))
            .collect::<Vec<_>>();
        if let Some(p) = words.first().and_then(|w| program(w)) {
            out.push(p);
        }
    }
    out
}

/// Whether a const's name says it holds a program's name.
fn is_tool_const(name: &str) -> bool {
    ["HELPER", "BINARY", "TOOL"]
        .iter()
        .any(|t| name == *t || name.ends_with(&format!("_{t}")))
}

/// `let NAME = "VALUE";` and `const NAME: &str = "VALUE";` bindings of a file (string
/// continuations joined), so `{NAME}` in a format string can be resolved.
fn bindings(src: &str) -> BTreeMap<String, String> {
    re(r#"(?s)(?:let (\w+)|const (\w+): &str) = "((?:[^"\\]|\\.)*)";"#)
        .captures_iter(src)
        .map(|c| {
            let name = c.get(1).or(c.get(2)).map_or("", |m| m.as_str());
            let value = re(r"\\\n\s*").replace_all(&c[3], "");
            (name.to_string(), value.to_string())
        })
        .collect()
}

/// The programs a Rust source runs, each with where it was seen.
fn rust_programs(path: &Path, found: &mut BTreeMap<String, String>) {
    let src = std::fs::read_to_string(path).unwrap();
    let rel = path.strip_prefix(project()).unwrap().display().to_string();
    // Paths in consts, and program names in consts named like one (HELPER, *_BINARY, *_TOOL).
    let consts: BTreeMap<String, String> = re(r#"const (\w+): &str = "(/[^"]+|[a-z][\w-]*)";"#)
        .captures_iter(&src)
        .map(|c| (c[1].to_string(), c[2].to_string()))
        .filter(|(name, value)| value.starts_with('/') || is_tool_const(name))
        .collect();
    for (name, value) in &consts {
        if let Some(p) = program(value).filter(|_| is_tool_const(name)) {
            found.entry(p).or_insert_with(|| rel.clone());
        }
    }
    let mut add = |p: Option<String>| {
        if let Some(p) = p {
            found.entry(p).or_insert_with(|| rel.clone());
        }
    };
    let direct = re(
        r#"(?:Command::new|require_tool|run_tool|compress)\(\s*(?:"([^"]+)"|([A-Z][A-Z0-9_]+)\b)"#,
    );
    for c in direct.captures_iter(&src) {
        let word = match (c.get(1), c.get(2)) {
            (Some(lit), _) => Some(lit.as_str().to_string()),
            (None, Some(name)) => consts.get(name.as_str()).cloned(),
            _ => None,
        };
        add(word.and_then(|w| program(&w)));
    }
    let vars = bindings(&src);
    let shell =
        re(r#"(?s)(?:"-c"\s*(?:,|\)\s*\.arg\()|\bsh\()\s*&?(?:format!\(\s*)?"((?:[^"\\]|\\.)*)""#);
    let placeholder = re(r"\{(\w+)\}");
    for c in shell.captures_iter(&src) {
        let script = placeholder.replace_all(&c[1], |p: &regex::Captures| {
            vars.get(&p[1]).cloned().unwrap_or_default()
        });
        for p in shell_programs(&script.replace("\\\n", " ")) {
            add(Some(p));
        }
    }
}

/// The programs the commands of a shell script run (array definitions, comments, heredoc
/// bodies and the script's own functions skipped).
fn script_programs(path: &Path, found: &mut BTreeMap<String, String>) {
    let rel = path.strip_prefix(project()).unwrap().display().to_string();
    let text = std::fs::read_to_string(path).unwrap();
    script_text_programs(&rel, &text, found);
}

fn script_text_programs(rel: &str, text: &str, found: &mut BTreeMap<String, String>) {
    let functions: BTreeSet<String> = re(r"(?m)^\s*(\w+)\(\)\s*\{")
        .captures_iter(text)
        .map(|c| c[1].to_string())
        .collect();
    let heredoc = re(r#"<<-?\s*['"]?(\w+)['"]?"#);
    let (mut in_array, mut until) = (false, None::<String>);
    for line in text.lines() {
        if let Some(end) = &until {
            if line.trim() == end {
                until = None;
            }
            continue;
        }
        let line = line.split(" #").next().unwrap_or("").trim();
        if line.starts_with('#') || line.is_empty() {
            continue;
        }
        if in_array || re(r"^\w+=\(").is_match(line) {
            in_array = !line.ends_with(')');
            continue;
        }
        until = heredoc.captures(line).map(|c| c[1].to_string());
        for p in shell_programs(line)
            .into_iter()
            .filter(|p| !functions.contains(p))
        {
            found.entry(p).or_insert_with(|| rel.to_string());
        }
    }
}

/// Every external program found, with one place that runs it.
fn programs_run() -> BTreeMap<String, String> {
    let root = project();
    let mut rs = Vec::new();
    for dir in ["tests", "src", "crates", "examples"] {
        files(&root.join(dir), ".rs", &mut rs);
    }
    let mut found = BTreeMap::new();
    for f in &rs {
        rust_programs(f, &mut found);
    }
    let mut sh = Vec::new();
    files(&root.join("scripts"), ".sh", &mut sh);
    for f in &sh {
        script_programs(f, &mut found);
    }
    found
}

/// The words of the bash array `name=( … )` in install-deps.sh.
fn array(script: &str, name: &str) -> Vec<String> {
    let re = Regex::new(&format!(r"(?s)\n{name}=\((.*?)\n\)")).unwrap();
    let body = re
        .captures(script)
        .unwrap_or_else(|| panic!("install-deps.sh has no {name}=( … ) array"))[1]
        .to_string();
    body.lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .flat_map(|l| l.split_whitespace().map(str::to_string).collect::<Vec<_>>())
        .collect()
}

#[test]
fn install_deps_installs_or_names_every_program_the_tests_run() {
    let script = std::fs::read_to_string(project().join("scripts/install-deps.sh")).unwrap();
    let tools: BTreeSet<String> = array(&script, "tools")
        .iter()
        .map(|t| t.split(':').next().unwrap().to_string())
        .collect();
    let base: BTreeSet<String> = array(&script, "base").into_iter().collect();
    let found = programs_run();
    eprintln!("programs run: {found:#?}");
    let missing: Vec<String> = found
        .iter()
        .filter(|(p, _)| !tools.contains(*p) && !base.contains(*p))
        .map(|(p, at)| format!("{p} (run in {at})"))
        .collect();
    assert!(
        missing.is_empty(),
        "scripts/install-deps.sh neither installs nor names as base system: {missing:#?}"
    );
    // The scan itself must see what is known to be there, or it proves nothing.
    for known in [
        "skopeo",
        "umoci",
        "runc",
        "docker-registry",
        "python3",
        "git",
        "gcc",
        "tar",
    ] {
        assert!(
            found.contains_key(known),
            "the scan missed {known}: {found:#?}"
        );
    }
}

#[test]
fn the_scan_reads_commands_the_way_a_shell_would() {
    let got = shell_programs(
        "cd src && git init -q; A=1 tar xf x | /usr/bin/gzip -d $(mktemp) || { apt-get update; }",
    );
    assert_eq!(got, ["git", "tar", "gzip", "mktemp", "apt-get"]);
    assert_eq!(
        shell_programs("echo hi > /dev/null; [ -e x ] || exit 1"),
        Vec::<String>::new()
    );
    let quoted = r#"[ "$(id -u)" = 0 ] || { echo "run as root; then" >&2; exit 1; }"#;
    assert_eq!(shell_programs(quoted), ["id"]);
    let arithmetic = "n=$((8 * k - ${b:-0})); [ $n -lt $(( (2 + 1) * k )) ] && n=$(du -sk t)";
    assert_eq!(shell_programs(arithmetic), ["du"]);
    let quoted_arithmetic = r#"echo "$((have / 1024)) MiB, $(id -u)"; "$((n + 1))""#;
    assert_eq!(shell_programs(quoted_arithmetic), ["id"]);
    assert_eq!(program("scripts/install-deps.sh"), None);
    assert_eq!(program("$rbuild"), None);
    assert_eq!(program("/dev/pipes/EOF"), None);
    let text = "die() { echo \"$*\" >&2; exit 1; }\ncat > conf <<'EOF'\nhttp:\n  addr: x\nEOF\ndie oops\nskopeo copy a b\n";
    let mut found = BTreeMap::new();
    script_text_programs("s.sh", text, &mut found);
    assert_eq!(found.keys().collect::<Vec<_>>(), ["cat", "skopeo"]);
    let consts = "const GIT: &str = \"git -c a=b \\\n    -c c=d\";";
    assert_eq!(bindings(consts)["GIT"], "git -c a=b -c c=d");
}
