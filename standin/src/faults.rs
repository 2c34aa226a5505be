//! Fault injection: the ways a real server and network fail, decided per request by a seeded RNG.
//!
//! Faults wrap the API routes only (never `/_admin`); the token endpoint gets only latency and
//! server errors, so a test can always sign in. Pre-work faults answer (or fail) without touching
//! the store. Post-work faults fire only after the handler answered 2xx, that is after the write
//! was committed: the client then cannot tell whether its change landed (the ambiguous cases a
//! sync engine has to reconcile).

use std::str::FromStr;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use serde::{Deserialize, Serialize};

use crate::Error;
use crate::envelope::Vendor;
use crate::server::ConnControl;
use crate::state::AppState;

/// What the stand-in does with an `Idempotency-Key` header.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IdempotencyMode {
    /// Like both real vendors: the header is ignored and a retried create creates again.
    #[default]
    Ignore,
    /// A repeated mutating request with the same key, method and path gets the stored answer.
    Honour,
}

impl FromStr for IdempotencyMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "ignore" => Ok(Self::Ignore),
            "honour" | "honor" => Ok(Self::Honour),
            other => Err(format!("unknown idempotency mode {other:?} (expected honour or ignore)")),
        }
    }
}

/// The faults in force. Every `*_rate` is a probability in `0.0..=1.0`, drawn per request.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Faults {
    /// Added to every API request before anything else happens.
    pub latency_ms: u64,
    /// Answer 500, 502 or 503 (at random) in the vendor's envelope, without doing the work.
    pub server_error_rate: f64,
    /// Answer 429 with `Retry-After`, without doing the work.
    pub rate_limit_rate: f64,
    /// The `Retry-After` value sent with injected 429s.
    pub retry_after_secs: u64,
    /// Close the connection without an answer, before doing the work.
    pub reset_before_rate: f64,
    /// Do the work (commit), then close the connection without an answer.
    pub reset_after_rate: f64,
    /// Never answer and do not do the work: the client's timeout fires.
    pub timeout_rate: f64,
    /// Do the work (commit), then never answer.
    pub timeout_after_write_rate: f64,
    /// Do the work, then answer the 2xx status with a truncated, invalid JSON body.
    pub malformed_rate: f64,
    /// How long an injected timeout holds the request before the connection is closed anyway,
    /// so a forgotten client cannot pin a task for ever.
    pub timeout_hold_secs: u64,
    pub idempotency: IdempotencyMode,
    /// Overrides the configured token lifetime for tokens issued from now on.
    pub token_ttl_secs: Option<u64>,
    /// An action, not a state: setting it expires every issued token at once (it reads back false).
    pub expire_tokens_now: bool,
}

impl Default for Faults {
    fn default() -> Self {
        Self {
            latency_ms: 0,
            server_error_rate: 0.0,
            rate_limit_rate: 0.0,
            retry_after_secs: 1,
            reset_before_rate: 0.0,
            reset_after_rate: 0.0,
            timeout_rate: 0.0,
            timeout_after_write_rate: 0.0,
            malformed_rate: 0.0,
            timeout_hold_secs: 300,
            idempotency: IdempotencyMode::Ignore,
            token_ttl_secs: None,
            expire_tokens_now: false,
        }
    }
}

impl Faults {
    /// No faults at all (the same as `Default`).
    pub fn none() -> Self {
        Self::default()
    }

    /// Every fault on at a modest rate: good for demos and soak runs of the sync engine.
    pub fn chaos() -> Self {
        Self {
            latency_ms: 5,
            server_error_rate: 0.05,
            rate_limit_rate: 0.05,
            reset_before_rate: 0.05,
            reset_after_rate: 0.05,
            timeout_rate: 0.05,
            timeout_after_write_rate: 0.05,
            malformed_rate: 0.05,
            ..Self::default()
        }
    }

