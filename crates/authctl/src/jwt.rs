//! `authctl jwt`: decode, verify, sign.

use std::path::PathBuf;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde_json::{Map, Value, json};

use crate::out::Out;
use crate::{Fail, Outcome};

/// A lifetime above this is flagged.
const LONG_LIFETIME_SECS: i64 = 24 * 3600;
/// Claim names that suggest a secret was put into a readable payload.
const SENSITIVE: [&str; 10] = [
    "password",
    "passwd",
    "pwd",
    "secret",
    "ssn",
    "credit_card",
    "card_number",
    "cvv",
    "private_key",
    "api_key",
];
const TIME_CLAIMS: [&str; 4] = ["exp", "nbf", "iat", "auth_time"];

/// Where a key comes from.
#[derive(Debug)]
pub enum KeySource {
    /// An HMAC secret.
    Secret(Vec<u8>),
    /// A PEM file's contents and its path (for messages).
    Pem(Vec<u8>, PathBuf),
    /// A JWK set (verification only; the key is picked by the token's `kid`).
    Jwks(crate::jwks::Jwks),
}

impl KeySource {
    /// Exactly one of the four (clap enforces it).
    pub fn from_args(
        secret: Option<String>,
        secret_env: Option<String>,
        key: Option<PathBuf>,
        jwks: Option<String>,
    ) -> Result<Self, Fail> {
        if let Some(source) = jwks {
            return Ok(Self::Jwks(crate::jwks::Jwks::load(&source)?));
        }
        if let Some(s) = secret {
            return Ok(Self::Secret(s.into_bytes()));
        }
        if let Some(var) = secret_env {
            return match std::env::var(&var) {
                Ok(s) if !s.is_empty() => Ok(Self::Secret(s.into_bytes())),
                _ => Err(Fail(format!("the environment variable {var} is not set"))),
            };
        }
        let Some(path) = key else {
            return Err(Fail("give --secret, --secret-env, --key or --jwks".into()));
        };
        let pem = std::fs::read(&path)
            .map_err(|e| Fail(format!("cannot read key file {}: {e}", path.display())))?;
        Ok(Self::Pem(pem, path))
    }

    /// The PEM for `alg`, or why this key cannot serve it; `None` for a usable secret.
    fn pem_for(&self, alg: Algorithm, role: &str) -> Result<Option<(&[u8], &PathBuf)>, Fail> {
        use jsonwebtoken::Algorithm::*;
        let hmac = matches!(alg, HS256 | HS384 | HS512);
        match self {
            Self::Secret(_) if hmac => Ok(None),
            Self::Secret(_) => Err(Fail(format!(
                "alg {alg:?} needs a {role} key (--key FILE), not a secret"
            ))),
            Self::Pem(..) if hmac => Err(Fail(format!(
                "alg {alg:?} is an HMAC algorithm: a public key must never be used as an HMAC secret (use --secret or --secret-env)"
            ))),
            Self::Pem(pem, path) => Ok(Some((pem, path))),
            Self::Jwks(jwks) => Err(Fail(format!(
                "--jwks ({}) holds public keys picked by a token's kid: it can verify, not give a {role} key to sign with (use --key FILE or --secret)",
                jwks.source
            ))),
        }
    }

    fn decoding(&self, alg: Algorithm) -> Result<DecodingKey, Fail> {
        use jsonwebtoken::Algorithm::*;
        let Some((pem, path)) = self.pem_for(alg, "public")? else {
            return match self {
                Self::Secret(s) => Ok(DecodingKey::from_secret(s)?),
                Self::Pem(..) | Self::Jwks(_) => Err(Fail("unreachable key kind".into())),
            };
        };
        match alg {
            ES256 | ES384 => DecodingKey::from_ec_pem(pem),
            EdDSA => DecodingKey::from_ed_pem(pem),
            _ => DecodingKey::from_rsa_pem(pem),
        }
        .map_err(|e| {
            Fail(format!(
                "{} is not a PEM public key for {alg:?} ({e})",
                path.display()
            ))
        })
    }

    fn encoding(&self, alg: Algorithm) -> Result<EncodingKey, Fail> {
        use jsonwebtoken::Algorithm::*;
        let Some((pem, path)) = self.pem_for(alg, "private")? else {
            return match self {
                Self::Secret(s) => Ok(EncodingKey::from_secret(s)?),
                Self::Pem(..) | Self::Jwks(_) => Err(Fail("unreachable key kind".into())),
            };
        };
        match alg {
            ES256 | ES384 => EncodingKey::from_ec_pem(pem),
            EdDSA => EncodingKey::from_ed_pem(pem),
            _ => EncodingKey::from_rsa_pem(pem),
        }
        .map_err(|e| {
            Fail(format!(
                "{} is not a PEM private key for {alg:?} ({e})",
                path.display()
            ))
        })
    }
}

