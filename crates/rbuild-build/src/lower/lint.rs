//! BuildKit's build checks that lowering can see: `SecretsUsedInArgOrEnv` (an ARG or ENV
//! whose name looks like it holds a credential).

/// Name words that suggest a credential (BuildKit's list).
const SECRET_WORDS: &[&str] = &[
    "apikey",
    "auth",
    "credential",
    "credentials",
    "key",
    "password",
    "pword",
    "passwd",
    "secret",
    "token",
];

/// Words that make such a name harmless (`PUBLIC_KEY`, `KEY_FILE`, `TOKEN_VERSION`).
const ALLOWED_WORDS: &[&str] = &["public", "file", "version"];

/// Whether `name` looks like it holds a secret: one of its `_`-separated words (any case) is
/// a secret word and none is an allowed one, as BuildKit's check decides.
pub fn looks_secret(name: &str) -> bool {
    let words: Vec<String> = name.split('_').map(str::to_ascii_lowercase).collect();
    let has = |list: &[&str]| words.iter().any(|w| list.contains(&w.as_str()));
    has(SECRET_WORDS) && !has(ALLOWED_WORDS)
}

/// The warning for `instruction` (ARG or ENV) declaring `name` at `line`.
pub fn secret_warning(instruction: &str, name: &str, line: Option<usize>) -> String {
    let at = line.map_or(String::new(), |l| format!(" (line {l})"));
    format!(
        "SecretsUsedInArgOrEnv: Do not use ARG or ENV instructions for sensitive data \
         ({instruction} {name:?}){at}"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_are_found_as_buildkit_finds_them() {
        for name in [
            "NPM_TOKEN",
            "api_key",
            "DATABASE_PASSWORD",
            "secret_MESSAGE",
            "AUTH",
            "apikey",
        ] {
            assert!(looks_secret(name), "{name}");
        }
        for name in [
            "PUBLIC_KEY",
            "KEY_FILE",
            "TOKEN_VERSION",
            "MONKEY",
            "TOKENS",
            "HOME",
            "AUTHOR",
        ] {
            assert!(!looks_secret(name), "{name}");
        }
    }
}
