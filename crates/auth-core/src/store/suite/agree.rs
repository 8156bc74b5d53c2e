//! The per-request reads through both doors: every scenario's revocation check and
//! session read asks the store's answer without waiting (`check_now`,
//! `load_session_now`) as well, and fails when a store gives one that differs.

use std::sync::Arc;

use crate::store::{SessionRecord, StateStore, TokenRef, TokenStatus};

/// `s.check(t)`, and `s.check_now(t)` when the store answers at once: both must agree.
pub(super) async fn checked(s: &Arc<dyn StateStore>, t: &TokenRef<'_>) -> TokenStatus {
    let now = s.check_now(t).map(|r| r.expect("check_now"));
    let status = s.check(t).await.expect("check");
    if let Some(now) = now {
        assert_eq!(now, status, "check_now and check disagree");
    }
    status
}

/// `s.load_session(key)`, and `s.load_session_now(key)` when the store answers at once:
/// both must agree.
pub(super) async fn loaded(s: &Arc<dyn StateStore>, key: &str) -> Option<SessionRecord> {
    let now = s
        .load_session_now(key)
        .map(|r| r.expect("load_session_now"));
    let record = s.load_session(key).await.expect("load_session");
    if let Some(now) = now {
        assert_eq!(now, record, "load_session_now and load_session disagree");
    }
    record
}
