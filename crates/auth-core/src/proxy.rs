//! Trusted proxies: which address a request really comes from when it passes through a
//! load balancer or reverse proxy.
//!
//! Behind a proxy every request's socket peer is the proxy, so a per-address login
//! throttle would lock everyone out at once. [`TrustedProxies`] names the proxies (CIDR
//! blocks); only when the socket peer is one of them is the forwarding header read, and
//! the client is its **rightmost** address that is not itself a trusted proxy: entries
//! further left were written by the client and can say anything. A request from any
//! other peer is its own client, whatever headers it sends.
//!
//! One header is read, the one the proxies write: `X-Forwarded-For` (nginx, HAProxy,
//! cloud load balancers), or RFC 7239 `Forwarded: for=` after
//! [`TrustedProxies::with_forwarded`]. The other is the client's to write and is never
//! consulted (a proxy that appends to one passes the other through untouched). The
//! header is read from the right, so neither padding nor a malformed entry further left
//! can hide the address the proxy appended.
//!
//! ```
//! use auth_core::adapter::SimpleRequest;
//! use auth_core::proxy::TrustedProxies;
//!
//! let proxies = TrustedProxies::parse("10.0.0.0/8, 2001:db8:ffff::/48")?;
//! let via_proxy = SimpleRequest::new()
//!     .with_peer("10.0.0.2".parse().unwrap())
//!     .header("x-forwarded-for", "198.51.100.7, 203.0.113.9, 10.0.0.3");
//! // 203.0.113.9 is the rightmost address no trusted proxy claims.
//! assert_eq!(proxies.client_addr(&via_proxy), "203.0.113.9".parse().ok());
//! let direct = SimpleRequest::new()
//!     .with_peer("192.0.2.1".parse().unwrap())
//!     .header("x-forwarded-for", "203.0.113.9");
//! assert_eq!(proxies.client_addr(&direct), "192.0.2.1".parse().ok());
//! # Ok::<(), auth_core::ConfigError>(())
//! ```

use std::net::IpAddr;

use ipnet::IpNet;

use crate::error::ConfigError;
use crate::request::Request;

/// The proxies whose forwarding headers are believed (see the [module docs](self)).
/// Empty (the default) believes none: the client is always the socket peer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
    /// Read `Forwarded` (RFC 7239) instead of `X-Forwarded-For`.
    forwarded: bool,
}

/// Forwarded entries examined, from the right: more hops than this are not a real chain.
const MAX_HOPS: usize = 32;

impl TrustedProxies {
    /// Trusts these blocks (their `X-Forwarded-For`).
    pub fn new(nets: Vec<IpNet>) -> Self {
        Self {
            nets,
            forwarded: false,
        }
    }

    /// Reads the proxies' RFC 7239 `Forwarded: for=` header instead of
    /// `X-Forwarded-For` (then `X-Forwarded-For` is the client's and is ignored).
    #[must_use]
    pub fn with_forwarded(mut self) -> Self {
        self.forwarded = true;
        self
    }

    /// Parses a comma list of CIDR blocks or single addresses (`10.0.0.0/8, ::1`), as
    /// `AUTH_TRUSTED_PROXIES` gives them.
    pub fn parse(list: &str) -> Result<Self, ConfigError> {
        let nets = list
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(|s| {
                s.parse::<IpNet>()
                    .or_else(|_| s.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| ConfigError::Invalid {
                        setting: "trusted proxies",
                        reason: format!(
                            "`{}` is not a CIDR block or an IP address (e.g. 10.0.0.0/8, 192.0.2.10, fd00::/8)",
                            s.chars().take(64).collect::<String>()
                        ),
                    })
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(nets))
    }

    /// Whether no proxy is trusted.
    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    /// Whether `addr` is a trusted proxy.
    pub fn trusts(&self, addr: IpAddr) -> bool {
        let addr = canonical(addr);
        self.nets.iter().any(|n| n.contains(&addr))
    }

    /// The client's address: the socket peer, unless the peer is a trusted proxy; then
    /// the rightmost forwarded address that is not a trusted proxy (or, when every
    /// forwarded address is one, the leftmost). A malformed forwarded entry ends the
    /// walk: the hop that forwarded it is the client. `None` without a peer address.
    pub fn client_addr(&self, request: &impl Request) -> Option<IpAddr> {
        let peer = canonical(request.peer_addr()?);
        if !self.trusts(peer) {
            return Some(peer);
        }
        let chain = if self.forwarded {
            forwarded_for(request)
        } else {
            x_forwarded_for(request)
        };
        let mut client = peer;
        for entry in chain.iter().rev().take(MAX_HOPS) {
            match entry {
                Some(addr) => {
                    client = canonical(*addr);
                    if !self.trusts(client) {
                        return Some(client);
                    }
                }
                None => return Some(client),
            }
        }
        Some(client)
    }
}

/// IPv4-mapped IPv6 addresses (`::ffff:192.0.2.1`) as the IPv4 address they are.
fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        v4 => v4,
    }
}

