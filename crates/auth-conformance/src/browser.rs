//! Browser tests on [`fantoccini`]: a headless Debian `chromium` driven through
//! `chromedriver`, and Chromium's WebDriver virtual authenticator (WebAuthn).
//!
//! [`Browser::start`] starts `chromedriver` on a free port and opens one headless
//! Chromium session with the flags a closed network needs; the [`Browser`] dereferences
//! to fantoccini's [`Client`], so a test navigates, finds, clicks and types with
//! fantoccini's own API (`browser.wait().for_element(Locator::Css(..))`, `click`,
//! `send_keys`, `screenshot`, ...). This module adds only what fantoccini lacks:
//! [`Browser::wait_for_text`], and the W3C WebAuthn Level 2 §11 "Automation" commands
//! ([`add_virtual_authenticator`], [`virtual_credentials`],
//! [`remove_virtual_authenticator`]), sent through [`Client::issue_cmd`] as a
//! [`VirtualAuthenticatorCommand`].
//!
//! Missing `chromium` or `chromedriver` is a [`BrowserError`] naming the Debian packages
//! (`cargo xtask test` installs them); a test fails on it, never skips.

use std::fmt;
use std::io;
use std::ops::Deref;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::ClientBuilder;
use fantoccini::error::{CmdError, NewSessionError};
use fantoccini::wd::{Capabilities, WebDriverCompatibleCommand};
use hyper_util::client::legacy::connect::HttpConnector;
use serde_json::{Value, json};

pub use fantoccini::{Client, Locator};

/// How long [`Browser::start`] waits for `chromedriver` to report ready, and
/// [`Browser::wait_for_text`] for a text.
const WAIT: Duration = Duration::from_secs(20);
/// How often the waits poll.
const POLL: Duration = Duration::from_millis(100);

/// Why a browser test could not do what it asked.
///
/// `Debug` prints the same message as `Display`, so `unwrap()` in a test shows it.
#[derive(thiserror::Error)]
pub enum BrowserError {
    /// `chromedriver` could not be started.
    #[error(
        "cannot start `{program}` ({source}): install Debian's `chromium` and \
         `chromium-driver` packages (`cargo xtask test` does)"
    )]
    DriverMissing {
        /// The program run.
        program: String,
        /// Why it did not start.
        #[source]
        source: io::Error,
    },
    /// No free local port for `chromedriver`.
    #[error("no free local port for chromedriver: {0}")]
    NoPort(#[source] io::Error),
    /// `chromedriver` started but never reported ready.
    #[error("chromedriver did not become ready on {url} within {secs} s")]
    DriverNotReady {
        /// The driver's URL.
        url: String,
        /// How long it was given.
        secs: u64,
    },
    /// `chromedriver` refused the headless Chromium session (often: no Chromium at
    /// `binary`, or one whose version does not match the driver's).
    #[error(
        "chromedriver on {url} did not open a headless Chromium session with {binary} \
         (install Debian's `chromium` and `chromium-driver`, same version): {source}"
    )]
    Session {
        /// The driver's URL.
        url: String,
        /// The Chromium binary asked for.
        binary: String,
        /// fantoccini's error.
        #[source]
        source: Box<NewSessionError>,
    },
    /// A WebDriver command failed.
    #[error("WebDriver {command}: {source}")]
    Command {
        /// What was asked.
        command: String,
        /// fantoccini's error (a W3C WebDriver error, or a transport error).
        #[source]
        source: Box<CmdError>,
    },
    /// A wait ran out.
    #[error("{what} within {secs} s")]
    Timeout {
        /// What did not happen, e.g. "`.modal` never showed `Logout`; last text: ...".
        what: String,
        /// How long it waited.
        secs: u64,
    },
    /// The client has no WebDriver session (it was closed).
    #[error("the WebDriver client has no session")]
    NoSession,
    /// The driver answered with a value of an unexpected shape.
    #[error("WebDriver {command}: unexpected reply {value}")]
    UnexpectedReply {
        /// What was asked.
        command: String,
        /// What came back (the W3C `value`).
        value: Value,
    },
}

impl fmt::Debug for BrowserError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

/// Wraps a fantoccini command error with what was asked.
fn cmd(command: impl Into<String>) -> impl FnOnce(CmdError) -> BrowserError {
    let command = command.into();
    move |source| BrowserError::Command {
        command,
        source: Box::new(source),
    }
}

