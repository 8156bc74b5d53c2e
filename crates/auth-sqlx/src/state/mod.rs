//! The seven state traits of `auth-core` on SQL. The same statements run on Postgres and
//! SQLite (`$N` placeholders, `INSERT … ON CONFLICT … DO UPDATE … RETURNING`, `CASE`
//! rather than `GREATEST`/`MAX(a, b)`).
//!
//! One submodule per trait; this module holds the column access both backends' rows
//! share and the retry of transactions.

/// Attempts of a transaction that hit a deadlock, a serialization failure or a busy
/// database before the error is returned.
pub(crate) const TX_ATTEMPTS: u32 = 5;

/// Runs `$attempt` (a `Result<T, sqlx::Error>` expression) again while it fails with a
/// transient error, at most `TX_ATTEMPTS` times.
macro_rules! retrying {
    ($attempt:expr) => {{
        let mut tries = 0;
        loop {
            tries += 1;
            match $attempt {
                Err(e) if tries < $crate::state::TX_ATTEMPTS && $crate::transient(&e) => {
                    tokio::time::sleep(::std::time::Duration::from_millis(5 * u64::from(tries)))
                        .await;
                }
                other => break other,
            }
        }
    }};
}

mod counters;
mod factors;
mod families;
mod links;
mod passkeys;
mod revocations;
mod sessions;

use sqlx::Row as _;

/// Column access shared by both backends' rows.
pub(crate) trait RowExt {
    fn int(&self, i: usize) -> Result<i64, sqlx::Error>;
    fn text(&self, i: usize) -> Result<String, sqlx::Error>;
    fn opt_text(&self, i: usize) -> Result<Option<String>, sqlx::Error>;
    fn opt_int(&self, i: usize) -> Result<Option<i64>, sqlx::Error>;
}

macro_rules! row_ext_for {
    ($row:ty) => {
        impl RowExt for $row {
            fn int(&self, i: usize) -> Result<i64, sqlx::Error> {
                self.try_get(i)
            }
            fn text(&self, i: usize) -> Result<String, sqlx::Error> {
                self.try_get(i)
            }
            fn opt_text(&self, i: usize) -> Result<Option<String>, sqlx::Error> {
                self.try_get(i)
            }
            fn opt_int(&self, i: usize) -> Result<Option<i64>, sqlx::Error> {
                self.try_get(i)
            }
        }
    };
}
#[cfg(feature = "postgres")]
row_ext_for!(sqlx::postgres::PgRow);
#[cfg(feature = "sqlite")]
row_ext_for!(sqlx::sqlite::SqliteRow);
