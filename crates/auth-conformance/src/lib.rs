//! # auth-conformance
//!
//! The framework-neutral HTTP scenarios that every adapter's reference app must pass
//! unchanged (see `CONTRACT.md`). Scenarios drive a running app over real HTTP.
//!
//! **Status:** not built yet (tracked by issue #7, which lands the first reference app).
//! Today it holds the one fact every scenario starts from: the line a reference app prints
//! once it accepts connections.
//!
//! ```
//! assert_eq!(
//!     auth_conformance::parse_listening_line("listening on http://127.0.0.1:40123"),
//!     Some("127.0.0.1:40123")
//! );
//! ```

/// The address in a reference app's `listening on http://HOST:PORT` start-up line.
pub fn parse_listening_line(line: &str) -> Option<&str> {
    let addr = line.trim().strip_prefix("listening on http://")?;
    (!addr.is_empty() && addr.contains(':')).then_some(addr)
}

#[cfg(test)]
mod tests {
    use super::parse_listening_line;

    #[test]
    fn parses_only_the_contract_line() {
        assert_eq!(
            parse_listening_line("listening on http://[::1]:8000\n"),
            Some("[::1]:8000")
        );
        assert_eq!(parse_listening_line("listening on https://x:1"), None);
        assert_eq!(parse_listening_line("listening on http://"), None);
        assert_eq!(parse_listening_line("started"), None);
    }
}
