//! Metrics and traces, decided once for every adapter.
//!
//! The core counts what it decides through the [`metrics`] facade and opens [`tracing`]
//! spans around it. Nothing is exported until the application installs a recorder (the
//! reference apps install `metrics-exporter-prometheus` on `GET /metrics` when
//! `AUTH_METRICS=1`) and a subscriber; without them both cost a few atomic loads.
//!
//! | series | type | labels |
//! |---|---|---|
//! | [`LOGINS_TOTAL`] `auth_logins_total` | counter | `outcome`: `ok`, `invalid_credentials`, `throttled`, `mfa_required`, `unavailable` |
//! | [`AUTHENTICATIONS_TOTAL`] `auth_authentications_total` | counter | `scheme`: `bearer`, `api_key`, `session`, `external`; `outcome`: `ok`, `missing`, `invalid`, `revoked`, `unavailable` |
//! | [`REFRESH_TOTAL`] `auth_refresh_total` | counter | `outcome`: `ok`, `reuse_detected`, `invalid`, `unavailable` |
//! | [`VERIFICATION_SECONDS`] `auth_verification_seconds` | histogram | `scheme` (as above) |
//!
//! Labels take only the values listed: never a username, user id, token, key or address.
//!
//! Spans (target `auth_core`): `auth.authenticate` (debug; fields `scheme`, `outcome`),
//! `auth.login` (info; `outcome`), `auth.refresh` (info; `outcome`) and `auth.store`
//! (debug; `op`, `outcome` `ok` or `error`) around the store calls of those three. A span's fields never hold a
//! secret: no token, password, key or session id.
//!
//! ```
//! use auth_core::telemetry;
//! assert_eq!(telemetry::LOGINS_TOTAL, "auth_logins_total");
//! assert!(telemetry::SERIES.iter().any(|s| s.name == telemetry::VERIFICATION_SECONDS));
//! ```

use std::time::Instant;

use metrics::{Key, Label, Level, Metadata};

use crate::{AuthError, TokenError};

/// Counter of password logins (`POST /login` and the password grant), by `outcome`.
pub const LOGINS_TOTAL: &str = "auth_logins_total";
/// Counter of authentications of a request, by `scheme` and `outcome`.
pub const AUTHENTICATIONS_TOTAL: &str = "auth_authentications_total";
/// Counter of refresh-token rotations, by `outcome`.
pub const REFRESH_TOTAL: &str = "auth_refresh_total";
/// Histogram of the time (seconds) to verify a presented credential, by `scheme`.
pub const VERIFICATION_SECONDS: &str = "auth_verification_seconds";

/// One series the core records: its name, kind, labels and a description.
#[derive(Debug, Clone, Copy)]
pub struct Series {
    /// The series name (Prometheus appends `_bucket`, `_sum`, `_count` to histograms).
    pub name: &'static str,
    /// `counter` or `histogram`.
    pub kind: &'static str,
    /// Each label with every value it takes.
    pub labels: &'static [(&'static str, &'static [&'static str])],
    /// What it counts.
    pub description: &'static str,
}

const SCHEMES: &[&str] = &["bearer", "api_key", "session", "external"];

/// Every series the core records, for dashboards and for [`describe`].
pub const SERIES: &[Series] = &[
    Series {
        name: LOGINS_TOTAL,
        kind: "counter",
        labels: &[("outcome", LoginOutcome::ALL)],
        description: "Password logins (POST /login and the password grant) by outcome",
    },
    Series {
        name: AUTHENTICATIONS_TOTAL,
        kind: "counter",
        labels: &[("scheme", SCHEMES), ("outcome", AuthOutcome::ALL)],
        description: "Requests authenticated (or refused) by credential scheme and outcome",
    },
    Series {
        name: REFRESH_TOTAL,
        kind: "counter",
        labels: &[("outcome", RefreshOutcome::ALL)],
        description: "Refresh-token rotations by outcome",
    },
    Series {
        name: VERIFICATION_SECONDS,
        kind: "histogram",
        labels: &[("scheme", SCHEMES)],
        description: "Seconds spent verifying a presented credential (store checks included)",
    },
];

