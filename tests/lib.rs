//! Workspace-level integration tests live in this package's test targets
//! (`tests/invariants.rs`). The library hosts the README's examples as doctests, because
//! this package can depend on every crate they use.

/// The README's examples, compiled and run as doctests so they cannot drift.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
