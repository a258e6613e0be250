//! `--chmod` values: octal (`0755`) or symbolic like chmod(1) (`u+x,g-w`, `a=r`, `go=u-w`).
//!
//! A symbolic mode is applied to each entry's own mode (`X` adds execute only to directories
//! and to files already executable by someone). Without `u`, `g`, `o` or `a` the clause
//! applies to all three, with no umask: a build has none to honour.

/// A parsed `--chmod`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Chmod {
    /// Replace the permission bits.
    Octal(u32),
    /// Edit each entry's bits.
    Symbolic(Vec<Clause>),
}

/// One `who op perms` clause (`ug+rx`); several ops may follow one `who`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Clause {
    who: u32,
    actions: Vec<(char, Perm)>,
}

/// What an op applies.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Perm {
    /// `rwxXst` letters.
    Letters(String),
    /// Copy from the entry's `u`, `g` or `o` bits.
    From(char),
}

const USER: u32 = 0o4700;
const GROUP: u32 = 0o2070;
const OTHER: u32 = 0o1007;

impl Chmod {
    /// Parses a `--chmod` value; `None` if it is neither octal nor symbolic.
    pub fn parse(s: &str) -> Option<Chmod> {
        if !s.is_empty() && s.chars().all(|c| c.is_ascii_digit()) {
            return u32::from_str_radix(s, 8)
                .ok()
                .filter(|m| *m <= 0o7777)
                .map(Chmod::Octal);
        }
        s.split(',')
            .map(parse_clause)
            .collect::<Option<Vec<_>>>()
            .map(Chmod::Symbolic)
    }

    /// The new mode (permission bits only) of an entry whose mode is `mode`.
    pub fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        match self {
            Chmod::Octal(m) => *m,
            Chmod::Symbolic(clauses) => clauses
                .iter()
                .fold(mode & 0o7777, |m, c| c.apply(m, is_dir)),
        }
    }

    /// A canonical text for cache keys.
    pub fn key(&self) -> String {
        match self {
            Chmod::Octal(m) => format!("{m:o}"),
            Chmod::Symbolic(c) => format!("{c:?}"),
        }
    }
}

fn parse_clause(s: &str) -> Option<Clause> {
    let ops_at = s.find(['+', '-', '='])?;
    let (who_s, mut rest) = s.split_at(ops_at);
    let mut who = 0;
    for c in who_s.chars() {
        who |= match c {
            'u' => USER,
            'g' => GROUP,
            'o' => OTHER,
            'a' => USER | GROUP | OTHER,
            _ => return None,
        };
    }
    if who == 0 {
        who = USER | GROUP | OTHER;
    }
    let mut actions = Vec::new();
    while let Some(op) = rest.chars().next() {
        rest = &rest[1..];
        let end = rest.find(['+', '-', '=']).unwrap_or(rest.len());
        let (perm, tail) = rest.split_at(end);
        rest = tail;
        let perm = match perm {
            "u" | "g" | "o" => Perm::From(perm.chars().next()?),
            p if p.chars().all(|c| "rwxXst".contains(c)) => Perm::Letters(p.to_string()),
            _ => return None,
        };
        actions.push((op, perm));
    }
    Some(Clause { who, actions })
}

impl Clause {
    fn apply(&self, mode: u32, is_dir: bool) -> u32 {
        let mut mode = mode;
        for (op, perm) in &self.actions {
            let bits = self.bits(perm, mode, is_dir);
            mode = match op {
                '+' => mode | bits,
                '-' => mode & !bits,
                // `=` clears the who's bits (special bits only where named) then sets.
                _ => (mode & !(self.who & 0o777)) | bits,
            };
        }
        mode
    }

    /// The mode bits a permission stands for, restricted to this clause's who.
    fn bits(&self, perm: &Perm, mode: u32, is_dir: bool) -> u32 {
        let rwx = match perm {
            Perm::From(c) => {
                let shift = match c {
                    'u' => 6,
                    'g' => 3,
                    _ => 0,
                };
                let b = (mode >> shift) & 7;
                b << 6 | b << 3 | b
            }
            Perm::Letters(l) => {
                let mut b = 0;
                for c in l.chars() {
                    b |= match c {
                        'r' => 0o444,
                        'w' => 0o222,
                        'x' => 0o111,
                        'X' if is_dir || mode & 0o111 != 0 => 0o111,
                        's' => 0o6000,
                        't' => 0o1000,
                        _ => 0,
                    };
                }
                b
            }
        };
        rwx & self.who
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sym(s: &str, mode: u32, dir: bool) -> u32 {
        Chmod::parse(s)
            .unwrap_or_else(|| panic!("{s}"))
            .apply(mode, dir)
    }

    #[test]
    fn octal_and_symbolic() {
        assert_eq!(Chmod::parse("0755"), Some(Chmod::Octal(0o755)));
        assert_eq!(Chmod::parse("644"), Some(Chmod::Octal(0o644)));
        assert_eq!(Chmod::parse("77777"), None);
        assert_eq!(Chmod::parse("8"), None);
        let rows = [
            ("u+x", 0o644, false, 0o744),
            ("g-w", 0o664, false, 0o644),
            ("u+x,g-w", 0o664, false, 0o744),
            ("a=r", 0o755, false, 0o444),
            ("+x", 0o644, false, 0o755),
            ("o=", 0o777, false, 0o770),
            ("go=u-w", 0o754, false, 0o755 & 0o755),
            ("a+X", 0o644, false, 0o644),
            ("a+X", 0o744, false, 0o755),
            ("a+X", 0o600, true, 0o711),
            ("u+s", 0o755, false, 0o4755),
            ("g+s", 0o755, true, 0o2755),
            ("+t", 0o777, true, 0o1777),
            ("u=rwx,g=rx,o=", 0o000, false, 0o750),
            ("u-x+w", 0o500, false, 0o600),
        ];
        for (s, m, dir, want) in rows {
            assert_eq!(sym(s, m, dir), want, "{s} on {m:o}");
        }
    }

    #[test]
    fn rejects_garbage() {
        for s in ["", "u", "x+r", "u+q", "u+x,", "rwx", "u+ug"] {
            assert_eq!(Chmod::parse(s), None, "{s:?} accepted");
        }
    }
}