/// The last [`MAX_HOPS`] comma-separated entries of every value of `name` (repeated
/// headers are one list, RFC 9110 §5.3), in order. Bytes that are not UTF-8 become
/// U+FFFD: an entry holding one is malformed, the entries right of it are intact.
fn entries(request: &impl Request, name: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in request.header_values(name) {
        let text = String::from_utf8_lossy(value);
        out.extend(text.split(',').map(|e| e.trim().to_owned()));
        if out.len() > 4 * MAX_HOPS {
            out.drain(..out.len() - MAX_HOPS);
        }
    }
    let keep = out.len().saturating_sub(MAX_HOPS);
    out.split_off(keep)
}

/// `X-Forwarded-For`: one address per entry (`None` for a malformed one).
fn x_forwarded_for(request: &impl Request) -> Vec<Option<IpAddr>> {
    entries(request, "x-forwarded-for")
        .iter()
        .map(|e| parse_node(e))
        .collect()
}

/// `Forwarded` (RFC 7239): the `for=` of each element (`None` for a malformed or
/// obfuscated one, such as `for=unknown` or `for=_hidden`).
fn forwarded_for(request: &impl Request) -> Vec<Option<IpAddr>> {
    entries(request, "forwarded")
        .iter()
        .map(|element| {
            element
                .split(';')
                .filter_map(|pair| pair.split_once('='))
                .find(|(k, _)| k.trim().eq_ignore_ascii_case("for"))
                .and_then(|(_, v)| parse_node(v.trim().trim_matches('"')))
        })
        .collect()
}

/// An address as forwarding headers write it: `192.0.2.1`, `192.0.2.1:4711`,
/// `2001:db8::1`, `[2001:db8::1]` or `[2001:db8::1]:4711`.
fn parse_node(node: &str) -> Option<IpAddr> {
    if let Ok(addr) = node.parse::<IpAddr>() {
        return Some(addr);
    }
    if let Some(rest) = node.strip_prefix('[') {
        let (inside, _) = rest.split_once(']')?;
        return inside.parse().ok();
    }
    let (host, port) = node.rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    host.parse::<std::net::Ipv4Addr>().ok().map(IpAddr::V4)
}

