//! Routing and the accept loop.
//!
//! The loop is our own (not `axum::serve`) for one reason: a fault must be able to close a
//! connection without any answer. Each connection gets a [`ConnControl`] in its requests'
//! extensions; a handler that wants a reset signals it and waits, and the connection task, which
//! selects on that signal, drops the connection (and the waiting handler with it), closing the
//! TCP stream. No panics, no half-written responses.

use std::sync::Arc;

use axum::Router;
use axum::extract::Request;
use axum::http::Uri;
use axum::middleware::from_fn_with_state;
use axum::routing::{get, post};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, watch};
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::envelope::Vendor;
use crate::faults::{self, FaultScope};
use crate::state::AppState;
use crate::{admin, auth, idempotency, organizations, partners};

/// Lets a handler close its own connection without answering (see the module docs).
#[derive(Clone, Default)]
pub(crate) struct ConnControl(Arc<Notify>);

impl ConnControl {
    /// Asks the connection task to drop the connection; the caller should then wait for ever.
    pub fn drop_connection(&self) {
        // notify_one keeps a permit if the task is not waiting yet, so the signal is never lost.
        self.0.notify_one();
    }
}

/// Every route: the two vendor APIs (with faults) and `/_admin` (without).
pub(crate) fn router(app: AppState) -> Router {
    let prefix = app.prefix.clone();
    let scope = |vendor, token_route| FaultScope { app: app.clone(), vendor, token_route };

    let token = Router::new()
        .route(&format!("{prefix}/oauth2/token"), post(auth::issue_token))
        .layer(from_fn_with_state(scope(Vendor::Partners, true), faults::inject));
    let partners = Router::new()
        .route(&format!("{prefix}/partners"), get(partners::list).post(partners::create))
        .route(
            &format!("{prefix}/partners/{{partner_id}}"),
            get(partners::get_one).put(partners::update).delete(partners::delete),
        )
        .layer(from_fn_with_state(scope(Vendor::Partners, false), idempotency::layer))
        .layer(from_fn_with_state(scope(Vendor::Partners, false), faults::inject));
    let organizations = Router::new()
        .route("/api/v1/organizations", get(organizations::list).post(organizations::create))
        .route(
            "/api/v1/organizations/{organization_id}",
            get(organizations::get_one).put(organizations::update).delete(organizations::delete),
        )
        .layer(from_fn_with_state(scope(Vendor::Organizations, false), idempotency::layer))
        .layer(from_fn_with_state(scope(Vendor::Organizations, false), faults::inject));

    let (p1, p2) = (prefix.clone(), prefix);
    Router::new()
        .merge(token)
        .merge(partners)
        .merge(organizations)
        .merge(admin::router())
        .method_not_allowed_fallback(move |uri: Uri| async move { vendor_of(&p1, &uri).method_not_allowed() })
        .fallback(move |uri: Uri| async move { vendor_of(&p2, &uri).route_not_found() })
        .with_state(app)
}

/// Which vendor's envelope an unknown route gets: organizations under `/api/` (unless that is the
/// partners prefix), else partners (whose prefix may even be empty).
fn vendor_of(prefix: &str, uri: &Uri) -> Vendor {
    let path = uri.path();
    if (prefix.is_empty() || !path.starts_with(prefix)) && path.starts_with("/api/") {
        Vendor::Organizations
    } else {
        Vendor::Partners
    }
}

/// Accepts connections until `shutdown` changes (or its sender is dropped), then aborts them all.
pub(crate) async fn serve(listener: TcpListener, router: Router, mut shutdown: watch::Receiver<bool>) {
    let mut connections = JoinSet::new();
    loop {
        tokio::select! {
            _ = shutdown.changed() => break,
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => match accepted {
                Ok((stream, _)) => {
                    connections.spawn(serve_connection(stream, router.clone()));
                }
                Err(e) => {
                    // Typically out of file descriptors: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                }
            },
        }
    }
    connections.shutdown().await;
}

async fn serve_connection(stream: TcpStream, router: Router) {
    if let Err(e) = stream.set_nodelay(true) {
        tracing::debug!("set_nodelay: {e}");
    }
    let control = ConnControl::default();
    let for_requests = control.clone();
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(for_requests.clone());
        let router = router.clone();
        async move { router.oneshot(request.map(axum::body::Body::new)).await }
    });
    let connection = http1::Builder::new().timer(TokioTimer::new()).serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        result = connection => {
            if let Err(e) = result {
                tracing::debug!("connection ended with an error: {e}");
            }
        }
        () = control.0.notified() => tracing::debug!("connection dropped without an answer (injected fault)"),
    }
}
