//! STOPSIGNAL's check, as BuildKit's dispatchStopSignal makes it with moby/sys/signal's
//! ParseSignal (Linux table): a non-zero number, or a signal name with or without `SIG`, in
//! any case.

/// Signal names of Linux, without `SIG`.
const NAMES: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "RTMIN", "RTMAX",
];

/// A STOPSIGNAL that names no signal, with BuildKit's message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid signal: {0}")]
pub(crate) struct InvalidSignal(pub String);

/// `Err` with BuildKit's `invalid signal: X` unless `raw` names a signal.
pub(crate) fn check(raw: &str) -> Result<(), InvalidSignal> {
    let invalid = || Err(InvalidSignal(raw.to_string()));
    if let Ok(n) = raw.parse::<i64>() {
        return if n == 0 { invalid() } else { Ok(()) };
    }
    let upper = raw.to_uppercase();
    let name = upper.strip_prefix("SIG").unwrap_or(&upper);
    // The table spells RTMIN+1..RTMIN+15 and RTMAX-14..RTMAX-1, digits only, no leading 0.
    let realtime = |prefix: &str, max: u32| {
        name.strip_prefix(prefix)
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()) && !n.starts_with('0'))
            .and_then(|n| n.parse::<u32>().ok())
            .is_some_and(|n| (1..=max).contains(&n))
    };
    if NAMES.contains(&name) || realtime("RTMIN+", 15) || realtime("RTMAX-", 14) {
        Ok(())
    } else {
        invalid()
    }
}

#[cfg(test)]
mod tests {
    use super::{check, InvalidSignal};

    #[test]
    fn signals_as_moby_parses_them() {
        for ok in [
            "SIGTERM",
            "term",
            "SigKill",
            "9",
            "-3",
            "+5",
            "RTMIN+15",
            "SIGRTMAX-1",
        ] {
            assert_eq!(check(ok), Ok(()), "{ok}");
        }
        for bad in [
            "0", "FOO", "SIGFOO", "RTMIN+16", "RTMAX-15", "RTMIN+", "RTMIN+01", "",
        ] {
            assert_eq!(check(bad), Err(InvalidSignal(bad.to_string())), "{bad}");
            let text = check(bad).map_err(|e| e.to_string());
            assert_eq!(text, Err(format!("invalid signal: {bad}")), "{bad}");
        }
    }
}
