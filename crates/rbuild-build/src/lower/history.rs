//! The `created_by` text of history entries, written as BuildKit's Dockerfile frontend writes
//! it (dockerfile2llb/convert.go, convert_copy.go, convert_expose.go): tools compare image
//! histories, so the text is BuildKit's to the byte, Go formatting (`%q`, `%v`, `%+v`)
//! included. Steps that run (RUN, COPY, ADD) end in BuildKit's ` # buildkit` marker.

use rbuild_dockerfile::{go_quote, Env};

use super::state::StageArgs;

/// What BuildKit appends to the history of the steps that produce a layer with an op.
const OP_MARKER: &str = " # buildkit";

/// What a credential-like ARG's value shows as in history.
pub(crate) const REDACTED: &str = "<redacted>";

/// `RUN |2 foo=bar2 bar=123 /bin/sh -c ls`: the stage's ARGs (each once, at its first
/// declaration, with its value now: an ENV of the same name wins) then the argv.
///
/// One departure from BuildKit, which writes every value: an ARG whose name looks like a
/// credential (the names its SecretsUsedInArgOrEnv check warns about, `NPM_TOKEN`) shows
/// `<redacted>`, so the value never reaches the image config or the store (issue 14).
pub(crate) fn run(argv: &[String], args: &StageArgs, env: &dyn Env) -> String {
    let pairs: Vec<String> = args
        .iter()
        .map(|(k, v)| {
            let value = env.get(k).or_else(|| v.map(str::to_string));
            match value.unwrap_or_default() {
                v if !v.is_empty() && super::lint::looks_secret(k) => format!("{k}={REDACTED}"),
                v => format!("{k}={v}"),
            }
        })
        .collect();
    let mut words = Vec::with_capacity(pairs.len() + argv.len() + 1);
    if !pairs.is_empty() {
        words.push(format!("|{}", pairs.len()));
    }
    words.extend(pairs);
    words.extend(argv.iter().cloned());
    format!("RUN {}{OP_MARKER}", words.join(" "))
}

/// The parts of a COPY or ADD its history names.
pub(crate) struct CopyText<'a> {
    /// `ADD` rather than `COPY`.
    pub add: bool,
    /// `--parents`.
    pub parents: bool,
    /// `--chown`, expanded.
    pub chown: Option<&'a str>,
    /// `--chmod`, expanded.
    pub chmod: Option<&'a str>,
    /// Source words, expanded; heredoc sources as their `<<EOF` word.
    pub sources: &'a [String],
    /// Destination, expanded.
    pub dest: &'a str,
}

/// `COPY [--parents] [--chown=..] [--chmod=..] SRC... <<DOC... DEST # buildkit`: BuildKit names
/// neither `--from`, `--link` nor `--exclude`, and lists heredoc sources after the others.
pub(crate) fn copy(c: &CopyText) -> String {
    let mut s = String::from(if c.add { "ADD" } else { "COPY" });
    if c.parents {
        s.push_str(" --parents");
    }
    for (flag, v) in [("chown", c.chown), ("chmod", c.chmod)] {
        if let Some(v) = v.filter(|v| !v.is_empty()) {
            s.push_str(&format!(" --{flag}={v}"));
        }
    }
    let (docs, paths): (Vec<&String>, Vec<&String>) =
        c.sources.iter().partition(|w| heredoc_name(w).is_some());
    for p in paths {
        s.push(' ');
        s.push_str(p);
    }
    for d in docs.iter().filter_map(|w| heredoc_name(w)) {
        s.push_str(" <<");
        s.push_str(d);
    }
    s.push(' ');
    s.push_str(c.dest);
    s.push_str(OP_MARKER);
    s
}

/// The name of a heredoc source word (`<<EOF`, `<<-"EOF"`).
fn heredoc_name(word: &str) -> Option<&str> {
    rbuild_dockerfile::parse_heredoc_word(word)?;
    let name = word.strip_prefix("<<")?.trim_start_matches('-');
    Some(name.trim_matches(['"', '\'']))
}

/// Go's `%q` of a string slice: `["/bin/sh" "-c" "echo hi"]` (CMD, ENTRYPOINT).
pub(crate) fn quoted_list(v: &[String]) -> String {
    let items: Vec<String> = v.iter().map(|s| go_quote(s)).collect();
    format!("[{}]", items.join(" "))
}

/// Go's `%v` of a string slice: `[/bin/bash -c]` (SHELL, VOLUME, EXPOSE).
pub(crate) fn plain_list(v: &[String]) -> String {
    format!("[{}]", v.join(" "))
}

/// `HEALTHCHECK %+v` of Docker's HealthcheckConfig: field names, durations as Go prints them.
pub(crate) fn healthcheck(h: &rbuild_oci::Healthcheck) -> String {
    let d = |ns: Option<u64>| go_duration(ns.unwrap_or(0));
    format!(
        "HEALTHCHECK {{Test:{} Interval:{} Timeout:{} StartPeriod:{} StartInterval:{} Retries:{}}}",
        plain_list(&h.test),
        d(h.interval),
        d(h.timeout),
        d(h.start_period),
        d(h.start_interval),
        h.retries.unwrap_or(0)
    )
}

