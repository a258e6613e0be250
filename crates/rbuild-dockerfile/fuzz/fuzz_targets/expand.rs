//! The shell lexer on arbitrary words, with both escape characters: must never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rbuild_dockerfile::Lexer;

fuzz_target!(|data: &[u8]| {
    let Ok(word) = std::str::from_utf8(data) else { return };
    let env = vec![
        ("A".to_string(), "a b/c.d*e".to_string()),
        ("B".to_string(), String::new()),
        ("LONG".to_string(), "x".repeat(64)),
    ];
    for esc in ['\\', '`'] {
        let l = Lexer::new(esc);
        let _ = l.expand_word(word, &env);
        let _ = l.expand_words(word, &env);
        let _ = l.expand_word_with_matches(word, &env);
    }
});