/// Registers the description of every series with the installed recorder (call it once
/// after installing one; Prometheus shows them as `# HELP`).
pub fn describe() {
    for s in SERIES {
        if s.kind == "histogram" {
            metrics::describe_histogram!(s.name, metrics::Unit::Seconds, s.description);
        } else {
            metrics::describe_counter!(s.name, s.description);
        }
    }
}

/// The credential scheme of an authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthScheme {
    Bearer = 0,
    ApiKey = 1,
    Session = 2,
    External = 3,
}

impl AuthScheme {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Bearer => "bearer",
            Self::ApiKey => "api_key",
            Self::Session => "session",
            Self::External => "external",
        }
    }
}

/// The outcome of an authentication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AuthOutcome {
    Ok = 0,
    Missing = 1,
    Invalid = 2,
    Revoked = 3,
    Unavailable = 4,
}

impl AuthOutcome {
    const ALL: &'static [&'static str] = &["ok", "missing", "invalid", "revoked", "unavailable"];

    pub(crate) fn of<T>(result: &Result<T, AuthError>) -> Self {
        match result {
            Ok(_) => Self::Ok,
            Err(AuthError::MissingCredentials(_) | AuthError::NotAuthenticated) => Self::Missing,
            Err(AuthError::InvalidToken(TokenError::Revoked)) => Self::Revoked,
            Err(
                AuthError::StoreUnavailable(_) | AuthError::IssuerUnavailable | AuthError::Internal,
            ) => Self::Unavailable,
            Err(_) => Self::Invalid,
        }
    }

    fn as_str(self) -> &'static str {
        Self::ALL.get(self as usize).copied().unwrap_or_default()
    }
}

/// The outcome of a password login.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LoginOutcome {
    Ok = 0,
    InvalidCredentials = 1,
    Throttled = 2,
    MfaRequired = 3,
    Unavailable = 4,
}

impl LoginOutcome {
    const ALL: &'static [&'static str] = &[
        "ok",
        "invalid_credentials",
        "throttled",
        "mfa_required",
        "unavailable",
    ];

    pub(crate) fn of<T>(result: &Result<T, AuthError>) -> Self {
        match result {
            Ok(_) => Self::Ok,
            Err(AuthError::Throttled { .. }) => Self::Throttled,
            Err(AuthError::StoreUnavailable(_) | AuthError::Internal) => Self::Unavailable,
            Err(_) => Self::InvalidCredentials,
        }
    }

    pub(crate) fn as_str(self) -> &'static str {
        Self::ALL.get(self as usize).copied().unwrap_or_default()
    }
}

/// The outcome of a refresh-token rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum RefreshOutcome {
    Ok = 0,
    ReuseDetected = 1,
    Invalid = 2,
    Unavailable = 3,
}

impl RefreshOutcome {
    const ALL: &'static [&'static str] = &["ok", "reuse_detected", "invalid", "unavailable"];

    pub(crate) fn as_str(self) -> &'static str {
        Self::ALL.get(self as usize).copied().unwrap_or_default()
    }
}

static METADATA: Metadata<'static> = Metadata::new("auth_core", Level::INFO, Some(module_path!()));

const fn label(key: &'static str, value: &'static str) -> Label {
    Label::from_static_parts(key, value)
}

// Every key is built at compile time: recording allocates nothing.
static SCHEME_LABELS: [[Label; 1]; 4] = [
    [label("scheme", "bearer")],
    [label("scheme", "api_key")],
    [label("scheme", "session")],
    [label("scheme", "external")],
];

macro_rules! pairs {
    ($($scheme:literal),*) => {
        [$([
            [label("scheme", $scheme), label("outcome", "ok")],
            [label("scheme", $scheme), label("outcome", "missing")],
            [label("scheme", $scheme), label("outcome", "invalid")],
            [label("scheme", $scheme), label("outcome", "revoked")],
            [label("scheme", $scheme), label("outcome", "unavailable")],
        ]),*]
    };
}

static AUTH_LABELS: [[[Label; 2]; 5]; 4] = pairs!("bearer", "api_key", "session", "external");

macro_rules! outcomes {
    ($($outcome:literal),*) => { [$([label("outcome", $outcome)]),*] };
}

