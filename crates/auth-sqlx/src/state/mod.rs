//! The five state traits of `auth-core` on SQL. The same statements run on Postgres and
//! SQLite (`$N` placeholders, `INSERT … ON CONFLICT … DO UPDATE … RETURNING`, `CASE`
//! rather than `GREATEST`/`MAX(a, b)`).
//!
//! One submodule per trait; this module holds the column access both backends' rows
//! share.

mod counters;
mod families;
mod links;
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
