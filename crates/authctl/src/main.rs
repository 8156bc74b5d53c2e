//! `authctl`: the toolkit's command line for people.
//!
//! ```text
//! authctl jwt decode [TOKEN|-] [--json]
//! authctl jwt verify [TOKEN|-] (--secret S | --secret-env VAR | --key FILE | --jwks FILE|URL) [--iss I] [--aud A]
//! authctl jwt sign (--secret S | --secret-env VAR | --key FILE) [--alg A] [--claim k=v]... [--claims JSON] [--ttl 15m]
//! authctl password hash            # reads the password from a prompt, or stdin when piped
//! authctl password verify PHC
//! authctl apikey new [--prefix ak_]
//! authctl totp qr [OTPAUTH_URL|-]   # an enrolment URL as a QR code in the terminal
//! authctl policy check --policy rbac --roles ROLES.json --subject FILE --action PERMISSION
//! authctl policy check --policy articles --subject FILE --action ACTION --resource FILE
//! ```
//!
//! `policy check` decides with the team's data: `--policy rbac` reads your role table from
//! `--roles` (a JSON object: role -> list of permissions, such as `examples/roles.json`);
//! authctl ships no roles. `--policy articles` is the tutorial's article example built
//! into authctl (`src/tutorial.rs`), for trying the simulator: your own ABAC policies are
//! Rust code in your service and are not read.
//!
//! Exit codes: 0 success (valid, match, allowed); 1 a negative answer or bad input
//! (invalid token, no match, denied, unreadable file), printed as one line on stderr;
//! 2 a usage error (clap's). Colour only when stdout is a terminal and `NO_COLOR` is
//! unset.

mod jwks;
mod jwt;
mod out;
mod totp;
mod tutorial;

use std::io::{IsTerminal as _, Read as _};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Args, Parser, Subcommand};

use out::Out;

/// What failed, as one line for stderr.
#[derive(Debug)]
pub struct Fail(pub String);

impl<T: std::fmt::Display> From<T> for Fail {
    fn from(e: T) -> Self {
        Fail(e.to_string())
    }
}

/// The result of a subcommand: `Ok(true)` positive (exit 0), `Ok(false)` negative
/// (exit 1, the answer already printed).
type Outcome = Result<bool, Fail>;

#[derive(Debug, Parser)]
#[command(
    name = "authctl",
    version,
    about = "Inspect and verify JWTs, hash passwords, mint API keys, simulate policy decisions"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// JSON Web Tokens: decode, verify, sign.
    #[command(subcommand)]
    Jwt(JwtCommand),
    /// argon2id password hashes.
    #[command(subcommand)]
    Password(PasswordCommand),
    /// API keys.
    #[command(subcommand)]
    Apikey(ApikeyCommand),
    /// Access decisions.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// TOTP second factors.
    #[command(subcommand)]
    Totp(TotpCommand),
}

#[derive(Debug, Subcommand)]
enum TotpCommand {
    /// Prints an enrolment's `otpauth://totp/...` URL as a QR code for an authenticator
    /// app to scan (light modules drawn, for a dark terminal), then what it holds.
    Qr {
        /// The URL (`otpauth_url` from `POST /mfa/totp/enroll`), or `-` for stdin.
        url: Option<String>,
    },
}