/// A token split and parsed, signature not checked.
struct Parsed {
    header: Map<String, Value>,
    claims: Map<String, Value>,
    signature_len: usize,
}

fn segment(name: &str, text: &str) -> Result<Map<String, Value>, Fail> {
    let bytes = URL_SAFE_NO_PAD.decode(text).map_err(|e| {
        Fail(format!(
            "the {name} is not valid base64url ({e}); was the token truncated or copied with extra characters?"
        ))
    })?;
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(Fail(format!("the {name} is JSON but not an object"))),
        Err(e) => Err(Fail(format!("the {name} is not JSON ({e})"))),
    }
}

fn parse(token: &str) -> Result<Parsed, Fail> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, claims, signature] = parts.as_slice() else {
        return Err(match parts.len() {
            5 => Fail(
                "this is a JWE (5 segments): it is encrypted, and only its holder's key can open it"
                    .into(),
            ),
            n => Fail(format!(
                "the token has {n} segment{}; a JWT has 3 (header.payload.signature)",
                if n == 1 { "" } else { "s" }
            )),
        });
    };
    let header = segment("header", header)?;
    let claims = segment("payload", claims)?;
    let signature_len = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|e| Fail(format!("the signature is not valid base64url ({e})")))?
        .len();
    Ok(Parsed {
        header,
        claims,
        signature_len,
    })
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
        .unwrap_or(0)
}

/// `12 min`, `3 h`, `2 d`.
fn span(secs: i64) -> String {
    let s = secs.unsigned_abs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        3600..86400 => format!("{} h", s / 3600),
        _ => format!("{} d", s / 86400),
    }
}

fn utc(secs: i64) -> Option<String> {
    let t = time::OffsetDateTime::from_unix_timestamp(secs).ok()?;
    let f = time::macros::format_description!("[year]-[month]-[day] [hour]:[minute]:[second] UTC");
    t.format(&f).ok()
}

fn relative(claim: &str, at: i64, now: i64) -> String {
    let d = at - now;
    if d == 0 && claim != "exp" {
        return "now".into();
    }
    match (claim, d >= 0) {
        ("exp", true) => format!("expires in {}", span(d)),
        ("exp", false) => format!("expired {} ago", span(d)),
        ("nbf", true) => format!("not valid for another {}", span(d)),
        ("nbf", false) => format!("valid since {} ago", span(d)),
        (_, true) if d > 0 => format!("{} in the future", span(d)),
        _ => format!("{} ago", span(d)),
    }
}

fn warnings(p: &Parsed, now: i64) -> Vec<String> {
    let mut w = Vec::new();
    if let Some(alg) = p.header.get("alg").and_then(Value::as_str) {
        if alg.eq_ignore_ascii_case("none") {
            w.push(format!(
                "alg is `{alg}`: the token is unsigned and must never be accepted"
            ));
        }
    } else {
        w.push("the header has no `alg`".into());
    }
    for h in ["jku", "x5u", "jwk", "x5c", "crit"] {
        if p.header.contains_key(h) {
            w.push(format!(
                "the header carries `{h}`: a verifier must never take keys or rules from the token itself"
            ));
        }
    }
    let exp = p.claims.get("exp").and_then(Value::as_i64);
    match (p.claims.get("exp"), exp) {
        (None, _) => w.push("no `exp`: the token never expires".into()),
        (Some(_), None) => {
            w.push("`exp` is not an integer: verifiers may treat it as absent".into())
        }
        _ => {}
    }
    if let Some(exp) = exp {
        let from = p.claims.get("iat").and_then(Value::as_i64).unwrap_or(now);
        if exp - from > LONG_LIFETIME_SECS {
            w.push(format!(
                "very long lifetime ({}): access tokens usually live minutes",
                span(exp - from)
            ));
        }
    }
    for (name, value) in &p.claims {
        if matches!(name.as_str(), "nbf" | "iat") && value.as_i64().is_none() {
            w.push(format!("`{name}` is not an integer"));
        }
    }
    let mut found = Vec::new();
    sensitive_names(&Value::Object(p.claims.clone()), "", &mut found);
    for path in found {
        w.push(format!(
            "claim `{path}` looks sensitive: anyone holding the token can read its payload"
        ));
    }
    w
}

fn sensitive_names(v: &Value, prefix: &str, found: &mut Vec<String>) {
    if let Value::Object(map) = v {
        for (k, child) in map {
            let path = if prefix.is_empty() {
                k.clone()
            } else {
                format!("{prefix}.{k}")
            };
            let lower = k.to_ascii_lowercase();
            if SENSITIVE.iter().any(|s| lower.contains(s)) {
                found.push(path.clone());
            }
            sensitive_names(child, &path, found);
        }
    }
}

