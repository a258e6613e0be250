//! Word splitting that happens while expanding: unquoted whitespace (literal or from a
//! variable's value) separates words, quoted text never does.

#[derive(Default)]
pub(crate) struct Words {
    word: String,
    words: Vec<String>,
    in_word: bool,
}

impl Words {
    /// An unquoted character: whitespace ends the current word.
    pub fn add_char(&mut self, ch: char) {
        if ch.is_whitespace() {
            if self.in_word && !self.word.is_empty() {
                self.words.push(std::mem::take(&mut self.word));
                self.in_word = false;
            }
        } else {
            self.add_raw_char(ch);
        }
    }

    /// A character that never splits (escaped or quoted).
    pub fn add_raw_char(&mut self, ch: char) {
        self.word.push(ch);
        self.in_word = true;
    }

    /// The value of a variable: split like unquoted text.
    pub fn add_string(&mut self, s: &str) {
        s.chars().for_each(|c| self.add_char(c));
    }

    /// Quoted text: kept whole.
    pub fn add_raw_string(&mut self, s: &str) {
        self.word.push_str(s);
        self.in_word = true;
    }

    /// The finished list; an empty trailing word (e.g. from `""`) is dropped, as BuildKit does.
    pub fn finish(mut self) -> Vec<String> {
        if !self.word.is_empty() {
            self.words.push(self.word);
        }
        self.words
    }
}
