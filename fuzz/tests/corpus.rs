//! Replays the committed fuzz corpus (`fuzz/corpus/TARGET/`) through each target's body
//! in the normal test run, so every input the fuzzer kept stays a regression test.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::string_slice
)] // a test fails by panicking

use std::path::Path;

fn replay(target: &str, run: fn(&[u8])) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("corpus")
        .join(target);
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display())) {
        let path = entry.unwrap().path();
        run(&std::fs::read(&path).unwrap());
        n += 1;
    }
    assert!(n > 0, "the corpus of {target} is empty");
}

#[test]
fn bearer_header_corpus() {
    replay("bearer_header", auth_fuzz::bearer_header);
}

#[test]
fn token_verify_corpus() {
    replay("token_verify", auth_fuzz::token_verify);
    // The fixture's own token verifies, so the target's accept path is exercised too.
    auth_fuzz::token_verify(auth_fuzz::valid_token().as_bytes());
}

#[test]
fn token_header_corpus() {
    replay("token_header", auth_fuzz::token_header);
}

#[test]
fn cookie_header_corpus() {
    replay("cookie_header", auth_fuzz::cookie_header);
}

#[test]
fn token_form_corpus() {
    replay("token_form", auth_fuzz::token_form);
}

#[test]
fn api_key_corpus() {
    replay("api_key", auth_fuzz::api_key);
}
