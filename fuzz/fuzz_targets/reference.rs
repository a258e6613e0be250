//! Image references (`FROM`, `-t`, `rbuild pull`): parsing never panics, and what parses prints
//! back to something that parses to the same reference.
#![no_main]

use libfuzzer_sys::fuzz_target;
use rbuild_oci::Reference;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(r) = Reference::parse(text) {
        let again = Reference::parse(&r.to_string()).expect("a printed reference parses");
        assert_eq!(again, r, "{text:?} printed as {r}");
    }
    let _ = Reference::parse_tag(text);
    let _ = rbuild_oci::platform::parse(text);
});