/// A running `chromedriver` with one headless Chromium session, reached through
/// fantoccini's [`Client`] (this type dereferences to it). [`Browser::quit`] ends the
/// session; dropping the `Browser` stops the driver and removes the browser profile.
#[derive(Debug)]
pub struct Browser {
    client: Client,
    driver: Child,
    profile: PathBuf,
}

impl Drop for Browser {
    fn drop(&mut self) {
        // Best effort: the process may already be gone, the profile already removed.
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Deref for Browser {
    type Target = Client;

    fn deref(&self) -> &Client {
        &self.client
    }
}

/// A free port on 127.0.0.1 (the listener is closed at once, for chromedriver to bind).
fn free_port() -> Result<u16, BrowserError> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").map_err(BrowserError::NoPort)?;
    let addr = listener.local_addr().map_err(BrowserError::NoPort)?;
    Ok(addr.port())
}

/// Waits until the driver's `GET /status` says `ready`.
async fn wait_until_ready(url: &str) -> Result<(), BrowserError> {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + WAIT;
    loop {
        if let Ok(reply) = http.get(format!("{url}/status")).send().await
            && let Ok(status) = reply.json::<Value>().await
            && status["value"]["ready"] == true
        {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(BrowserError::DriverNotReady {
                url: url.to_string(),
                secs: WAIT.as_secs(),
            });
        }
        tokio::time::sleep(POLL).await;
    }
}

impl Browser {
    /// Starts `chromedriver` (from `PATH`) on a free port and a headless Chromium
    /// (`/usr/bin/chromium`, or `AUTH_TEST_CHROMIUM`) with `--headless=new`,
    /// `--no-sandbox` and the flags a closed network needs, in a fresh profile.
    pub async fn start() -> Result<Browser, BrowserError> {
        let port = free_port()?;
        let mut driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|source| BrowserError::DriverMissing {
                program: "chromedriver".into(),
                source,
            })?;
        let url = format!("http://127.0.0.1:{port}");
        if let Err(e) = wait_until_ready(&url).await {
            let _ = driver.kill();
            let _ = driver.wait();
            return Err(e);
        }
        let binary =
            std::env::var("AUTH_TEST_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        let profile = std::env::temp_dir().join(format!("auth-e2e-{}-{port}", std::process::id()));
        let mut capabilities = Capabilities::new();
        capabilities.insert("browserName".into(), json!("chrome"));
        capabilities.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": binary,
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,1600",
                    format!("--user-data-dir={}", profile.display()),
                ]
            }),
        );
        // chromedriver speaks plain HTTP on loopback: no TLS stack in the client.
        let connected = ClientBuilder::new(HttpConnector::new())
            .capabilities(capabilities)
            .connect(&url)
            .await;
        match connected {
            Ok(client) => Ok(Browser {
                client,
                driver,
                profile,
            }),
            Err(source) => {
                let _ = driver.kill();
                let _ = driver.wait();
                Err(BrowserError::Session {
                    url,
                    binary,
                    source: Box::new(source),
                })
            }
        }
    }

    /// fantoccini's client for this session (also reachable through `Deref`).
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Waits (up to 20 s) until the element `locator` finds exists and its visible text
    /// contains `needle`; returns that text.
    pub async fn wait_for_text(
        &self,
        locator: Locator<'_>,
        needle: &str,
    ) -> Result<String, BrowserError> {
        let deadline = Instant::now() + WAIT;
        let mut last = String::new();
        loop {
            match self.client.find(locator).await {
                Ok(element) => {
                    last = element
                        .text()
                        .await
                        .map_err(cmd(format!("text of {locator:?}")))?;
                    if last.contains(needle) {
                        return Ok(last);
                    }
                }
                Err(e) if e.is_no_such_element() || e.is_stale_element_reference() => {}
                Err(e) => return Err(cmd(format!("find {locator:?}"))(e)),
            }
            if Instant::now() >= deadline {
                return Err(BrowserError::Timeout {
                    what: format!("{locator:?} never showed `{needle}`; last text: {last:?}"),
                    secs: WAIT.as_secs(),
                });
            }
            tokio::time::sleep(POLL).await;
        }
    }

    /// Clicks the element `locator` finds, once it exists (fantoccini waits up to 30 s).
    pub async fn click_when_there(&self, locator: Locator<'_>) -> Result<(), BrowserError> {
        let element = self
            .client
            .wait()
            .for_element(locator)
            .await
            .map_err(cmd(format!("find {locator:?}")))?;
        element
            .click()
            .await
            .map_err(cmd(format!("click {locator:?}")))
    }

    /// Ends the WebDriver session (the browser quits), then stops the driver.
    pub async fn quit(mut self) -> Result<(), BrowserError> {
        let client = self.client.clone();
        let closed = client.close().await.map_err(cmd("delete session"));
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        closed
    }
}

