//! Fuzz target `token_verify`: see `auth_fuzz::token_verify`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auth_fuzz::token_verify(data));