fn print_map(out: &Out, title: &str, map: &Map<String, Value>, now: i64, times: bool) {
    println!("{}", out.key(title));
    for (k, v) in map {
        let mut line = format!("  {}: {v}", out.key(k));
        if times
            && TIME_CLAIMS.contains(&k.as_str())
            && let Some(at) = v.as_i64()
        {
            if let Some(date) = utc(at) {
                line.push_str(&format!("  {}", out.dim(&date)));
            }
            let rel = relative(k, at, now);
            let rel = if k == "exp" && at < now {
                out.bad(&rel)
            } else {
                rel
            };
            line.push_str(&format!(" ({rel})"));
        }
        println!("{line}");
    }
}

/// `authctl jwt decode`.
pub fn decode(out: &Out, token: &str, as_json: bool) -> Outcome {
    let p = parse(token)?;
    let now = now();
    let warns = warnings(&p, now);
    if as_json {
        let mut times = Map::new();
        for k in TIME_CLAIMS {
            if let Some(at) = p.claims.get(k).and_then(Value::as_i64) {
                times.insert(
                    k.into(),
                    json!({"unix": at, "utc": utc(at), "relative": relative(k, at, now)}),
                );
            }
        }
        let doc = json!({
            "header": p.header,
            "claims": p.claims,
            "times": times,
            "signature_bytes": p.signature_len,
            "verified": false,
            "warnings": warns,
        });
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(true);
    }
    print_map(out, "Header", &p.header, now, false);
    print_map(out, "Claims", &p.claims, now, true);
    println!(
        "{} {} bytes {}",
        out.key("Signature"),
        p.signature_len,
        out.dim("(not checked: use `authctl jwt verify`)")
    );
    if !warns.is_empty() {
        println!("{}", out.warn("Warnings"));
        for w in &warns {
            println!("  {} {w}", out.warn("!"));
        }
    }
    Ok(true)
}

/// What `verify` checks besides the signature.
#[derive(Debug)]
pub struct Checks {
    /// Required `alg`.
    pub alg: Option<String>,
    /// Required `iss`.
    pub iss: Option<String>,
    /// Required `aud`.
    pub aud: Option<String>,
    /// Leeway in seconds.
    pub leeway: u64,
}

fn parse_alg(name: &str) -> Result<Algorithm, Fail> {
    name.parse::<Algorithm>().map_err(|_| {
        Fail(format!(
            "`{name}` is not a JWS algorithm this tool verifies (HS256/384/512, RS256/384/512, PS256/384/512, ES256/384, EdDSA)"
        ))
    })
}

/// `authctl jwt verify`.
pub fn verify(out: &Out, token: &str, key: &KeySource, checks: &Checks) -> Outcome {
    let p = parse(token)?;
    let invalid = |why: String| {
        println!("{} {why}", out.bad("invalid:"));
        Ok(false)
    };
    let Some(alg_name) = p.header.get("alg").and_then(Value::as_str) else {
        return invalid("the header has no `alg`".into());
    };
    if alg_name.eq_ignore_ascii_case("none") {
        return invalid("alg `none`: an unsigned token is never valid".into());
    }
    let Ok(alg) = alg_name.parse::<Algorithm>() else {
        return invalid(format!("unknown alg `{alg_name}`"));
    };
    if let Some(want) = &checks.alg
        && parse_alg(want)? != alg
    {
        return invalid(format!("alg is {alg_name}, but {want} is required"));
    }
    let decoding = match key {
        KeySource::Jwks(jwks) => {
            let kid = p.header.get("kid").and_then(Value::as_str);
            match jwks.key_for(kid, alg) {
                Ok(decoding) => decoding,
                Err(why) => return invalid(why),
            }
        }
        _ => key.decoding(alg)?,
    };
    let mut v = Validation::new(alg);
    v.leeway = checks.leeway;
    v.validate_nbf = true;
    let mut required = vec!["exp"];
    if checks.iss.is_some() {
        required.push("iss");
    }
    if checks.aud.is_some() {
        required.push("aud");
    }
    v.set_required_spec_claims(&required);
    match &checks.iss {
        Some(iss) => v.set_issuer(&[iss]),
        None => v.iss = None,
    }
    match &checks.aud {
        Some(aud) => v.set_audience(&[aud]),
        None => v.validate_aud = false,
    }
    let now = now();
    match jsonwebtoken::decode::<Value>(token, &decoding, &v) {
        Ok(_) => {
            let mut checked = vec!["signature", "exp", "nbf"];
            if checks.iss.is_some() {
                checked.push("iss");
            }
            if checks.aud.is_some() {
                checked.push("aud");
            }
            let exp = p
                .claims
                .get("exp")
                .and_then(Value::as_i64)
                .map(|e| format!(", {}", relative("exp", e, now)))
                .unwrap_or_default();
            println!(
                "{} {alg_name}; checked {}{exp}",
                out.good("valid:"),
                checked.join(", ")
            );
            Ok(true)
        }
        Err(e) => {
            let claim_str = |k: &str| {
                p.claims
                    .get(k)
                    .map_or_else(|| "absent".to_string(), |v| v.to_string())
            };
            let why = match e.kind() {
                ErrorKind::InvalidSignature => {
                    "the signature does not match this key (wrong key or secret, or the token was altered)".to_string()
                }
                ErrorKind::ExpiredSignature => match p.claims.get("exp").and_then(Value::as_i64) {
                    Some(exp) => format!("{} (leeway {} s)", relative("exp", exp, now), checks.leeway),
                    None => "expired".into(),
                },
                ErrorKind::ImmatureSignature => match p.claims.get("nbf").and_then(Value::as_i64) {
                    Some(nbf) => format!("not valid yet: {}", relative("nbf", nbf, now)),
                    None => "not valid yet".into(),
                },
                ErrorKind::InvalidIssuer => format!(
                    "iss is {}, expected \"{}\"",
                    claim_str("iss"),
                    checks.iss.as_deref().unwrap_or("")
                ),
                ErrorKind::InvalidAudience => format!(
                    "aud is {}, which does not contain \"{}\"",
                    claim_str("aud"),
                    checks.aud.as_deref().unwrap_or("")
                ),
                ErrorKind::MissingRequiredClaim(c) => format!("the `{c}` claim is missing"),
                ErrorKind::InvalidAlgorithm => {
                    format!("alg {alg_name} cannot be used with this key")
                }
                ErrorKind::InvalidClaimFormat(c) => {
                    format!("the `{c}` claim has the wrong type")
                }
                ErrorKind::Json(_) => "a claim has the wrong JSON type (`exp`, `nbf` must be numbers)".into(),
                _ => format!("{e}"),
            };
            invalid(why)
        }
    }
}

