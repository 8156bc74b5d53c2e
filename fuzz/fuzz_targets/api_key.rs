//! Fuzz target `api_key`: see `auth_fuzz::api_key`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| auth_fuzz::api_key(data));
