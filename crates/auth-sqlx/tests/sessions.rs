//! The session suite (fixation, timeouts, sliding expiry, logout, CSRF) on a real
//! Postgres database and a real SQLite file.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)] // a test fails by panicking

mod common;

use std::sync::Arc;

use auth_core::clock::SystemClock;
use auth_core::store::StateStore;

mod postgres {
    use super::*;
    auth_core::session_suite!(async {
        let url = common::fresh_postgres().await;
        Arc::new(common::store(&url, Arc::new(SystemClock)).await) as Arc<dyn StateStore>
    });
}

mod sqlite {
    use super::*;
    auth_core::session_suite!(async {
        let url = common::fresh_sqlite();
        Arc::new(common::store(&url, Arc::new(SystemClock)).await) as Arc<dyn StateStore>
    });
}