static LOGIN_LABELS: [[Label; 1]; 5] = outcomes!(
    "ok",
    "invalid_credentials",
    "throttled",
    "mfa_required",
    "unavailable"
);
static REFRESH_LABELS: [[Label; 1]; 4] =
    outcomes!("ok", "reuse_detected", "invalid", "unavailable");

// The keys of the per-request series, built (and hashed) at compile time as well: an
// authentication then records its counter and histogram without building a `Key`.
// Indexing here is evaluated by the compiler: out of bounds fails the build.
macro_rules! auth_row {
    ($i:literal) => {
        [
            Key::from_static_parts(AUTHENTICATIONS_TOTAL, &AUTH_LABELS[$i][0]),
            Key::from_static_parts(AUTHENTICATIONS_TOTAL, &AUTH_LABELS[$i][1]),
            Key::from_static_parts(AUTHENTICATIONS_TOTAL, &AUTH_LABELS[$i][2]),
            Key::from_static_parts(AUTHENTICATIONS_TOTAL, &AUTH_LABELS[$i][3]),
            Key::from_static_parts(AUTHENTICATIONS_TOTAL, &AUTH_LABELS[$i][4]),
        ]
    };
}
#[allow(clippy::indexing_slicing)]
static AUTH_KEYS: [[Key; 5]; 4] = [auth_row!(0), auth_row!(1), auth_row!(2), auth_row!(3)];
#[allow(clippy::indexing_slicing)]
static VERIFICATION_KEYS: [Key; 4] = [
    Key::from_static_parts(VERIFICATION_SECONDS, &SCHEME_LABELS[0]),
    Key::from_static_parts(VERIFICATION_SECONDS, &SCHEME_LABELS[1]),
    Key::from_static_parts(VERIFICATION_SECONDS, &SCHEME_LABELS[2]),
    Key::from_static_parts(VERIFICATION_SECONDS, &SCHEME_LABELS[3]),
];

fn count(name: &'static str, labels: &'static [Label]) {
    let key = Key::from_static_parts(name, labels);
    metrics::with_recorder(|r| r.register_counter(&key, &METADATA)).increment(1);
}

/// The span `make` builds when debug spans are enabled, else a disabled one without
/// building it. `debug_span!` alone, with no subscriber set, still formats its fields for
/// the `log` crate's compatibility path (tracing's `log` feature, which another crate of
/// the build may turn on): ~150 instructions a span, twice per request.
fn debug_span(make: impl FnOnce() -> tracing::Span) -> tracing::Span {
    if tracing::level_enabled!(tracing::Level::DEBUG) {
        make()
    } else {
        tracing::Span::none()
    }
}

pin_project_lite::pin_project! {
    /// A future polled inside a span (entered only when a subscriber wants it), with
    /// `done` called once on its output. A future of its own rather than an `async fn`:
    /// that would hold the work's future twice (as its argument and as the awaited
    /// value), and every authenticated request moves the whole of it.
    pub(crate) struct Spanned<W, D> {
        #[pin]
        work: W,
        span: tracing::Span,
        done: Option<D>,
    }
}

impl<W: Future, D: FnOnce(&W::Output, &tracing::Span)> Future for Spanned<W, D> {
    type Output = W::Output;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let this = self.project();
        let out = std::task::ready!(if this.span.is_disabled() {
            this.work.poll(cx)
        } else {
            let _entered = this.span.enter();
            this.work.poll(cx)
        });
        // Once: the work is done, and a finished future is not polled again.
        if let Some(done) = this.done.take() {
            done(&out, this.span);
        }
        std::task::Poll::Ready(out)
    }
}

/// Runs one authentication in an `auth.authenticate` span and records it: its counter,
/// and for a presented credential its verification time. `scheme` names the scheme from
/// the result (a principal may be a bearer, a session or an external token).
pub(crate) fn authenticate<T, W, S>(
    work: W,
    scheme: S,
) -> Spanned<W, impl FnOnce(&Result<T, AuthError>, &tracing::Span)>
where
    W: Future<Output = Result<T, AuthError>>,
    S: FnOnce(&Result<T, AuthError>) -> AuthScheme,
{
    // Without a subscriber that wants the span, skip building and recording it: this
    // runs on every authenticated request (see `debug_span`).
    let span = debug_span(|| {
        tracing::debug_span!(
            "auth.authenticate",
            scheme = tracing::field::Empty,
            outcome = tracing::field::Empty
        )
    });
    let started = Instant::now();
    let done = move |result: &Result<T, AuthError>, span: &tracing::Span| {
        let outcome = AuthOutcome::of(result);
        let scheme = scheme(result);
        if !span.is_disabled() {
            span.record("scheme", scheme.as_str());
            span.record("outcome", outcome.as_str());
        }
        authentication(scheme, outcome, started);
    };
    Spanned {
        work,
        span,
        done: Some(done),
    }
}

