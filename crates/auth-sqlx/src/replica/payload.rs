//! What a revocation write tells the replicas: one small JSON object per notification
//! (`k`: `t` token, `f` family, `u` user cut-off, `h` heartbeat, `r` reload), sent with
//! `pg_notify` in the writer's transaction, and its parsing on the listener's side.

use serde_json::{Value, json};

/// The channel, computed by the writer's own session: one per schema, so a replica hears
/// exactly the writes to the tables it reads (a channel name is at most 63 bytes: this
/// one is 49).
pub(crate) const CHANNEL_SQL: &str = "'auth_revocations_' || md5(current_schema())";

/// Postgres refuses a payload of 8000 bytes or more.
const MAX_PAYLOAD: usize = 7999;

/// "Something changed that did not fit in a notification: load a new snapshot".
const RELOAD: &str = r#"{"k":"r"}"#;

/// A payload too large for `pg_notify` becomes a request to reload.
pub(crate) fn oversized_to_reload(payload: String) -> String {
    if payload.len() > MAX_PAYLOAD {
        RELOAD.to_string()
    } else {
        payload
    }
}

/// A blocked `jti` (`iss`, `jti`) until `exp`.
pub(crate) fn token_payload(iss: &str, jti: &str, exp: i64) -> String {
    oversized_to_reload(json!({"k": "t", "i": iss, "j": jti, "e": exp}).to_string())
}

/// A revoked family until `until`.
pub(crate) fn family_payload(sid: &str, until: i64) -> String {
    oversized_to_reload(json!({"k": "f", "s": sid, "e": until}).to_string())
}

/// A user's cut-off (tokens issued before `cut` are refused) until `until`.
pub(crate) fn cutoff_payload(sub: &str, cut: i64, until: i64) -> String {
    oversized_to_reload(json!({"k": "u", "s": sub, "a": cut, "e": until}).to_string())
}

/// Heartbeat `seq` of replica `instance`.
pub(crate) fn heartbeat_payload(instance: &str, seq: u64) -> String {
    json!({"k": "h", "n": instance, "q": seq}).to_string()
}

/// One notification, decoded.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Event {
    Token {
        iss: String,
        jti: String,
        until: i64,
    },
    Family {
        sid: String,
        until: i64,
    },
    User {
        sub: String,
        cut: i64,
        until: i64,
    },
    Beat {
        instance: String,
        seq: u64,
    },
    Reload,
}

/// Decodes a payload; `None` for one this version does not know (the listener then
/// reloads rather than miss what it may have meant).
pub(crate) fn parse(payload: &str) -> Option<Event> {
    let v: Value = serde_json::from_str(payload).ok()?;
    let text = |f: &str| v.get(f).and_then(Value::as_str).map(str::to_string);
    let num = |f: &str| v.get(f).and_then(Value::as_i64);
    Some(match v.get("k").and_then(Value::as_str)? {
        "t" => Event::Token {
            iss: text("i")?,
            jti: text("j")?,
            until: num("e")?,
        },
        "f" => Event::Family {
            sid: text("s")?,
            until: num("e")?,
        },
        "u" => Event::User {
            sub: text("s")?,
            cut: num("a")?,
            until: num("e")?,
        },
        "h" => Event::Beat {
            instance: text("n")?,
            seq: v.get("q").and_then(Value::as_u64)?,
        },
        "r" => Event::Reload,
        _ => return None,
    })
}

/// A connection a revocation transaction can notify the replicas on: Postgres sends,
/// SQLite (no replicas) does nothing.
pub(crate) trait Notify {
    /// Sends each payload on the schema's channel, delivered when the transaction commits.
    fn send(
        &mut self,
        payloads: Vec<String>,
    ) -> impl std::future::Future<Output = Result<(), sqlx::Error>> + Send;
}

#[cfg(feature = "postgres")]
impl Notify for sqlx::PgConnection {
    async fn send(&mut self, payloads: Vec<String>) -> Result<(), sqlx::Error> {
        if payloads.is_empty() {
            return Ok(());
        }
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "SELECT count(pg_notify({CHANNEL_SQL}, p)) FROM unnest($1::text[]) AS p"
        )))
        .bind(payloads)
        .execute(self)
        .await
        .map(|_| ())
    }
}

#[cfg(feature = "sqlite")]
impl Notify for sqlx::SqliteConnection {
    async fn send(&mut self, _payloads: Vec<String>) -> Result<(), sqlx::Error> {
        Ok(())
    }
}

/// `conn.send(payloads)`, for the transactions of `with_tx!` (whichever backend).
pub(crate) async fn notify<C: Notify>(
    conn: &mut C,
    payloads: Vec<String>,
) -> Result<(), sqlx::Error> {
    conn.send(payloads).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payloads_round_trip() {
        assert_eq!(
            parse(&token_payload("https://i/", "j:1", 5)),
            Some(Event::Token {
                iss: "https://i/".into(),
                jti: "j:1".into(),
                until: 5
            })
        );
        assert_eq!(
            parse(&cutoff_payload("ü", 3, 9)),
            Some(Event::User {
                sub: "ü".into(),
                cut: 3,
                until: 9
            })
        );
        assert_eq!(
            parse(&heartbeat_payload("a", 7)),
            Some(Event::Beat {
                instance: "a".into(),
                seq: 7
            })
        );
    }

    #[test]
    fn an_oversized_payload_asks_for_a_reload() {
        let long = "x".repeat(9000);
        assert_eq!(parse(&token_payload("i", &long, 1)), Some(Event::Reload));
        assert!(parse(&family_payload("s", 1)).is_some());
    }
}