/// The options of a virtual authenticator (W3C WebAuthn Level 2 §11.2, "Authenticator
/// Configuration"). [`Default`] is a platform authenticator with resident keys and user
/// verification that always verifies: CTAP2, `internal`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualAuthenticatorOptions {
    /// `ctap1/u2f` or `ctap2`.
    pub protocol: String,
    /// `usb`, `nfc`, `ble` or `internal`.
    pub transport: String,
    /// Whether it stores discoverable (resident) credentials.
    pub has_resident_key: bool,
    /// Whether it can verify the user.
    pub has_user_verification: bool,
    /// Whether user verification succeeds.
    pub is_user_verified: bool,
}

impl Default for VirtualAuthenticatorOptions {
    fn default() -> Self {
        VirtualAuthenticatorOptions {
            protocol: "ctap2".into(),
            transport: "internal".into(),
            has_resident_key: true,
            has_user_verification: true,
            is_user_verified: true,
        }
    }
}

impl VirtualAuthenticatorOptions {
    /// The JSON body of "Add Virtual Authenticator".
    pub fn to_json(&self) -> Value {
        json!({
            "protocol": self.protocol,
            "transport": self.transport,
            "hasResidentKey": self.has_resident_key,
            "hasUserVerification": self.has_user_verification,
            "isUserVerified": self.is_user_verified,
        })
    }
}

/// The WebAuthn automation commands of W3C WebAuthn Level 2 §11, as fantoccini
/// commands (send one with [`Client::issue_cmd`]; the functions below do).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VirtualAuthenticatorCommand {
    /// `POST /session/{id}/webauthn/authenticator`: replies with the authenticator id.
    Add(VirtualAuthenticatorOptions),
    /// `GET /session/{id}/webauthn/authenticator/{authenticatorId}/credentials`.
    Credentials {
        /// The authenticator's id.
        authenticator_id: String,
    },
    /// `DELETE /session/{id}/webauthn/authenticator/{authenticatorId}`.
    Remove {
        /// The authenticator's id.
        authenticator_id: String,
    },
    /// `POST /session/{id}/webauthn/authenticator/{authenticatorId}/credential`: puts a
    /// credential (its Credential Parameters as JSON) into the authenticator.
    AddCredential {
        /// The authenticator's id.
        authenticator_id: String,
        /// The credential's parameters (`credentialId`, `isResidentCredential`, `rpId`,
        /// `privateKey`, `userHandle`, `signCount`).
        credential: Value,
    },
    /// `DELETE /session/{id}/webauthn/authenticator/{authenticatorId}/credentials`.
    RemoveCredentials {
        /// The authenticator's id.
        authenticator_id: String,
    },
}

impl VirtualAuthenticatorCommand {
    /// The path segments after `/session/{id}/`.
    fn segments(&self) -> Vec<&str> {
        match self {
            VirtualAuthenticatorCommand::Add(_) => vec!["webauthn", "authenticator"],
            VirtualAuthenticatorCommand::Credentials { authenticator_id } => {
                vec!["webauthn", "authenticator", authenticator_id, "credentials"]
            }
            VirtualAuthenticatorCommand::Remove { authenticator_id } => {
                vec!["webauthn", "authenticator", authenticator_id]
            }
            VirtualAuthenticatorCommand::AddCredential {
                authenticator_id, ..
            } => vec!["webauthn", "authenticator", authenticator_id, "credential"],
            VirtualAuthenticatorCommand::RemoveCredentials { authenticator_id } => {
                vec!["webauthn", "authenticator", authenticator_id, "credentials"]
            }
        }
    }
}