#[derive(Debug, Subcommand)]
enum JwtCommand {
    /// Shows header and claims (without checking the signature), times as dates, and
    /// warnings.
    Decode {
        /// The token, or `-` (or nothing) to read it from stdin.
        token: Option<String>,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
    /// Checks signature, `exp`/`nbf`, and optionally `iss` and `aud`: says valid or why not.
    Verify {
        /// The token, or `-` (or nothing) to read it from stdin.
        token: Option<String>,
        #[command(flatten)]
        key: KeyArgs,
        /// Require this `alg` (default: the header's, if the key allows it).
        #[arg(long)]
        alg: Option<String>,
        /// Require this issuer.
        #[arg(long)]
        iss: Option<String>,
        /// Require this audience.
        #[arg(long)]
        aud: Option<String>,
        /// Clock skew allowed on `exp`/`nbf`, in seconds (at most 300).
        #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u64).range(0..=300))]
        leeway: u64,
    },
    /// Signs a token for testing.
    Sign {
        #[command(flatten)]
        key: KeyArgs,
        /// The algorithm (default HS256 with a secret; required with --key).
        #[arg(long)]
        alg: Option<String>,
        /// The claims as a JSON object.
        #[arg(long)]
        claims: Option<String>,
        /// One claim, `name=value` (value parsed as JSON when it is, else a string).
        #[arg(long = "claim", value_name = "NAME=VALUE")]
        claim: Vec<String>,
        /// Lifetime: `exp` = now + TTL (`90s`, `15m`, `2h`, `7d`).
        #[arg(long, default_value = "15m")]
        ttl: String,
        /// The header `kid`.
        #[arg(long)]
        kid: Option<String>,
    },
}

/// Where the key comes from (exactly one).
#[derive(Debug, Args)]
#[group(required = true, multiple = false)]
struct KeyArgs {
    /// An HMAC secret (visible in the process list; prefer --secret-env).
    #[arg(long)]
    secret: Option<String>,
    /// The name of an environment variable holding the HMAC secret.
    #[arg(long, value_name = "VAR")]
    secret_env: Option<String>,
    /// A PEM key file (public key to verify, private key to sign).
    #[arg(long, value_name = "FILE")]
    key: Option<PathBuf>,
    /// A JWK set to verify with (`verify` only): a file, or an http(s) URL such as
    /// `https://issuer/.well-known/jwks.json`. The key is the one the token's `kid`
    /// names, and the token's `alg` must fit it.
    #[arg(long, value_name = "FILE|URL")]
    jwks: Option<String>,
}

#[derive(Debug, Subcommand)]
enum PasswordCommand {
    /// Hashes a password read from a prompt (or stdin when piped); prints the PHC string.
    Hash,
    /// Checks a password read from a prompt (or stdin) against a PHC string.
    Verify {
        /// The argon2id PHC string (`$argon2id$v=19$...`).
        phc: String,
    },
}

#[derive(Debug, Subcommand)]
enum ApikeyCommand {
    /// Mints a key: prints it once, and the digest to store.
    New {
        /// Key prefix (1 to 16 letters, digits or `_`).
        #[arg(long, default_value = "ak_")]
        prefix: String,
        /// Machine-readable output.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Debug, Subcommand)]
enum PolicyCommand {
    /// Simulates a decision: allowed or denied, and the rule that decided.
    ///
    /// `--policy rbac --roles FILE`: does one of the subject's roles grant the permission
    /// ACTION in your role table? FILE is a JSON object (role -> list of permissions), e.g.
    /// `{"admin": ["read", "write"], "viewer": ["read"]}` (crates/authctl/examples/roles.json).
    /// authctl ships no roles.
    ///
    /// `--policy articles`: the tutorial's article example, built into authctl to try the
    /// simulator (edit: the author or an admin; delete: an admin, or the author of an
    /// unpublished article). It is not your policy: your ABAC policies are Rust code in
    /// your service.
    #[command(verbatim_doc_comment)]
    Check {
        /// Which policy decides.
        #[arg(long, value_enum)]
        policy: PolicyKind,
        /// Your role table as JSON: `{"role": ["permission", ...], ...}` (required with
        /// `--policy rbac`).
        #[arg(long, value_name = "FILE")]
        roles: Option<PathBuf>,
        /// The subject as JSON: `{"id": 2, "roles": ["editor"]}` (rbac reads only `roles`).
        #[arg(long, value_name = "FILE")]
        subject: PathBuf,
        /// The action: a permission (rbac), or `edit`/`update`/`delete` (articles).
        #[arg(long)]
        action: String,
        /// The resource as JSON, for articles: `{"author_id": 2, "published": false}`.
        #[arg(long, value_name = "FILE")]
        resource: Option<PathBuf>,
    },
}

#[derive(Debug, Clone, Copy, clap::ValueEnum)]
enum PolicyKind {
    /// RBAC: your role → permission table, read from `--roles FILE`.
    Rbac,
    /// ABAC: the tutorial's article example built into authctl (author, admin,
    /// published), not your policy.
    Articles,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let out = Out::detect();
    let outcome = match cli.command {
        Command::Jwt(JwtCommand::Decode { token, json }) => {
            read_token(token).and_then(|t| jwt::decode(&out, &t, json))
        }
        Command::Jwt(JwtCommand::Verify {
            token,
            key,
            alg,
            iss,
            aud,
            leeway,
        }) => read_token(token).and_then(|t| {
            let key = jwt::KeySource::from_args(key.secret, key.secret_env, key.key, key.jwks)?;
            jwt::verify(
                &out,
                &t,
                &key,
                &jwt::Checks {
                    alg,
                    iss,
                    aud,
                    leeway,
                },
            )
        }),
        Command::Jwt(JwtCommand::Sign {
            key,
            alg,
            claims,
            claim,
            ttl,
            kid,
        }) => jwt::KeySource::from_args(key.secret, key.secret_env, key.key, key.jwks)
            .and_then(|key| jwt::sign(&key, alg, claims, &claim, &ttl, kid)),
        Command::Password(PasswordCommand::Hash) => password_hash(),
        Command::Password(PasswordCommand::Verify { phc }) => password_verify(&out, phc),
        Command::Apikey(ApikeyCommand::New { prefix, json }) => apikey_new(&out, prefix, json),
        Command::Totp(TotpCommand::Qr { url }) => read_token(url).and_then(|u| totp::qr(&u)),
        Command::Policy(PolicyCommand::Check {
            policy,
            roles,
            subject,
            action,
            resource,
        }) => policy_check(
            &out,
            policy,
            roles.as_deref(),
            &subject,
            &action,
            resource.as_deref(),
        ),
    };
    match outcome {
        Ok(true) => ExitCode::SUCCESS,
        Ok(false) => ExitCode::from(1),
        Err(Fail(message)) => {
            eprintln!("authctl: error: {message}");
            ExitCode::from(1)
        }
    }
}

/// The largest token or stdin input read.
const MAX_INPUT_BYTES: u64 = 64 * 1024;

fn read_token(arg: Option<String>) -> Result<String, Fail> {
    let text = match arg.as_deref() {
        Some("-") | None => {
            if std::io::stdin().is_terminal() {
                return Err(Fail(
                    "give the token as an argument, or pipe it on stdin".into(),
                ));
            }
            let mut buf = String::new();
            std::io::stdin()
                .take(MAX_INPUT_BYTES + 1)
                .read_to_string(&mut buf)
                .map_err(|e| Fail(format!("cannot read stdin: {e}")))?;
            buf
        }
        Some(t) => t.to_string(),
    };
    let token = text.trim();
    let token = token
        .strip_prefix("Bearer ")
        .or_else(|| token.strip_prefix("bearer "))
        .unwrap_or(token)
        .trim();
    if token.len() as u64 > MAX_INPUT_BYTES {
        return Err(Fail("the token is longer than 64 KiB".into()));
    }
    if token.is_empty() {
        return Err(Fail("the token is empty".into()));
    }
    Ok(token.to_string())
}

/// A password from the terminal (no echo) or one line of stdin; never from argv.
fn read_password(confirm: bool) -> Result<String, Fail> {
    let password = if std::io::stdin().is_terminal() {
        let first = rpassword::prompt_password("Password: ")
            .map_err(|e| Fail(format!("cannot read the password: {e}")))?;
        if confirm {
            let again = rpassword::prompt_password("Again: ")
                .map_err(|e| Fail(format!("cannot read the password: {e}")))?;
            if again != first {
                return Err(Fail("the two passwords differ".into()));
            }
        }
        first
    } else {
        let mut buf = String::new();
        std::io::stdin()
            .take(auth_core::credential::MAX_PASSWORD_BYTES as u64 + 2)
            .read_to_string(&mut buf)
            .map_err(|e| Fail(format!("cannot read stdin: {e}")))?;
        let line = buf.strip_suffix('\n').unwrap_or(&buf);
        line.strip_suffix('\r').unwrap_or(line).to_string()
    };
    if password.is_empty() {
        return Err(Fail("the password is empty".into()));
    }
    Ok(password)
}

fn runtime() -> Result<tokio::runtime::Runtime, Fail> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Fail(format!("cannot start the runtime: {e}")))
}

fn passwords() -> Result<auth_core::credential::Passwords, Fail> {
    Ok(auth_core::credential::Passwords::new(
        auth_core::credential::PasswordParams::default(),
    )?)
}

fn password_hash() -> Outcome {
    let password = read_password(true)?;
    let phc =
        runtime()?.block_on(async { passwords()?.hash(password).await.map_err(Fail::from) })?;
    println!("{phc}");
    Ok(true)
}

fn password_verify(out: &Out, phc: String) -> Outcome {
    use auth_core::credential::Verified;
    if !phc.starts_with("$argon2") || phc.split('$').count() < 5 {
        return Err(Fail(
            "the hash is not a PHC string (expected `$argon2id$v=19$m=...,t=...,p=...$salt$hash`)"
                .into(),
        ));
    }
    let password = read_password(false)?;
    let verdict = runtime()?
        .block_on(async { passwords()?.verify(password, phc).await.map_err(Fail::from) })?;
    match verdict {
        Verified::Ok => {
            println!("{}", out.good("match"));
            Ok(true)
        }
        Verified::NeedsRehash => {
            println!(
                "{} {}",
                out.good("match"),
                out.warn("(weaker than today's parameters: store a new hash)")
            );
            Ok(true)
        }
        Verified::Mismatch => {
            println!("{}", out.bad("no match"));
            Ok(false)
        }
    }
}

fn apikey_new(out: &Out, prefix: String, json: bool) -> Outcome {
    use auth_core::credential::{ApiKeyConfig, ApiKeys, MemoryApiKeys};
    let keys = ApiKeys::new(
        ApiKeyConfig::default().prefix(prefix),
        Arc::new(MemoryApiKeys::new()),
        Arc::new(auth_core::clock::SystemClock),
    )?;
    let new = keys.generate("authctl", "", Vec::new(), None);
    let digest: String = new
        .record
        .digest
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if json {
        let doc = serde_json::json!({
            "key": new.key,
            "sha256": digest,
            "display_prefix": new.record.display_prefix,
        });
        println!("{doc}");
    } else {
        println!("{} {}", out.key("key:   "), new.key);
        println!("{} {}", out.key("sha256:"), digest);
        println!(
            "{}",
            out.dim("Give the key to its owner now: it is not stored and cannot be shown again. Store only the SHA-256 digest.")
        );
    }
    Ok(true)
}

fn read_json(path: &std::path::Path, what: &str) -> Result<serde_json::Value, Fail> {
    let text = std::fs::read_to_string(path).map_err(|e| {
        Fail(format!(
            "cannot read the {what} file {}: {e}",
            path.display()
        ))
    })?;
    serde_json::from_str(&text).map_err(|e| {
        Fail(format!(
            "the {what} file {} is not JSON: {e}",
            path.display()
        ))
    })
}

/// A role table file: a JSON object: role -> list of permissions.
fn read_roles(path: &std::path::Path) -> Result<auth_core::policy::RolePermissions, Fail> {
    let table: std::collections::BTreeMap<String, Vec<String>> =
        serde_json::from_value(read_json(path, "roles")?).map_err(|e| {
            Fail(format!(
                "the roles file {} is not {{\"role\": [\"permission\", ...], ...}}: {e}",
                path.display()
            ))
        })?;
    Ok(table.into_iter().fold(
        auth_core::policy::RolePermissions::new(),
        |t, (role, perms)| t.grant(role, perms),
    ))
}

fn policy_check(
    out: &Out,
    policy: PolicyKind,
    roles_file: Option<&std::path::Path>,
    subject: &std::path::Path,
    action: &str,
    resource: Option<&std::path::Path>,
) -> Outcome {
    use auth_core::policy::abac::{Decision, Environment};
    use tutorial::{Actor, Article, policy_for};
    let decision = match policy {
        PolicyKind::Articles => {
            if roles_file.is_some() {
                return Err(Fail(
                    "--roles is read by --policy rbac only (the articles example decides on the subject's roles)".into(),
                ));
            }
            let Some(resource) = resource else {
                return Err(Fail("the articles policy needs --resource FILE".into()));
            };
            let actor: Actor =
                serde_json::from_value(read_json(subject, "subject")?).map_err(|e| {
                    Fail(format!(
                        "the subject is not {{\"id\": N, \"roles\": [...]}}: {e}"
                    ))
                })?;
            let article: Article = serde_json::from_value(read_json(resource, "resource")?)
                .map_err(|e| {
                    Fail(format!(
                        "the resource is not {{\"author_id\": N, \"published\": bool}}: {e}"
                    ))
                })?;
            let env = Environment {
                now: auth_core::clock::Clock::unix_seconds(&auth_core::clock::SystemClock),
                client: None,
            };
            policy_for(action).decide(&actor, action, &article, &env)
        }
        PolicyKind::Rbac => {
            let Some(roles_file) = roles_file else {
                return Err(Fail(
                    "the rbac policy needs --roles FILE, your role table as JSON: {\"role\": [\"permission\", ...], ...} (example: crates/authctl/examples/roles.json)".into(),
                ));
            };
            let table = read_roles(roles_file)?;
            let roles: Vec<String> = read_json(subject, "subject")?
                .get("roles")
                .cloned()
                .map(serde_json::from_value)
                .transpose()
                .map_err(|e| {
                    Fail(format!(
                        "the subject's `roles` is not a list of strings: {e}"
                    ))
                })?
                .unwrap_or_default();
            match roles
                .iter()
                .find(|r| table.has_permission(std::slice::from_ref(*r), action))
            {
                Some(role) => Decision::allow(&format!("role `{role}` (grants `{action}`)")),
                None => Decision::deny(format!("no role of {roles:?} grants `{action}`")),
            }
        }
    };
    if decision.allowed {
        println!("{}", out.good(&decision.reason));
    } else {
        println!("{}", out.bad(&decision.reason));
    }
    Ok(decision.allowed)
}