/// [`authenticate`] for work that answers in place (`None` when it cannot): run and
/// recorded alike, but only while tracing's DEBUG level, the `auth.*` spans', is off (such an
/// answer opens none); otherwise `None` at once, and the caller takes the awaited path.
pub(crate) fn authenticate_now<T>(
    work: impl FnOnce() -> Option<Result<T, AuthError>>,
    scheme: impl FnOnce(&Result<T, AuthError>) -> AuthScheme,
) -> Option<Result<T, AuthError>> {
    if tracing::level_enabled!(tracing::Level::DEBUG) {
        return None;
    }
    let started = Instant::now();
    let result = work()?;
    authentication(scheme(&result), AuthOutcome::of(&result), started);
    Some(result)
}

fn authentication(scheme: AuthScheme, outcome: AuthOutcome, started: Instant) {
    let s = scheme as usize;
    if let Some(key) = AUTH_KEYS.get(s).and_then(|o| o.get(outcome as usize)) {
        metrics::with_recorder(|r| r.register_counter(key, &METADATA)).increment(1);
    }
    if outcome != AuthOutcome::Missing
        && let Some(key) = VERIFICATION_KEYS.get(s)
    {
        metrics::with_recorder(|r| r.register_histogram(key, &METADATA)).record(Since(started));
    }
}

/// The seconds since an instant, read only when a recorder takes the value: without one
/// (a no-op histogram) the clock is not read again.
struct Since(Instant);

impl metrics::IntoF64 for Since {
    fn into_f64(self) -> f64 {
        self.0.elapsed().as_secs_f64()
    }
}

/// Runs one store call of the authentication, login or refresh paths in an `auth.store`
/// span (debug): `op` names the call, never its arguments; `outcome` is `ok` or `error`.
pub(crate) fn store_call<T, E, W>(
    op: &'static str,
    work: W,
) -> Spanned<W, impl FnOnce(&Result<T, E>, &tracing::Span)>
where
    W: Future<Output = Result<T, E>>,
{
    let span =
        debug_span(|| tracing::debug_span!("auth.store", op, outcome = tracing::field::Empty));
    let done = |result: &Result<T, E>, span: &tracing::Span| {
        if !span.is_disabled() {
            span.record("outcome", if result.is_ok() { "ok" } else { "error" });
        }
    };
    Spanned {
        work,
        span,
        done: Some(done),
    }
}

/// Records one password login.
pub(crate) fn login(outcome: LoginOutcome) {
    if let Some(labels) = LOGIN_LABELS.get(outcome as usize) {
        count(LOGINS_TOTAL, labels);
    }
}

/// Records one refresh.
pub(crate) fn refresh(outcome: RefreshOutcome) {
    if let Some(labels) = REFRESH_LABELS.get(outcome as usize) {
        count(REFRESH_TOTAL, labels);
    }
}

#[cfg(test)]
#[allow(clippy::indexing_slicing)]
mod tests {
    use super::*;

