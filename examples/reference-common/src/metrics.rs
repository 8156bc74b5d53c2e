//! `AUTH_METRICS=1`: the core's series (`auth_core::telemetry`) as Prometheus text on
//! `GET /metrics`, through `metrics-exporter-prometheus` (its recorder only: the app
//! serves the text on its own port, no second listener).

use auth_core::{AuthError, Reply};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Upper bounds (seconds) of the verification histogram's buckets: from an HS256 check
/// from the cache (microseconds) to an issuer's RS256 token or a store round trip.
pub const VERIFICATION_BUCKETS: &[f64] = &[
    0.000_005, 0.000_01, 0.000_025, 0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005,
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
];

/// The installed Prometheus recorder, or none (`GET /metrics` answers 404).
#[derive(Debug, Clone, Default)]
pub struct Metrics {
    handle: Option<PrometheusHandle>,
}

impl Metrics {
    /// No metrics: `GET /metrics` answers 404.
    pub fn off() -> Self {
        Self { handle: None }
    }

    /// Installs the process-wide Prometheus recorder (once per process) with the
    /// verification histogram's buckets, and describes the core's series.
    pub fn install() -> Result<Self, String> {
        let handle = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(auth_core::telemetry::VERIFICATION_SECONDS.to_string()),
                VERIFICATION_BUCKETS,
            )
            .map_err(|e| format!("AUTH_METRICS: {e}"))?
            .install_recorder()
            .map_err(|e| format!("AUTH_METRICS: cannot install the metrics recorder: {e}"))?;
        auth_core::telemetry::describe();
        Ok(Self {
            handle: Some(handle),
        })
    }

    /// Whether a recorder is installed.
    pub fn enabled(&self) -> bool {
        self.handle.is_some()
    }

    /// `GET /metrics`: the Prometheus text exposition (version 0.0.4), or 404 when
    /// `AUTH_METRICS` is not set.
    pub fn reply(&self) -> Reply {
        match &self.handle {
            Some(handle) => Reply::new(200)
                .header("content-type", "text/plain; version=0.0.4; charset=utf-8")
                .header("cache-control", "no-store")
                .body_text(handle.render()),
            None => AuthError::NotFound {
                detail: "Metrics are off: start the app with AUTH_METRICS=1".into(),
            }
            .into(),
        }
    }
}
