//! Value syntaxes inside `--mount=`: CSV fields, Go booleans, Docker size units.

use crate::error::MountError;

/// Go's `strconv.ParseBool`.
pub(crate) fn go_bool(v: &str) -> Result<bool, MountError> {
    match v {
        "1" | "t" | "T" | "true" | "TRUE" | "True" => Ok(true),
        "0" | "f" | "F" | "false" | "FALSE" | "False" => Ok(false),
        _ => Err(MountError::InvalidBool { value: v.into() }),
    }
}

/// Docker's `units.RAMInBytes`: `64m`, `1.5GiB`, `512 kb` (binary multiples).
pub(crate) fn ram_in_bytes(v: &str) -> Result<u64, MountError> {
    let bad = || MountError::InvalidSize { value: v.into() };
    let num_len = v.len()
        - v.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.')
            .len();
    let (num, unit) = v.split_at(num_len);
    let unit = unit.strip_prefix(' ').unwrap_or(unit).to_ascii_lowercase();
    let unit = unit.strip_suffix('b').unwrap_or(&unit);
    let unit = unit.strip_suffix('i').unwrap_or(unit);
    let shift = match unit {
        "" => 0,
        "k" => 10,
        "m" => 20,
        "g" => 30,
        "t" => 40,
        "p" => 50,
        _ => return Err(bad()),
    };
    if num.is_empty() || num.starts_with('.') || num.ends_with('.') {
        return Err(bad());
    }
    let n: f64 = num.parse().map_err(|_| bad())?;
    let bytes = n * (1u64 << shift) as f64;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(bad());
    }
    Ok(bytes as u64)
}

/// Splits a mount spec like Go's `encoding/csv` reads one record.
pub(crate) fn csv_fields(spec: &str) -> Result<Vec<String>, MountError> {
    if spec.is_empty() {
        return Err(MountError::Empty);
    }
    let quoted = || MountError::QuotedField { spec: spec.into() };
    let mut fields = Vec::new();
    let mut chars = spec.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err(quoted()),
                    Some('"') if chars.peek() == Some(&'"') => _ = (chars.next(), field.push('"')),
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            if !matches!(chars.peek(), None | Some(',')) {
                return Err(quoted());
            }
        } else {
            while let Some(&c) = chars.peek() {
                if c == ',' {
                    break;
                }
                if c == '"' {
                    return Err(MountError::BareQuote { spec: spec.into() });
                }
                field.push(c);
                chars.next();
            }
        }
        fields.push(field);
        if chars.next().is_none() {
            return Ok(fields);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(ram_in_bytes("10"), Ok(10));
        assert_eq!(ram_in_bytes("1k"), Ok(1024));
        assert_eq!(ram_in_bytes("1.5GiB"), Ok(3 << 29));
        assert_eq!(ram_in_bytes("2 mb"), Ok(2 << 20));
        assert!(ram_in_bytes("x").is_err());
        assert!(ram_in_bytes("1q").is_err());
    }

    #[test]
    fn csv() {
        assert_eq!(csv_fields("a,\"b,c\",d").unwrap(), vec!["a", "b,c", "d"]);
        assert_eq!(csv_fields("\"x\"\"y\"").unwrap(), vec!["x\"y"]);
        assert!(csv_fields("a\"b").is_err());
        assert!(csv_fields("\"a").is_err());
    }
}
