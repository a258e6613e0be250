//! Sizes (`10GB`, `512MiB`, plain bytes) and durations (`48h`, `1h30m`, `7d`) as Docker and
//! BuildKit write them, for the configuration and for the command line.

use std::time::Duration;

use serde::de::{self, Deserializer, Visitor};

/// Why a size or a duration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UnitError {
    /// `10%`: Docker's share of the disk.
    #[error("a share of the disk is not supported: give a size such as 10GB")]
    Percent,
    /// No number before the unit.
    #[error("expected a number with an optional unit")]
    NotANumber,
    /// A unit other than k, m, g or t.
    #[error("unknown unit {0:?} (use k, m, g or t)")]
    UnknownUnit(String),
    /// More bytes than fit.
    #[error("out of range")]
    OutOfRange,
    /// Not a duration (the text).
    #[error("{0:?} is not a duration such as 90s, 30m, 24h, 7d or 1h30m")]
    NotADuration(String),
    /// A duration of zero.
    #[error("a duration must be positive")]
    ZeroDuration,
}

/// `512`, `10k`, `1.5GB`, `2GiB`, `100mb`: binary multiples whatever the spelling, as docker's
/// `--keep-storage` and BuildKit's go-units read them.
pub fn parse_size(text: &str) -> Result<u64, UnitError> {
    let t = text.trim().to_ascii_lowercase();
    if t.ends_with('%') {
        return Err(UnitError::Percent);
    }
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| UnitError::NotANumber)?;
    let unit = unit.trim();
    let unit = unit
        .strip_suffix("ib")
        .or_else(|| unit.strip_suffix('b'))
        .unwrap_or(unit);
    let mult: u64 = match unit {
        "" => 1,
        "k" => 1 << 10,
        "m" => 1 << 20,
        "g" => 1 << 30,
        "t" => 1 << 40,
        other => return Err(UnitError::UnknownUnit(other.to_string())),
    };
    let bytes = value * mult as f64;
    if !(bytes.is_finite() && bytes >= 0.0 && bytes < u64::MAX as f64) {
        return Err(UnitError::OutOfRange);
    }
    Ok(bytes as u64)
}

/// A positive duration in Docker's filter syntax: `90s`, `30m`, `24h`, `7d`, `1h30m`.
pub fn parse_duration(text: &str) -> Result<Duration, UnitError> {
    let bad = || UnitError::NotADuration(text.to_string());
    let mut total: u64 = 0;
    let mut digits = String::new();
    for c in text.trim().chars() {
        if c.is_ascii_digit() {
            digits.push(c);
            continue;
        }
        let n: u64 = digits.parse().map_err(|_| bad())?;
        digits.clear();
        let unit = match c {
            's' => 1,
            'm' => 60,
            'h' => 3600,
            'd' => 86_400,
            _ => return Err(bad()),
        };
        total = n
            .checked_mul(unit)
            .and_then(|s| total.checked_add(s))
            .ok_or_else(bad)?;
    }
    if !digits.is_empty() || total == 0 {
        return Err(bad());
    }
    Ok(Duration::from_secs(total))
}

/// Reads a size given as an integer (bytes) or a string with a unit.
pub(crate) fn size<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    d.deserialize_any(Either {
        what: "a size (bytes, or a string such as \"10GB\")",
        int: |n| Ok(n),
        text: parse_size,
    })
    .map(Some)
}

/// Reads a duration given as an integer (seconds, as BuildKit's keepDuration) or a string.
pub(crate) fn duration<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    d.deserialize_any(Either {
        what: "a duration (seconds, or a string such as \"48h\")",
        int: |n| match n {
            0 => Err(UnitError::ZeroDuration),
            n => Ok(Duration::from_secs(n)),
        },
        text: parse_duration,
    })
    .map(Some)
}

/// A visitor taking an integer or a string, each through its own conversion.
struct Either<T> {
    what: &'static str,
    int: fn(u64) -> Result<T, UnitError>,
    text: fn(&str) -> Result<T, UnitError>,
}

impl<T> Visitor<'_> for Either<T> {
    type Value = T;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.what)
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<T, E> {
        let n = u64::try_from(v).map_err(|_| E::custom("must not be negative"))?;
        (self.int)(n).map_err(E::custom)
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<T, E> {
        (self.int)(v).map_err(E::custom)
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
        (self.text)(v).map_err(E::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("512"), Ok(512));
        assert_eq!(parse_size("10k"), Ok(10 << 10));
        assert_eq!(parse_size("2GiB"), Ok(2 << 30));
        assert_eq!(parse_size("100MB"), Ok(100 << 20));
        assert_eq!(parse_size("1.5g"), Ok(3 << 29));
        assert_eq!(parse_size("0"), Ok(0));
        for bad in ["", "x", "10q", "-1", "1..2m", "10%"] {
            assert!(parse_size(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn durations_parse_like_docker_filters() {
        let secs = |t: &str| parse_duration(t).map(|d| d.as_secs());
        assert_eq!(secs("24h"), Ok(86_400));
        assert_eq!(secs("1h30m"), Ok(5_400));
        assert_eq!(secs("7d"), Ok(604_800));
        assert_eq!(secs("90s"), Ok(90));
        for bad in ["", "h", "24", "5x", "0s"] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }
}