    fn rates_mut(&mut self) -> [(&'static str, &mut f64); 7] {
        [
            ("server_error_rate", &mut self.server_error_rate),
            ("rate_limit_rate", &mut self.rate_limit_rate),
            ("reset_before_rate", &mut self.reset_before_rate),
            ("reset_after_rate", &mut self.reset_after_rate),
            ("timeout_rate", &mut self.timeout_rate),
            ("timeout_after_write_rate", &mut self.timeout_after_write_rate),
            ("malformed_rate", &mut self.malformed_rate),
        ]
    }

    /// Rejects a rate outside `0.0..=1.0` (or NaN), naming the field.
    pub fn validate(&self) -> Result<(), Error> {
        let mut copy = self.clone();
        for (name, rate) in copy.rates_mut() {
            if !(0.0..=1.0).contains(rate) {
                return Err(Error::Config(format!("{name} must be between 0.0 and 1.0, got {rate}")));
            }
        }
        Ok(())
    }

    /// Brings every rate into `0.0..=1.0` (NaN becomes 0), for callers that cannot report an error.
    pub(crate) fn clamped(mut self) -> Self {
        for (_, rate) in self.rates_mut() {
            *rate = if rate.is_nan() { 0.0 } else { rate.clamp(0.0, 1.0) };
        }
        self
    }
}

/// What happens to one request; drawn all at once so the RNG sequence does not depend on outcomes.
#[derive(Debug, Default)]
pub(crate) struct Decision {
    pub server_error: Option<StatusCode>,
    pub rate_limit: bool,
    pub reset_before: bool,
    pub timeout: bool,
    pub reset_after: bool,
    pub timeout_after_write: bool,
    pub malformed: bool,
}

impl Decision {
    pub(crate) fn draw(faults: &Faults, rng: &mut fastrand::Rng, token_route: bool) -> Self {
        let mut hit = |rate: f64| rng.f64() < rate;
        let server_error = hit(faults.server_error_rate);
        let status = [StatusCode::INTERNAL_SERVER_ERROR, StatusCode::BAD_GATEWAY, StatusCode::SERVICE_UNAVAILABLE]
            [rng.usize(..3)];
        if token_route {
            return Self { server_error: server_error.then_some(status), ..Self::default() };
        }
        let mut hit = |rate: f64| rng.f64() < rate;
        Self {
            server_error: server_error.then_some(status),
            rate_limit: hit(faults.rate_limit_rate),
            reset_before: hit(faults.reset_before_rate),
            timeout: hit(faults.timeout_rate),
            reset_after: hit(faults.reset_after_rate),
            timeout_after_write: hit(faults.timeout_after_write_rate),
            malformed: hit(faults.malformed_rate),
        }
    }
}

/// Which routes a fault layer wraps, so its answers use the right vendor's error envelope.
#[derive(Clone)]
pub(crate) struct FaultScope {
    pub app: AppState,
    pub vendor: Vendor,
    /// The token endpoint: latency and server errors only.
    pub token_route: bool,
}

/// The fault middleware (see the module docs for the order of events).
pub(crate) async fn inject(State(scope): State<FaultScope>, request: Request, next: Next) -> Response {
    let app = &scope.app;
    app.stats.count_request();
    let (faults, decision) = app.draw_faults(scope.token_route);
    if faults.latency_ms > 0 {
        app.stats.count_fault(|c| &c.latency);
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    let control = request.extensions().get::<ConnControl>().cloned();
    let what = format!("{} {}", request.method(), request.uri().path());

    if let Some(status) = decision.server_error {
        app.stats.count_fault(|c| &c.server_error);
        tracing::info!("fault: {status} for {what}");
        return scope.vendor.server_error(status);
    }
    if decision.rate_limit {
        app.stats.count_fault(|c| &c.rate_limit);
        tracing::info!("fault: 429 for {what}");
        return scope.vendor.rate_limited(faults.retry_after_secs);
    }
    if decision.reset_before {
        app.stats.count_fault(|c| &c.reset_before);
        tracing::info!("fault: reset before the work for {what}");
        return drop_connection(control).await;
    }
    if decision.timeout {
        app.stats.count_fault(|c| &c.timeout);
        tracing::info!("fault: no answer (nothing done) for {what}");
        return hold(control, faults.timeout_hold_secs).await;
    }

    let response = next.run(request).await;
    if !response.status().is_success() {
        return response;
    }
    if decision.reset_after {
        app.stats.count_fault(|c| &c.reset_after);
        tracing::info!("fault: reset after the work for {what}");
        return drop_connection(control).await;
    }
    if decision.timeout_after_write {
        app.stats.count_fault(|c| &c.timeout_after_write);
        tracing::info!("fault: no answer (work done) for {what}");
        return hold(control, faults.timeout_hold_secs).await;
    }
    if decision.malformed && response.status() != StatusCode::NO_CONTENT {
        app.stats.count_fault(|c| &c.malformed);
        tracing::info!("fault: malformed body for {what}");
        return truncate_body(response).await;
    }
    response
}

/// Closes the connection without an answer: the connection task drops it, and with it this future.
async fn drop_connection(control: Option<ConnControl>) -> Response {
    match control {
        Some(control) => {
            control.drop_connection();
            std::future::pending().await
        }
        // Only reachable when the router is served by something other than `server::serve`.
        None => Response::builder()
            .status(StatusCode::INTERNAL_SERVER_ERROR)
            .body(Body::from("connection reset requested but not supported by this server"))
            .unwrap_or_default(),
    }
}

/// Holds the request open for `secs`, then closes the connection (the client normally gave up long before).
async fn hold(control: Option<ConnControl>, secs: u64) -> Response {
    tokio::time::sleep(Duration::from_secs(secs)).await;
    drop_connection(control).await
}

/// Keeps the status and headers but cuts the body in half: a strict prefix of a JSON document is never JSON.
async fn truncate_body(response: Response) -> Response {
    let (mut parts, body) = response.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap_or_default();
    let cut = if bytes.len() < 2 { axum::body::Bytes::from_static(b"{\"") } else { bytes.slice(..bytes.len() / 2) };
    parts.headers.remove(header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(cut))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validate_names_the_bad_rate() {
        let faults = Faults { malformed_rate: 1.5, ..Faults::default() };
        let message = faults.validate().expect_err("1.5 is out of range").to_string();
        assert!(message.contains("malformed_rate"), "{message}");
        assert!(Faults { timeout_rate: f64::NAN, ..Faults::default() }.validate().is_err());
        assert!(Faults::chaos().validate().is_ok());
    }

    #[test]
    fn clamped_brings_rates_into_range() {
        let faults =
            Faults { server_error_rate: 7.0, rate_limit_rate: -1.0, timeout_rate: f64::NAN, ..Faults::default() };
        let clamped = faults.clamped();
        assert_eq!((clamped.server_error_rate, clamped.rate_limit_rate, clamped.timeout_rate), (1.0, 0.0, 0.0));
    }

    #[test]
    fn partial_json_keeps_defaults() {
        let faults: Faults =
            serde_json::from_str(r#"{"malformed_rate": 0.5, "idempotency": "honour"}"#).expect("partial faults parse");
        assert_eq!(faults.retry_after_secs, 1);
        assert_eq!(faults.idempotency, IdempotencyMode::Honour);
        assert_eq!(faults.malformed_rate, 0.5);
    }

    #[test]
    fn same_seed_same_decisions() {
        let faults = Faults::chaos();
        let run = || {
            let mut rng = fastrand::Rng::with_seed(42);
            (0..50).map(|_| format!("{:?}", Decision::draw(&faults, &mut rng, false))).collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }
}
