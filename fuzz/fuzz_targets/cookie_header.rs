//! Fuzz target `cookie_header`: see `auth_fuzz::cookie_header`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auth_fuzz::cookie_header(data));
