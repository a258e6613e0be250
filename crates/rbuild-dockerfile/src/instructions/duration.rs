//! Go's `time.ParseDuration` syntax: `300ms`, `1.5h`, `2h45m`, `-1s`, `0`.

use crate::error::DurationError;

/// Parses a Go duration into signed nanoseconds.
pub(crate) fn parse_go_duration(s: &str) -> Result<i128, DurationError> {
    let bad = || DurationError::Invalid { text: s.into() };
    let (neg, mut rest) = match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: i128 = 0;
    while !rest.is_empty() {
        let (part, after) = component(rest, s)?;
        total = total.checked_add(part).ok_or_else(bad)?;
        if total > i128::from(i64::MAX) {
            return Err(bad());
        }
        rest = after;
    }
    Ok(if neg { -total } else { total })
}

/// Splits off the leading run of ASCII digits.
fn digits(s: &str) -> (&str, &str) {
    s.split_at(s.len() - s.trim_start_matches(|c: char| c.is_ascii_digit()).len())
}

/// One `<number>[.<fraction>]<unit>` of `whole` at the start of `rest`: its nanoseconds and
/// what follows it.
fn component<'a>(rest: &'a str, whole: &str) -> Result<(i128, &'a str), DurationError> {
    let bad = || DurationError::Invalid { text: whole.into() };
    let (int, after) = digits(rest);
    let (frac, after) = match after.strip_prefix('.') {
        Some(a) => digits(a),
        None => ("", after),
    };
    if int.is_empty() && frac.is_empty() {
        return Err(bad());
    }
    let unit_len = after.len()
        - after
            .trim_start_matches(|c: char| !c.is_ascii_digit() && c != '.')
            .len();
    let (unit, after) = after.split_at(unit_len);
    let scale = unit_scale(unit, whole)?;
    let int: i128 = if int.is_empty() {
        0
    } else {
        int.parse().map_err(|_| bad())?
    };
    let mut part = int.checked_mul(scale).ok_or_else(bad)?;
    let mut div = scale;
    for d in frac.bytes().take(30) {
        div /= 10;
        part += i128::from(d - b'0') * div;
    }
    Ok((part, after))
}

/// Nanoseconds in one `unit`.
fn unit_scale(unit: &str, whole: &str) -> Result<i128, DurationError> {
    Ok(match unit {
        "ns" => 1,
        "us" | "\u{b5}s" | "\u{3bc}s" => 1_000,
        "ms" => 1_000_000,
        "s" => 1_000_000_000,
        "m" => 60_000_000_000,
        "h" => 3_600_000_000_000,
        "" => return Err(DurationError::MissingUnit { text: whole.into() }),
        _ => {
            return Err(DurationError::UnknownUnit {
                unit: unit.into(),
                text: whole.into(),
            })
        }
    })
}

#[cfg(test)]
mod tests {
    use super::parse_go_duration as p;

    #[test]
    fn durations() {
        assert_eq!(p("30s"), Ok(30_000_000_000));
        assert_eq!(p("1m30s"), Ok(90_000_000_000));
        assert_eq!(p("500ms"), Ok(500_000_000));
        assert_eq!(p("1.5h"), Ok(5_400_000_000_000));
        assert_eq!(p(".5s"), Ok(500_000_000));
        assert_eq!(p("0"), Ok(0));
        assert_eq!(p("-1s"), Ok(-1_000_000_000));
        assert_eq!(p("2µs"), Ok(2_000));
        for bad in [
            "",
            "s",
            "1",
            "1x",
            ".s",
            "1.2.3s",
            "-",
            "99999999999999999999h",
        ] {
            assert!(p(bad).is_err(), "{bad}");
        }
    }
}
