//! The session suite (fixation, timeouts, sliding expiry, logout, CSRF) on a real Redis.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // a test fails by panicking

mod common;

use std::sync::Arc;

use auth_core::store::StateStore;

auth_core::session_suite!(async {
    Arc::new(common::connect(&common::unique_namespace("sessions")).await) as Arc<dyn StateStore>
});
