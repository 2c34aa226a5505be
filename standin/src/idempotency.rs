//! Optional `Idempotency-Key` support (mode "honour"); neither real vendor has it, so it is off by default.
//!
//! It sits inside the fault layer: pre-work faults hit before the lookup, and post-work faults hit
//! after the answer was stored, so "reset after write, then retry with the same key" replays.
//! Only 2xx answers are stored: an error is not a result worth replaying. The stored answer is
//! written right after the work, not in the work's transaction: only a crash between the two
//! statements could separate them, which an in-process stand-in can live with.

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::db::StoredResponse;
use crate::faults::{FaultScope, IdempotencyMode};
use crate::state::{AppState, lock};

pub const HEADER: &str = "Idempotency-Key";
/// Set on replayed answers so tests (and curious humans) can tell them apart.
pub const REPLAYED_HEADER: &str = "Idempotent-Replayed";

/// Marks a key as in flight and unmarks it when dropped, even if the request future is dropped.
struct InFlight<'a> {
    app: &'a AppState,
    slot: String,
}

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        lock(&self.app.in_flight).remove(&self.slot);
    }
}

pub(crate) async fn layer(State(scope): State<FaultScope>, request: Request, next: Next) -> Response {
    let app = &scope.app;
    let mutating = matches!(*request.method(), Method::POST | Method::PUT | Method::PATCH | Method::DELETE);
    let key = request.headers().get(HEADER).and_then(|v| v.to_str().ok()).map(str::to_owned);
    let (Some(key), true, IdempotencyMode::Honour) = (key, mutating, app.faults().idempotency) else {
        return next.run(request).await;
    };
    let method = request.method().to_string();
    let path = request.uri().path().to_owned();

    match app.db.stored_response(&method, &path, &key) {
        Ok(Some(stored)) => {
            app.stats.count_replay();
            return replay(stored);
        }
        Ok(None) => {}
        Err(e) => return scope.vendor.internal(&e),
    }
    let slot = format!("{method} {path} {key}");
    if !lock(&app.in_flight).insert(slot.clone()) {
        return scope.vendor.idempotency_conflict();
    }
    let _guard = InFlight { app, slot };

    let response = next.run(request).await;
    if !response.status().is_success() {
        return response;
    }
    let (parts, body) = response.into_parts();
    let bytes = match axum::body::to_bytes(body, usize::MAX).await {
        Ok(bytes) => bytes,
        Err(e) => return scope.vendor.internal(&e),
    };
    let stored = StoredResponse {
        status: parts.status.as_u16(),
        content_type: parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).map(str::to_owned),
        body: bytes.to_vec(),
    };
    if let Err(e) = app.db.store_response(&method, &path, &key, &stored) {
        tracing::error!("could not store the idempotent answer for {slot_key}: {e}", slot_key = key);
    }
    Response::from_parts(parts, Body::from(bytes))
}

fn replay(stored: StoredResponse) -> Response {
    let mut response = Response::new(Body::from(stored.body));
    *response.status_mut() = StatusCode::from_u16(stored.status).unwrap_or(StatusCode::OK);
    if let Some(content_type) = stored.content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
        response.headers_mut().insert(header::CONTENT_TYPE, content_type);
    }
    response.headers_mut().insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}
