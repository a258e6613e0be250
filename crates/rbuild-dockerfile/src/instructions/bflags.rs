//! Validation of `--flag` words against what an instruction accepts (BuildKit's BFlags).

use std::collections::BTreeMap;

use crate::error::FlagError;
use crate::suggest::closest;

/// How a flag takes its value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `--x` or `--x=true|false`.
    Bool,
    /// `--x=value`, once.
    Str,
    /// `--x=value`, repeatable.
    Strs,
}

/// Parsed flag values, by name.
#[derive(Debug, Default)]
pub(crate) struct Flags {
    bools: BTreeMap<String, bool>,
    strs: BTreeMap<String, Vec<String>>,
}

impl Flags {
    /// Checks `raw` (e.g. `["--from=a", "--link"]`) against the allowed `spec`.
    pub fn parse(raw: &[String], spec: &[(&str, Kind)]) -> Result<Flags, FlagError> {
        let mut flags = Flags::default();
        let mut used: Vec<&str> = Vec::new();
        for arg in raw {
            let body = arg
                .strip_prefix("--")
                .ok_or_else(|| FlagError::NotAFlag { arg: arg.clone() })?;
            let (name, value) = match body.split_once('=') {
                Some((n, v)) => (n, Some(v)),
                None => (body, None),
            };
            let Some(&(_, kind)) = spec.iter().find(|(n, _)| *n == name) else {
                let names: Vec<&str> = spec.iter().map(|(n, _)| *n).collect();
                return Err(FlagError::Unknown {
                    name: name.into(),
                    suggestion: closest(name, &names).map(String::from),
                });
            };
            if used.contains(&name) && kind != Kind::Strs {
                return Err(FlagError::Duplicate { name: name.into() });
            }
            used.push(name);
            match (kind, value) {
                (Kind::Bool, None) => _ = flags.bools.insert(name.into(), true),
                (Kind::Bool, Some("")) | (Kind::Str | Kind::Strs, None) => {
                    return Err(FlagError::MissingValue { name: name.into() });
                }
                (Kind::Bool, Some(v)) => {
                    let b = match v.to_ascii_lowercase().as_str() {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(FlagError::NotBool {
                                name: name.into(),
                                value: v.into(),
                            })
                        }
                    };
                    flags.bools.insert(name.into(), b);
                }
                (_, Some(v)) => flags.strs.entry(name.into()).or_default().push(v.into()),
            }
        }
        Ok(flags)
    }

    /// A boolean flag's value, if given.
    pub fn bool(&self, name: &str) -> Option<bool> {
        self.bools.get(name).copied()
    }

    /// A single-valued flag.
    pub fn str(&self, name: &str) -> Option<String> {
        self.strs.get(name).and_then(|v| v.last().cloned())
    }

    /// All values of a repeatable flag.
    pub fn strs(&self, name: &str) -> Vec<String> {
        self.strs.get(name).cloned().unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(v: &[&str]) -> Vec<String> {
        v.iter().map(|x| x.to_string()).collect()
    }

    #[test]
    fn flags() {
        let spec = [
            ("link", Kind::Bool),
            ("from", Kind::Str),
            ("exclude", Kind::Strs),
        ];
        let f = Flags::parse(
            &s(&["--link", "--from=a", "--exclude=x", "--exclude=y"]),
            &spec,
        )
        .unwrap();
        assert_eq!(f.bool("link"), Some(true));
        assert_eq!(f.str("from").as_deref(), Some("a"));
        assert_eq!(f.strs("exclude"), s(&["x", "y"]));
        assert_eq!(
            Flags::parse(&s(&["--nope"]), &spec)
                .unwrap_err()
                .to_string(),
            "unknown flag: --nope"
        );
        assert_eq!(
            Flags::parse(&s(&["--lnk"]), &spec).unwrap_err().to_string(),
            "unknown flag: --lnk (did you mean link?)"
        );
        assert!(Flags::parse(&s(&["--from"]), &spec).is_err());
        assert!(Flags::parse(&s(&["--from=a", "--from=b"]), &spec).is_err());
        assert!(Flags::parse(&s(&["--link=maybe"]), &spec).is_err());
        assert_eq!(
            Flags::parse(&s(&["--link=FALSE"]), &spec)
                .unwrap()
                .bool("link"),
            Some(false)
        );
    }
}