impl WebDriverCompatibleCommand for VirtualAuthenticatorCommand {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        // Every command here needs a session; the public functions check there is one
        // before issuing, so this is the "cannot build that URL" answer fantoccini's
        // signature allows.
        let session_id = session_id.ok_or(url::ParseError::RelativeUrlWithoutBase)?;
        let mut url = base_url.join("session")?;
        // Segments, not string joining: an id is percent-encoded, never a path.
        url.path_segments_mut()
            .map_err(|()| url::ParseError::RelativeUrlWithoutBase)?
            .push(session_id)
            .extend(self.segments());
        Ok(url)
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        match self {
            VirtualAuthenticatorCommand::Add(options) => {
                (http::Method::POST, Some(options.to_json().to_string()))
            }
            VirtualAuthenticatorCommand::Credentials { .. } => (http::Method::GET, None),
            VirtualAuthenticatorCommand::Remove { .. }
            | VirtualAuthenticatorCommand::RemoveCredentials { .. } => (http::Method::DELETE, None),
            VirtualAuthenticatorCommand::AddCredential { credential, .. } => {
                (http::Method::POST, Some(credential.to_string()))
            }
        }
    }
}

/// A credential a virtual authenticator holds (W3C WebAuthn Level 2 §11.6, "Credential
/// Parameters"); binary fields are base64url, as the driver sends them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VirtualCredential {
    /// The credential id (base64url, as `PublicKeyCredential.id`).
    pub credential_id: String,
    /// Whether it is a discoverable (resident) credential.
    pub is_resident_credential: bool,
    /// The relying party id it is scoped to.
    pub rp_id: Option<String>,
    /// The user handle (base64url), for a resident credential.
    pub user_handle: Option<String>,
    /// The signature counter.
    pub sign_count: u64,
    /// The private key (base64url PKCS#8), as the driver reports it: with it a test can
    /// put the credential back with another counter ([`put_virtual_credential`]).
    pub private_key: Option<String>,
}

impl VirtualCredential {
    fn from_json(value: &Value) -> Option<VirtualCredential> {
        Some(VirtualCredential {
            credential_id: value.get("credentialId")?.as_str()?.to_string(),
            is_resident_credential: value.get("isResidentCredential")?.as_bool()?,
            rp_id: value.get("rpId").and_then(Value::as_str).map(String::from),
            user_handle: value
                .get("userHandle")
                .and_then(Value::as_str)
                .map(String::from),
            sign_count: value.get("signCount").and_then(Value::as_u64).unwrap_or(0),
            private_key: value
                .get("privateKey")
                .and_then(Value::as_str)
                .map(String::from),
        })
    }
}

/// Issues `command` on `client`'s session.
async fn issue(
    client: &Client,
    command: VirtualAuthenticatorCommand,
    what: &str,
) -> Result<Value, BrowserError> {
    let session = client.session_id().await.map_err(cmd(what))?;
    if session.is_none() {
        return Err(BrowserError::NoSession);
    }
    client.issue_cmd(command).await.map_err(cmd(what))
}

/// Adds a virtual authenticator with the [default options](VirtualAuthenticatorOptions)
/// (CTAP2, internal, resident keys, user verified) to `client`'s session; returns its id.
pub async fn add_virtual_authenticator(client: &Client) -> Result<String, BrowserError> {
    add_virtual_authenticator_with(client, VirtualAuthenticatorOptions::default()).await
}

/// Adds a virtual authenticator with `options`; returns its id.
pub async fn add_virtual_authenticator_with(
    client: &Client,
    options: VirtualAuthenticatorOptions,
) -> Result<String, BrowserError> {
    let what = "add virtual authenticator";
    let value = issue(client, VirtualAuthenticatorCommand::Add(options), what).await?;
    match value.as_str() {
        Some(id) if !id.is_empty() => Ok(id.to_string()),
        _ => Err(BrowserError::UnexpectedReply {
            command: what.into(),
            value,
        }),
    }
}

/// The credentials the virtual authenticator `authenticator_id` holds.
pub async fn virtual_credentials(
    client: &Client,
    authenticator_id: &str,
) -> Result<Vec<VirtualCredential>, BrowserError> {
    let what = format!("credentials of virtual authenticator {authenticator_id}");
    let command = VirtualAuthenticatorCommand::Credentials {
        authenticator_id: authenticator_id.into(),
    };
    let value = issue(client, command, &what).await?;
    let parsed = value.as_array().and_then(|credentials| {
        credentials
            .iter()
            .map(VirtualCredential::from_json)
            .collect::<Option<Vec<_>>>()
    });
    parsed.ok_or(BrowserError::UnexpectedReply {
        command: what,
        value,
    })
}

