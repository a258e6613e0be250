//! `WWW-Authenticate` headers from a registry: parsing never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(header) = std::str::from_utf8(data) {
        let _ = rbuild_registry::auth::challenge::parse(header);
    }
});
