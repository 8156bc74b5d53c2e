//! [`Counters`] on Redis: the login-throttle counters, checked and counted in one
//! script.

use std::time::Duration;

use async_trait::async_trait;
use auth_core::StoreError;
use auth_core::store::{Admission, Counter, Counters, Limit};
use redis::AsyncCommands as _;

use crate::RedisStore;
use crate::conn::err;

#[async_trait]
impl Counters for RedisStore {
    async fn get(&self, key: &str) -> Result<Option<Counter>, StoreError> {
        let mut c = self.conn.clone();
        let v: Option<Vec<i64>> = self
            .scripts
            .get_counter
            .key(self.counter_key(key))
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("counter", e))?;
        Ok(v.and_then(|v| counter(&v, 1)))
    }

    async fn increment(&self, key: &str, window: Duration) -> Result<Counter, StoreError> {
        let mut c = self.conn.clone();
        let now = self.now();
        let v: Vec<i64> = self
            .scripts
            .increment
            .key(self.counter_key(key))
            .arg(now)
            .arg(window.as_millis().max(1000) as u64)
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("increment", e))?;
        let count = v.first().copied().unwrap_or(1).max(0) as u64;
        let expires_ms = v.get(1).copied().unwrap_or(0).max(0) as u64;
        Ok(Counter {
            count,
            last: now,
            expires_at: expires_ms.div_ceil(1000),
        })
    }

    async fn reset(&self, key: &str) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        c.del::<_, ()>(self.counter_key(key))
            .await
            .map_err(|e| err("reset", e))
    }

    async fn reserve(
        &self,
        key: &str,
        window: Duration,
        limit: &Limit,
    ) -> Result<Admission, StoreError> {
        let mut c = self.conn.clone();
        let now = self.now();
        let v: Vec<i64> = self
            .scripts
            .reserve
            .key(self.counter_key(key))
            .arg(now)
            .arg(window.as_millis().max(1000) as u64)
            .arg(limit.max)
            .arg(limit.backoff)
            .arg(limit.backoff_max)
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("reserve", e))?;
        match v.as_slice() {
            [0, wait] => Ok(Admission::Refused {
                retry_after_secs: (*wait).max(1) as u64,
            }),
            [1, count, expires_ms] => Ok(Admission::Admitted(Counter {
                count: (*count).max(0) as u64,
                last: now,
                expires_at: ((*expires_ms).max(0) as u64).div_ceil(1000),
            })),
            _ => Err(StoreError::new("reserve: unexpected answer from Redis")),
        }
    }

    async fn release(&self, key: &str) -> Result<(), StoreError> {
        let mut c = self.conn.clone();
        let _: i64 = self
            .scripts
            .release
            .key(self.counter_key(key))
            .invoke_async(&mut c)
            .await
            .map_err(|e| err("release", e))?;
        Ok(())
    }
}

fn counter(v: &[i64], _: u8) -> Option<Counter> {
    let (count, last, exp) = (*v.first()?, *v.get(1)?, *v.get(2)?);
    (count > 0 && exp > 0).then(|| Counter {
        count: count as u64,
        last: last.max(0) as u64,
        expires_at: (exp as u64).div_ceil(1000),
    })
}