/// Replaces every credential of the virtual authenticator `authenticator_id` with
/// `credential` (as [`virtual_credentials`] read it, private key included), holding
/// `sign_count`: a cloned authenticator whose counter is behind the relying party's.
pub async fn put_virtual_credential(
    client: &Client,
    authenticator_id: &str,
    credential: &VirtualCredential,
    sign_count: u64,
) -> Result<(), BrowserError> {
    let what = format!("replace the credentials of virtual authenticator {authenticator_id}");
    let remove = VirtualAuthenticatorCommand::RemoveCredentials {
        authenticator_id: authenticator_id.into(),
    };
    issue(client, remove, &what).await?;
    let add = VirtualAuthenticatorCommand::AddCredential {
        authenticator_id: authenticator_id.into(),
        credential: json!({
            "credentialId": credential.credential_id,
            "isResidentCredential": credential.is_resident_credential,
            "rpId": credential.rp_id,
            "privateKey": credential.private_key,
            "userHandle": credential.user_handle,
            "signCount": sign_count,
        }),
    };
    issue(client, add, &what).await.map(drop)
}

/// Removes the virtual authenticator `authenticator_id` (and its credentials).
pub async fn remove_virtual_authenticator(
    client: &Client,
    authenticator_id: &str,
) -> Result<(), BrowserError> {
    let what = format!("remove virtual authenticator {authenticator_id}");
    let command = VirtualAuthenticatorCommand::Remove {
        authenticator_id: authenticator_id.into(),
    };
    issue(client, command, &what).await.map(drop)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(command: &VirtualAuthenticatorCommand) -> String {
        let base = url::Url::parse("http://127.0.0.1:9515").unwrap();
        command.endpoint(&base, Some("s1")).unwrap().to_string()
    }

    #[test]
    fn commands_follow_the_webauthn_automation_paths() {
        let add = VirtualAuthenticatorCommand::Add(VirtualAuthenticatorOptions::default());
        assert_eq!(
            endpoint(&add),
            "http://127.0.0.1:9515/session/s1/webauthn/authenticator"
        );
        let (method, body) = add.method_and_body(&url::Url::parse("http://x/").unwrap());
        assert_eq!(method, http::Method::POST);
        let body: Value = serde_json::from_str(&body.unwrap()).unwrap();
        assert_eq!(
            body,
            json!({"protocol": "ctap2", "transport": "internal", "hasResidentKey": true,
                   "hasUserVerification": true, "isUserVerified": true})
        );
        let credentials = VirtualAuthenticatorCommand::Credentials {
            authenticator_id: "a/b?c".into(),
        };
        assert_eq!(
            endpoint(&credentials),
            "http://127.0.0.1:9515/session/s1/webauthn/authenticator/a%2Fb%3Fc/credentials"
        );
        let remove = VirtualAuthenticatorCommand::Remove {
            authenticator_id: "A1".into(),
        };
        assert_eq!(
            endpoint(&remove),
            "http://127.0.0.1:9515/session/s1/webauthn/authenticator/A1"
        );
        let url = url::Url::parse("http://x/").unwrap();
        assert_eq!(remove.method_and_body(&url), (http::Method::DELETE, None));
        assert!(remove.endpoint(&url, None).is_err(), "no session, no URL");
    }

    #[test]
    fn credentials_parse_and_errors_read_well() {
        let c = VirtualCredential::from_json(&json!({
            "credentialId": "AQID", "isResidentCredential": true, "rpId": "localhost",
            "privateKey": "x", "userHandle": "BAU", "signCount": 2
        }))
        .unwrap();
        assert_eq!(c.credential_id, "AQID");
        assert_eq!(c.rp_id.as_deref(), Some("localhost"));
        assert_eq!(c.sign_count, 2);
        assert!(VirtualCredential::from_json(&json!({"rpId": "x"})).is_none());

        let e = BrowserError::DriverMissing {
            program: "chromedriver".into(),
            source: io::Error::from(io::ErrorKind::NotFound),
        };
        assert!(format!("{e:?}").contains("chromium-driver"), "{e:?}");
    }
}