fn parse_ttl(ttl: &str) -> Result<i64, Fail> {
    let bad = || {
        Fail(format!(
            "--ttl `{ttl}` is not a duration like 90s, 15m, 2h or 7d"
        ))
    };
    // `find` returns the start of a char, so `split_at_checked` never refuses it; it
    // stands in for `split_at`, which would panic were that ever not so.
    let split = ttl.find(|c: char| !c.is_ascii_digit()).unwrap_or(ttl.len());
    let (n, unit) = ttl.split_at_checked(split).ok_or_else(bad)?;
    let n: i64 = n.parse().map_err(|_| bad())?;
    let mult = match unit {
        "s" | "" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86400,
        _ => return Err(bad()),
    };
    n.checked_mul(mult).filter(|s| *s > 0).ok_or_else(bad)
}

/// `authctl jwt sign`.
pub fn sign(
    key: &KeySource,
    alg: Option<String>,
    claims_json: Option<String>,
    claim: &[String],
    ttl: &str,
    kid: Option<String>,
) -> Outcome {
    let alg = match (alg, key) {
        (Some(a), _) => parse_alg(&a)?,
        (None, KeySource::Secret(_)) => Algorithm::HS256,
        (None, KeySource::Pem(..)) => {
            return Err(Fail(
                "with --key, say which algorithm: --alg RS256, ES256, EdDSA...".into(),
            ));
        }
        (None, KeySource::Jwks(jwks)) => {
            return Err(Fail(format!(
                "--jwks ({}) holds public keys: it verifies tokens, it cannot sign them (use --key FILE or --secret)",
                jwks.source
            )));
        }
    };
    let mut claims = match claims_json {
        None => Map::new(),
        Some(text) => match serde_json::from_str::<Value>(&text) {
            Ok(Value::Object(m)) => m,
            Ok(_) => return Err(Fail("--claims must be a JSON object".into())),
            Err(e) => return Err(Fail(format!("--claims is not JSON ({e})"))),
        },
    };
    for c in claim {
        let Some((name, value)) = c.split_once('=') else {
            return Err(Fail(format!("--claim `{c}` is not NAME=VALUE")));
        };
        // RFC 7519's string claims stay strings (`sub=1` is "1", not 1).
        let value = if matches!(name, "sub" | "iss" | "jti") {
            Value::String(value.into())
        } else {
            serde_json::from_str(value).unwrap_or_else(|_| Value::String(value.into()))
        };
        claims.insert(name.to_string(), value);
    }
    let now = now();
    claims.entry("iat").or_insert(json!(now));
    claims.insert("exp".into(), json!(now + parse_ttl(ttl)?));
    let mut header = Header::new(alg);
    header.kid = kid;
    let token = jsonwebtoken::encode(&header, &Value::Object(claims), &key.encoding(alg)?)?;
    println!("{token}");
    Ok(true)
}