/// The key one client is counted under by per-address limits: the address itself for
/// IPv4, its /64 network for IPv6 (one subscriber gets a whole /64 and can pick any
/// address in it).
pub fn throttle_key(addr: IpAddr) -> String {
    match canonical(addr) {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapter::SimpleRequest;

    fn from(peer: &str) -> SimpleRequest {
        SimpleRequest::new().with_peer(peer.parse().unwrap())
    }

    fn ip(s: &str) -> Option<IpAddr> {
        s.parse().ok()
    }

    #[test]
    fn headers_are_read_only_from_a_trusted_peer() {
        let p = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let spoofed = from("192.0.2.1").header("x-forwarded-for", "203.0.113.9");
        assert_eq!(p.client_addr(&spoofed), ip("192.0.2.1"));
        assert_eq!(
            TrustedProxies::default()
                .client_addr(&from("10.0.0.1").header("x-forwarded-for", "203.0.113.9")),
            ip("10.0.0.1")
        );
    }

    #[test]
    fn the_rightmost_untrusted_entry_is_the_client() {
        let p = TrustedProxies::parse("10.0.0.0/8, 172.16.0.1").unwrap();
        let r = from("10.0.0.2")
            .header("x-forwarded-for", "1.1.1.1, 198.51.100.7")
            .header("x-forwarded-for", "172.16.0.1, 10.1.1.1");
        assert_eq!(p.client_addr(&r), ip("198.51.100.7"));
        // Every entry trusted: the leftmost.
        let r = from("10.0.0.2").header("x-forwarded-for", "10.9.9.9, 10.0.0.5");
        assert_eq!(p.client_addr(&r), ip("10.9.9.9"));
        // No header: the proxy itself.
        assert_eq!(p.client_addr(&from("10.0.0.2")), ip("10.0.0.2"));
    }

    #[test]
    fn a_malformed_entry_stops_the_walk_at_the_hop_that_forwarded_it() {
        let p = TrustedProxies::parse("10.0.0.0/8").unwrap();
        for junk in ["not-an-ip", "unknown", "_hidden", "", "1.2.3.4.5", "ü"] {
            let r = from("10.0.0.2")
                .header("x-forwarded-for", format!("203.0.113.9, {junk}, 10.0.0.7"));
            assert_eq!(p.client_addr(&r), ip("10.0.0.7"), "{junk:?}");
        }
    }

    #[test]
    fn mapped_addresses_and_bad_lists() {
        let p = TrustedProxies::parse("127.0.0.1").unwrap();
        let r = from("::ffff:127.0.0.1").header("x-forwarded-for", "::ffff:203.0.113.9");
        assert_eq!(p.client_addr(&r), ip("203.0.113.9"));
        assert!(TrustedProxies::parse("10.0.0.0/33").is_err());
        assert!(TrustedProxies::parse("example.com").is_err());
        assert!(TrustedProxies::parse(" , ").unwrap().is_empty());
    }

    #[test]
    fn ipv6_clients_count_per_64() {
        assert_eq!(
            throttle_key(ip("2001:db8:1:2:3:4:5:6").unwrap()),
            "2001:db8:1:2::/64"
        );
        assert_eq!(
            throttle_key(ip("2001:db8:1:2::9").unwrap()),
            "2001:db8:1:2::/64"
        );
        assert_ne!(
            throttle_key(ip("2001:db8:1:3::9").unwrap()),
            "2001:db8:1:2::/64"
        );
        assert_eq!(throttle_key(ip("192.0.2.1").unwrap()), "192.0.2.1");
        assert_eq!(throttle_key(ip("::ffff:192.0.2.1").unwrap()), "192.0.2.1");
    }

    #[test]
    fn only_the_header_the_proxies_write_is_read() {
        let xff = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let fwd = xff.clone().with_forwarded();
        let r = from("10.0.0.2")
            .header("x-forwarded-for", "198.51.100.1")
            .header(
                "forwarded",
                r#"for=192.0.2.43, for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.9"#,
            );
        // A client's own `Forwarded` cannot override what an XFF proxy appended, and the
        // reverse.
        assert_eq!(xff.client_addr(&r), ip("198.51.100.1"));
        assert_eq!(fwd.client_addr(&r), ip("2001:db8:cafe::17"));
        let r = from("10.0.0.2").header("forwarded", "for=192.0.2.60:8080;by=10.0.0.1");
        assert_eq!(fwd.client_addr(&r), ip("192.0.2.60"));
        assert_eq!(
            xff.client_addr(&r),
            ip("10.0.0.2"),
            "no XFF: the proxy itself"
        );
    }

    #[test]
    fn padding_or_bad_bytes_on_the_left_cannot_hide_the_appended_client() {
        let p = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let padded = format!("{}, 203.0.113.9", "1.1.1.1, ".repeat(3_000));
        let r = from("10.0.0.2").header("x-forwarded-for", padded);
        assert_eq!(p.client_addr(&r), ip("203.0.113.9"));
        let r = from("10.0.0.2").header("x-forwarded-for", b"\xff\xfe, 203.0.113.9".to_vec());
        assert_eq!(p.client_addr(&r), ip("203.0.113.9"));
        // A chain of trusted hops longer than any real one ends at the last one read.
        let long = vec!["10.0.0.1"; 100].join(", ");
        let r = from("10.0.0.2").header("x-forwarded-for", long);
        assert_eq!(p.client_addr(&r), ip("10.0.0.1"));
    }
}
