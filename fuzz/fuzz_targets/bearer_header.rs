//! Fuzz target `bearer_header`: see `auth_fuzz::bearer_header`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auth_fuzz::bearer_header(data));
