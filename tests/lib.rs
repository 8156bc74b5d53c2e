//! Workspace-level integration tests live in this package's test targets
//! (`tests/invariants.rs`); the library is empty.
