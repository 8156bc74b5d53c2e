//! [`SecondFactors`] in memory: enrolments, recovery digests and challenges under one
//! lock, so each check-and-change is one step.

use std::collections::{HashMap, HashSet};

use async_trait::async_trait;

use super::{Expiring, MemoryStore, lock};
use crate::error::StoreError;
use crate::store::{SecondFactors, TotpEnrolment};

/// The second factor's state.
#[derive(Debug, Default)]
pub(super) struct FactorState {
    totp: HashMap<String, TotpEnrolment>,
    recovery: HashMap<String, HashSet<String>>,
    /// Live challenges: key -> (user id, failures).
    challenges: Expiring<(String, u32)>,
}

impl FactorState {
    /// Drops expired challenges (enrolments and recovery codes do not expire).
    pub(super) fn sweep(&mut self, now: u64) {
        self.challenges.sweep(now);
    }
}

#[async_trait]
impl SecondFactors for MemoryStore {
    async fn begin_totp(&self, user_id: &str, sealed: &str) -> Result<bool, StoreError> {
        let mut state = lock(&self.factors);
        if state.totp.get(user_id).is_some_and(|e| e.active) {
            return Ok(false);
        }
        let pending = TotpEnrolment {
            sealed: sealed.to_owned(),
            active: false,
            last_step: 0,
        };
        state.totp.insert(user_id.to_owned(), pending);
        Ok(true)
    }

    async fn totp(&self, user_id: &str) -> Result<Option<TotpEnrolment>, StoreError> {
        Ok(lock(&self.factors).totp.get(user_id).cloned())
    }

    async fn activate_totp(
        &self,
        user_id: &str,
        step: u64,
        recovery_digests: &[String],
    ) -> Result<bool, StoreError> {
        let mut state = lock(&self.factors);
        let Some(enrolment) = state.totp.get_mut(user_id).filter(|e| !e.active) else {
            return Ok(false);
        };
        enrolment.active = true;
        enrolment.last_step = step;
        let digests = recovery_digests.iter().cloned().collect();
        state.recovery.insert(user_id.to_owned(), digests);
        Ok(true)
    }

    async fn use_totp_step(&self, user_id: &str, step: u64) -> Result<bool, StoreError> {
        let mut state = lock(&self.factors);
        match state.totp.get_mut(user_id) {
            Some(enrolment) if enrolment.active && step > enrolment.last_step => {
                enrolment.last_step = step;
                Ok(true)
            }
            _ => Ok(false),
        }
    }

    async fn spend_recovery_code(&self, user_id: &str, digest: &str) -> Result<bool, StoreError> {
        let mut state = lock(&self.factors);
        Ok(state
            .recovery
            .get_mut(user_id)
            .is_some_and(|digests| digests.remove(digest)))
    }

    async fn recovery_codes_left(&self, user_id: &str) -> Result<usize, StoreError> {
        Ok(lock(&self.factors)
            .recovery
            .get(user_id)
            .map_or(0, HashSet::len))
    }

    async fn remove_totp(&self, user_id: &str) -> Result<bool, StoreError> {
        let mut state = lock(&self.factors);
        state.recovery.remove(user_id);
        Ok(state.totp.remove(user_id).is_some())
    }

    async fn start_challenge(
        &self,
        key: &str,
        user_id: &str,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        let now = self.now();
        let mut state = lock(&self.factors);
        state.challenges.note_write(now);
        state
            .challenges
            .insert(key.to_owned(), (user_id.to_owned(), 0), expires_at);
        Ok(())
    }

    async fn challenge_user(&self, key: &str) -> Result<Option<String>, StoreError> {
        let now = self.now();
        let state = lock(&self.factors);
        Ok(state.challenges.get(key, now).map(|(user, _)| user.clone()))
    }

    async fn fail_challenge(&self, key: &str, max_failures: u32) -> Result<bool, StoreError> {
        let now = self.now();
        let mut state = lock(&self.factors);
        let Some(((_, failures), _)) = state.challenges.get_mut(key, now) else {
            return Ok(false);
        };
        *failures += 1;
        if *failures >= max_failures {
            state.challenges.map.remove(key);
            return Ok(false);
        }
        Ok(true)
    }

    async fn finish_challenge(&self, key: &str) -> Result<Option<String>, StoreError> {
        let now = self.now();
        let mut state = lock(&self.factors);
        let live = state.challenges.get(key, now).is_some();
        let spent = state.challenges.map.remove(key);
        Ok(spent.filter(|_| live).map(|((user, _), _)| user))
    }
}
