//! `.dockerignore` files: the first line is a path, the rest the file; parsing, compiling and
//! matching never panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rbuild_context::ignore::{go_clean, parse_ignore_file, Matcher};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (path, file) = text.split_once('\n').unwrap_or((text, ""));
    let patterns = parse_ignore_file(file);
    let _ = go_clean(path);
    if let Ok(m) = Matcher::new(&patterns) {
        let _ = m.excluded(path);
        let _ = m.may_include_under(path);
    }
});
