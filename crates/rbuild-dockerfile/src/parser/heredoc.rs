//! Heredoc markers (`<<EOF`, `<<-EOF`, `<<"EOF"`) on RUN/COPY/ADD lines.

use crate::shell::{EmptyEnv, Lexer};

/// A heredoc as the parser sees it: the body is raw (tabs not yet stripped for `<<-`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RawHeredoc {
    /// The delimiter word, quotes removed.
    pub name: String,
    /// Body lines, each followed by `\n`.
    pub content: String,
    /// False when (part of) the delimiter was quoted: the body is then not expanded.
    pub expand: bool,
    /// `<<-`: leading tabs are stripped from body lines and from the terminator.
    pub chomp: bool,
    /// File descriptor prefix (`3<<EOF`), 0 when absent.
    pub fd: u32,
}

/// A heredoc marker found in one word; `content` is still empty.
pub fn parse_heredoc_word(word: &str) -> Option<RawHeredoc> {
    let digits = word.len() - word.trim_start_matches(|c: char| c.is_ascii_digit()).len();
    let rest = word[digits..].strip_prefix("<<")?;
    let (chomp, rest) = match rest.strip_prefix('-') {
        Some(r) => (true, r),
        None => (false, rest),
    };
    if rest.is_empty() || rest.contains('<') {
        return None;
    }
    let fd = word[..digits].parse().unwrap_or(0);
    let lexer = Lexer {
        skip_unset: true,
        ..Lexer::new('\\')
    };
    let words = lexer.expand_words(rest, &EmptyEnv).ok()?;
    let [name] = words.as_slice() else {
        return None;
    };
    let raw = Lexer {
        raw_quotes: true,
        ..lexer
    };
    let raw_words = raw.expand_words(rest, &EmptyEnv).ok()?;
    let quotes = |s: &str| s.chars().filter(|c| *c == '\'' || *c == '"').count();
    let expand = raw_words.len() == 1 && quotes(name) == quotes(&raw_words[0]);
    Some(RawHeredoc {
        name: name.clone(),
        content: String::new(),
        expand,
        chomp,
        fd,
    })
}

/// All heredoc markers on a logical line, in order.
pub(crate) fn from_line(line: &str) -> Vec<RawHeredoc> {
    let lexer = Lexer {
        raw_quotes: true,
        raw_escapes: true,
        skip_unset: true,
        ..Lexer::new('\\')
    };
    let words = lexer.expand_words(line, &EmptyEnv).unwrap_or_default();
    words.iter().filter_map(|w| parse_heredoc_word(w)).collect()
}

/// Removes leading tabs from every line (the `<<-` form).
pub(crate) fn chomp(content: &str) -> String {
    content
        .split_inclusive('\n')
        .map(|l| l.trim_start_matches('\t'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn markers() {
        let h = from_line("RUN cat <<EOF >x && cat <<-'E2' 2<<\"E3\"");
        let names: Vec<_> = h
            .iter()
            .map(|h| (h.name.as_str(), h.expand, h.chomp, h.fd))
            .collect();
        assert_eq!(
            names,
            vec![
                ("EOF", true, false, 0),
                ("E2", false, true, 0),
                ("E3", false, false, 2)
            ]
        );
        assert!(from_line("RUN echo a<<b").is_empty());
        assert!(from_line("RUN echo <<").is_empty());
        assert!(from_line("RUN echo '<<EOF'").is_empty());
        assert_eq!(from_line("RUN cat <<$END")[0].name, "$END");
    }

    #[test]
    fn chomping() {
        assert_eq!(chomp("\t\ta\n\tb\n"), "a\nb\n");
    }
}