/// Go's `time.Duration.String` of a non-negative duration: `0s`, `1.5s`, `1m30s`, `1h0m0s`,
/// `250ms`, `3µs`, `7ns`.
pub(crate) fn go_duration(ns: u64) -> String {
    const SEC: u64 = 1_000_000_000;
    match ns {
        0 => "0s".to_string(),
        n if n < 1_000 => format!("{n}ns"),
        n if n < 1_000_000 => format!("{}µs", decimal(n, 1_000)),
        n if n < SEC => format!("{}ms", decimal(n, 1_000_000)),
        n => {
            let (h, m) = (n / (3600 * SEC), n / (60 * SEC) % 60);
            let s = decimal(n % (60 * SEC), SEC);
            match (h, m) {
                (0, 0) => format!("{s}s"),
                (0, m) => format!("{m}m{s}s"),
                (h, m) => format!("{h}h{m}m{s}s"),
            }
        }
    }
}

/// `v / unit` with its fraction, trailing zeros dropped (`1500, 1000` → `1.5`).
fn decimal(v: u64, unit: u64) -> String {
    let (whole, frac) = (v / unit, v % unit);
    if frac == 0 {
        return whole.to_string();
    }
    let width = unit.ilog10() as usize;
    let digits = format!("{frac:0width$}");
    format!("{whole}.{}", digits.trim_end_matches('0'))
}

#[cfg(test)]
#[allow(non_snake_case)] // test names carry BuildKit's Go test names
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn strings(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn run_lists_args_once_with_their_last_value__buildkit_testExportedHistoryFlattenArgs() {
        let mut args = StageArgs::default();
        args.declare("foo", Some("bar".into()));
        args.declare("bar", Some("123".into()));
        args.declare("foo", Some("bar2".into()));
        let env = BTreeMap::from([("foo".to_string(), "bar2".to_string())]);
        let argv = strings(&["/bin/sh", "-c", "ls /etc/"]);
        assert_eq!(
            run(&argv, &args, &env),
            "RUN |2 foo=bar2 bar=123 /bin/sh -c ls /etc/ # buildkit"
        );
        assert_eq!(
            run(&strings(&["ls"]), &StageArgs::default(), &env),
            "RUN ls # buildkit"
        );
        let mut secret = StageArgs::default();
        secret.declare("NPM_TOKEN", Some("s3cr3t-value".into()));
        secret.declare("PUBLIC_KEY", Some("pk".into()));
        assert_eq!(
            run(&strings(&["true"]), &secret, &BTreeMap::new()),
            "RUN |2 NPM_TOKEN=<redacted> PUBLIC_KEY=pk true # buildkit",
            "a credential-like ARG's value never reaches the history"
        );
        let mut unset = StageArgs::default();
        unset.declare("x", None);
        assert_eq!(
            run(&argv[..1], &unset, &env),
            "RUN |1 x= /bin/sh # buildkit"
        );
    }

    #[test]
    fn copy_names_neither_from_nor_link__buildkit_testExportedHistory() {
        let sources = strings(&["foo2"]);
        let c = CopyText {
            add: false,
            parents: false,
            chown: None,
            chmod: None,
            sources: &sources,
            dest: "foo3",
        };
        assert_eq!(copy(&c), "COPY foo2 foo3 # buildkit");
        let sources = strings(&["<<EOF", "a", "<<-\"B\""]);
        let c = CopyText {
            add: true,
            parents: true,
            chown: Some("1:2"),
            chmod: Some("755"),
            sources: &sources,
            dest: "/d/",
        };
        assert_eq!(
            copy(&c),
            "ADD --parents --chown=1:2 --chmod=755 a <<EOF <<B /d/ # buildkit"
        );
    }

    #[test]
    fn go_formats() {
        assert_eq!(
            quoted_list(&strings(&["/bin/sh", "-c", "echo \"hi\"\t"])),
            r#"["/bin/sh" "-c" "echo \"hi\"\t"]"#
        );
        assert_eq!(plain_list(&strings(&["/bin/bash", "-c"])), "[/bin/bash -c]");
        let s = 1_000_000_000;
        assert_eq!(go_duration(0), "0s");
        assert_eq!(go_duration(7), "7ns");
        assert_eq!(go_duration(3_500), "3.5µs");
        assert_eq!(go_duration(250_000_000), "250ms");
        assert_eq!(go_duration(s + s / 2), "1.5s");
        assert_eq!(go_duration(90 * s), "1m30s");
        assert_eq!(go_duration(3600 * s), "1h0m0s");
        let h = rbuild_oci::Healthcheck {
            test: strings(&["CMD-SHELL", "true"]),
            interval: Some(30 * s),
            retries: Some(3),
            ..Default::default()
        };
        assert_eq!(
            healthcheck(&h),
            "HEALTHCHECK {Test:[CMD-SHELL true] Interval:30s Timeout:0s StartPeriod:0s \
             StartInterval:0s Retries:3}"
        );
    }
}
