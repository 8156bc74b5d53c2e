//! The conformance suite, unchanged, against this reference app.

#![allow(clippy::unwrap_used, clippy::expect_used)]

auth_conformance::conformance_suite!(env!("CARGO_BIN_EXE_reference-warp"));
