//! Fuzz target `token_form`: see `auth_fuzz::token_form`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auth_fuzz::token_form(data));
