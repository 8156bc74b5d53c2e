//! Fuzz target `token_header`: see `auth_fuzz::token_header`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auth_fuzz::token_header(data));