    #[test]
    fn label_tables_match_the_documented_values() {
        for (i, scheme) in SCHEMES.iter().enumerate() {
            assert_eq!(SCHEME_LABELS[i][0].value(), *scheme);
            assert_eq!(VERIFICATION_KEYS[i].name(), VERIFICATION_SECONDS);
            assert!(VERIFICATION_KEYS[i].labels().eq(SCHEME_LABELS[i].iter()));
            for (j, outcome) in AuthOutcome::ALL.iter().enumerate() {
                assert_eq!(AUTH_LABELS[i][j][0].value(), *scheme);
                assert_eq!(AUTH_LABELS[i][j][1].value(), *outcome);
                // The compile-time keys are the keys `count` would build.
                let built = Key::from_static_parts(AUTHENTICATIONS_TOTAL, &AUTH_LABELS[i][j]);
                assert_eq!(AUTH_KEYS[i][j], built);
            }
        }
        for (j, outcome) in LoginOutcome::ALL.iter().enumerate() {
            assert_eq!(LOGIN_LABELS[j][0].value(), *outcome);
        }
        for (j, outcome) in RefreshOutcome::ALL.iter().enumerate() {
            assert_eq!(REFRESH_LABELS[j][0].value(), *outcome);
        }
        assert_eq!(AuthScheme::External.as_str(), "external");
        assert_eq!(LoginOutcome::Throttled.as_str(), "throttled");
        assert_eq!(RefreshOutcome::ReuseDetected.as_str(), "reuse_detected");
    }

    #[test]
    fn outcomes_are_classified_from_the_core_errors() {
        use crate::{Scheme, StoreError};
        let ok: Result<(), AuthError> = Ok(());
        assert_eq!(AuthOutcome::of(&ok), AuthOutcome::Ok);
        let missing: Result<(), _> = Err(AuthError::MissingCredentials(Scheme::Bearer));
        assert_eq!(AuthOutcome::of(&missing), AuthOutcome::Missing);
        let revoked: Result<(), _> = Err(AuthError::InvalidToken(TokenError::Revoked));
        assert_eq!(AuthOutcome::of(&revoked), AuthOutcome::Revoked);
        let expired: Result<(), _> = Err(AuthError::InvalidToken(TokenError::Expired));
        assert_eq!(AuthOutcome::of(&expired), AuthOutcome::Invalid);
        let down: Result<(), _> = Err(AuthError::StoreUnavailable(StoreError::new("down")));
        assert_eq!(AuthOutcome::of(&down), AuthOutcome::Unavailable);
        let throttled: Result<(), _> = Err(AuthError::Throttled {
            retry_after_secs: 5,
        });
        assert_eq!(LoginOutcome::of(&throttled), LoginOutcome::Throttled);
        let wrong: Result<(), _> = Err(AuthError::InvalidCredentials);
        assert_eq!(LoginOutcome::of(&wrong), LoginOutcome::InvalidCredentials);
    }

    /// Captures what a `tracing` subscriber writes.
    #[derive(Clone, Default)]
    struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

    impl std::io::Write for Capture {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Ok(mut bytes) = self.0.lock() {
                bytes.extend_from_slice(buf);
            }
            Ok(buf.len())
        }

        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test(flavor = "current_thread")]
    async fn spans_carry_the_outcome() {
        let capture = Capture::default();
        let writer = capture.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::DEBUG)
            .with_span_events(tracing_subscriber::fmt::format::FmtSpan::CLOSE)
            .with_writer(move || writer.clone())
            .finish();
        let _guard = tracing::subscriber::set_default(subscriber);
        let ok = store_call("token_status", async { Ok::<_, crate::StoreError>(()) }).await;
        assert!(ok.is_ok());
        let down = crate::StoreError::new("connection refused");
        assert!(
            store_call("find_user", async { Err::<(), _>(down) })
                .await
                .is_err()
        );
        let missing = AuthError::MissingCredentials(crate::Scheme::Bearer);
        let refused = authenticate(async { Err::<(), _>(missing) }, |_| AuthScheme::Bearer);
        assert!(refused.await.is_err());
        let text = String::from_utf8(capture.0.lock().unwrap().clone()).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        let line_of = |needle: &str| {
            lines
                .iter()
                .find(|l| l.contains(needle))
                .unwrap_or_else(|| panic!("no span with {needle} in {text}"))
                .to_string()
        };
        let status = line_of("token_status");
        assert!(
            status.contains("auth.store") && status.contains("outcome=\"ok\""),
            "{status}"
        );
        let user = line_of("find_user");
        assert!(user.contains("outcome=\"error\""), "{user}");
        let auth = line_of("auth.authenticate");
        assert!(
            auth.contains("scheme=\"bearer\"") && auth.contains("outcome=\"missing\""),
            "{auth}"
        );
    }
}
