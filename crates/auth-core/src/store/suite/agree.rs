//! The per-request reads through both doors: every scenario's revocation check and
//! session read asks the store's answer without waiting (`check_now`,
//! `check_listed_now`, `load_session_now`) as well, and fails when a store gives one
//! that differs.

use std::fmt::Debug;
use std::sync::Arc;

use crate::error::StoreError;
use crate::store::{SessionRecord, StateStore, TokenRef, TokenStatus};

/// `s.check(t)`, and `s.check_now(t)` when the store answers at once: both must agree.
pub(super) async fn checked(s: &Arc<dyn StateStore>, t: &TokenRef<'_>) -> TokenStatus {
    agreeing(s.check_now(t), s.check(t).await, "check")
}

/// `s.check_listed(t)`, and `s.check_listed_now(t)` when the store answers at once: both
/// must agree.
pub(super) async fn listed(s: &Arc<dyn StateStore>, t: &TokenRef<'_>) -> TokenStatus {
    agreeing(
        s.check_listed_now(t),
        s.check_listed(t).await,
        "check_listed",
    )
}

/// `s.load_session(key)`, and `s.load_session_now(key)` when the store answers at once:
/// both must agree.
pub(super) async fn loaded(s: &Arc<dyn StateStore>, key: &str) -> Option<SessionRecord> {
    agreeing(
        s.load_session_now(key),
        s.load_session(key).await,
        "load_session",
    )
}

/// The awaited answer of `door`, once the in-place one (when the store gave one) is
/// found equal to it.
fn agreeing<T: PartialEq + Debug>(
    now: Option<Result<T, StoreError>>,
    awaited: Result<T, StoreError>,
    door: &str,
) -> T {
    let now = now.map(|r| r.unwrap_or_else(|e| panic!("{door}_now: {e}")));
    let awaited = awaited.unwrap_or_else(|e| panic!("{door}: {e}"));
    if let Some(now) = now {
        assert_eq!(now, awaited, "{door}_now and {door} disagree");
    }
    awaited
}
