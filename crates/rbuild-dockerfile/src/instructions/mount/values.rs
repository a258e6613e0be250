//! Value syntaxes inside `--mount=`: CSV fields, Go booleans and numbers, Docker sizes.

use crate::error::MountError;

/// Go's `strconv.ParseBool`; `None` for anything else.
pub(super) fn go_bool(v: &str) -> Option<bool> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Some(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Some(false),
        _ => None,
    }
}

/// Go's `strconv.ParseUint(v, radix, 32)`: digits only (Rust would also take a `+`).
pub(super) fn go_u32(v: &str, radix: u32) -> Option<u32> {
    if v.starts_with('+') {
        return None;
    }
    u32::from_str_radix(v, radix).ok()
}

/// Docker's `units.RAMInBytes` (go-units v0.5.0, which BuildKit uses): a number, an
/// optional space, then nothing, `b`, or `k`/`m`/`g`/`t`/`p` with an optional `b` or `ib`,
/// any case, all binary multiples. `None` where it fails.
pub(super) fn ram_in_bytes(v: &str) -> Option<u64> {
    let sep = v.rfind(|c: char| c.is_ascii_digit() || c == '.' || c == ' ')?;
    let num = if v.as_bytes()[sep] == b' ' {
        &v[..sep]
    } else {
        &v[..=sep]
    };
    let suffix = v[sep + 1..].to_ascii_lowercase();
    // Rust's float syntax is Go's ParseFloat without hex floats and underscores.
    let size: f64 = num.parse().ok()?;
    if size.is_nan() || size < 0.0 {
        return None;
    }
    let shift = match suffix.as_bytes() {
        [] | [b'b'] => 0,
        [unit, rest @ ..] if rest.is_empty() || rest == b"b" || rest == b"ib" => match unit {
            b'k' => 10,
            b'm' => 20,
            b'g' => 30,
            b't' => 40,
            b'p' => 50,
            _ => return None,
        },
        _ => return None,
    };
    let bytes = size * (1u64 << shift) as f64;
    // Go converts to int64; beyond that the result is undefined, so refuse it.
    (bytes < i64::MAX as f64).then_some(bytes as u64)
}

/// Splits a mount spec as BuildKit's `csvvalue.Fields` does: one CSV record, a trailing
/// newline allowed, errors naming the 1-based byte column.
pub(super) fn csv_fields(spec: &str) -> Result<Vec<String>, MountError> {
    let line = match spec.strip_suffix('\n') {
        Some(l) => l.strip_suffix('\r').unwrap_or(l),
        None => spec,
    };
    if line.is_empty() {
        return Err(MountError::Empty);
    }
    let mut fields = Vec::new();
    let mut pos = 0;
    loop {
        let rest = &line[pos..];
        if !rest.starts_with('"') {
            let field = rest.split(',').next().unwrap_or(rest);
            if let Some(j) = field.find('"') {
                return Err(MountError::BareQuote {
                    column: pos + j + 1,
                });
            }
            fields.push(field.to_string());
            pos += field.len();
        } else {
            let (field, end) = quoted_field(line, pos + 1)?;
            fields.push(field);
            pos = end;
        }
        if pos >= line.len() {
            return Ok(fields);
        }
        pos += 1; // the comma
    }
}

/// Reads a quoted field whose text starts at `start`; returns it and the position after
/// its closing quote (which must be followed by a comma or the end).
fn quoted_field(line: &str, start: usize) -> Result<(String, usize), MountError> {
    let mut field = String::new();
    let mut pos = start;
    loop {
        let Some(i) = line[pos..].find('"') else {
            return Err(MountError::QuotedField { column: pos + 1 });
        };
        field.push_str(&line[pos..pos + i]);
        pos += i + 1;
        match line[pos..].chars().next() {
            Some('"') => {
                field.push('"');
                pos += 1;
            }
            Some(',') | None => return Ok((field, pos)),
            Some(_) => return Err(MountError::QuotedField { column: pos }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_go_units_v0_5_0() {
        let ok = [
            ("10", 10),
            ("1k", 1024),
            ("1K", 1024),
            ("1kb", 1024),
            ("1KiB", 1024),
            ("1.5GiB", 3 << 29),
            ("2 mb", 2 << 20),
            ("64m", 64 << 20),
            ("5b", 5),
            (".5k", 512),
            ("2.k", 2048),
            ("1e3", 1000),
            ("1 ", 1),
        ];
        for (text, n) in ok {
            assert_eq!(ram_in_bytes(text), Some(n), "{text}");
        }
        for bad in [
            "x", "1q", "-1", "1kbb", "1bk", "1kx", "1  k", "k", "", "9p9p",
        ] {
            assert_eq!(ram_in_bytes(bad), None, "{bad}");
        }
    }

    #[test]
    fn go_numbers() {
        assert_eq!(go_u32("0755", 8), Some(0o755));
        assert_eq!(go_u32("+1", 10), None);
        assert_eq!(go_u32("4294967296", 10), None);
        assert_eq!(go_u32("", 10), None);
        assert_eq!(go_bool("T"), Some(true));
        assert_eq!(go_bool("yes"), None);
    }

    #[test]
    fn csv_as_csvvalue() {
        assert_eq!(csv_fields("a,\"b,c\",d").unwrap(), vec!["a", "b,c", "d"]);
        assert_eq!(csv_fields("\"x\"\"y\"").unwrap(), vec!["x\"y"]);
        assert_eq!(csv_fields("a,").unwrap(), vec!["a", ""]);
        assert_eq!(csv_fields("a,b\n").unwrap(), vec!["a", "b"]);
        assert_eq!(csv_fields("a\r\n").unwrap(), vec!["a"]);
        assert_eq!(csv_fields("\n"), Err(MountError::Empty));
        assert_eq!(csv_fields(""), Err(MountError::Empty));
        assert_eq!(
            csv_fields("ab,c\"d"),
            Err(MountError::BareQuote { column: 5 })
        );
        assert_eq!(
            csv_fields("\"ab"),
            Err(MountError::QuotedField { column: 2 })
        );
        assert_eq!(
            csv_fields("\"ab\"c"),
            Err(MountError::QuotedField { column: 4 })
        );
        assert_eq!(
            csv_fields("\"a\"\"").unwrap_err(),
            MountError::QuotedField { column: 5 }
        );
    }
}
