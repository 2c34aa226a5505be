//! A fault proxy of the tests' own, between the client and the stand-in. It
//! forwards bytes (it knows no record type of either side) and adds faults in
//! time that neither the client nor the stand-in can: a write held back and
//! then delivered, whether or not the client still waits for it or still
//! exists, and an answer lost after the write was delivered.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};

/// What the proxy does to writes (POST, PUT, DELETE; the token request excepted).
#[derive(Debug, Clone, Copy, Default)]
pub struct ProxyFaults {
    /// Share of writes held back before they are delivered.
    pub late_rate: f64,
    /// How long a held-back write waits, drawn uniformly from this range (ms).
    pub late_ms: (u64, u64),
    /// Share of writes delivered whose answer never reaches the client.
    pub lost_answer_rate: f64,
    /// Added to every request, reads included (ms).
    pub latency_ms: u64,
}

/// What happened, counted by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProxyStats {
    pub forwarded: u64,
    pub held_back: u64,
    /// Held-back writes delivered after the client had stopped waiting.
    pub delivered_after_client_gave_up: u64,
    pub answers_lost: u64,
}

#[derive(Default)]
struct Shared {
    faults: Mutex<ProxyFaults>,
    stats: Mutex<ProxyStats>,
    upstream: String,
    client: reqwest::Client,
}

pub struct FaultProxy {
    /// `http://127.0.0.1:port`: put the upstream's path after it.
    pub base: String,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FaultProxy {
    /// A proxy in front of `upstream` (scheme, host and port, no path).
    pub async fn start(upstream: &str) -> FaultProxy {
        let shared = Arc::new(Shared {
            upstream: upstream.trim_end_matches('/').to_string(),
            client: reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().unwrap(),
            ..Default::default()
        });
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(forward).with_state(shared.clone());
        let server = tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        FaultProxy { base, shared, server }
    }

    pub fn set(&self, faults: ProxyFaults) {
        *self.shared.faults.lock().unwrap() = faults;
    }

    pub fn stats(&self) -> ProxyStats {
        *self.shared.stats.lock().unwrap()
    }

    /// This proxy's address for an upstream URL (`http://127.0.0.1:x/v1-beta` → `http://127.0.0.1:y/v1-beta`).
    pub fn url_for(&self, upstream_url: &str) -> String {
        let path = upstream_url.strip_prefix(&self.shared.upstream).expect("a URL of the upstream");
        format!("{}{path}", self.base)
    }
}

/// Clears the flag when the client's side of a request is dropped (it gave up, or its process died).
struct Waiting(Arc<AtomicBool>);

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

async fn forward(
    State(shared): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let faults = *shared.faults.lock().unwrap();
    if faults.latency_ms > 0 {
        tokio::time::sleep(Duration::from_millis(faults.latency_ms)).await;
    }
    let write = matches!(method, Method::POST | Method::PUT | Method::DELETE) && !uri.path().ends_with("/oauth2/token");
    let late = write && fastrand::f64() < faults.late_rate;
    let lost = write && !late && fastrand::f64() < faults.lost_answer_rate;
    let delay = if late {
        Duration::from_millis(fastrand::u64(faults.late_ms.0..=faults.late_ms.1.max(faults.late_ms.0)))
    } else {
        Duration::ZERO
    };
    let waiting = Arc::new(AtomicBool::new(true));
    let _guard = Waiting(waiting.clone());
    let url = format!("{}{}", shared.upstream, uri.path_and_query().map(|p| p.as_str()).unwrap_or("/"));
    let delivery = {
        let shared = shared.clone();
        // Its own task: the write is delivered even if this handler is dropped.
        tokio::spawn(async move {
            if late {
                tokio::time::sleep(delay).await;
            }
            let mut request = shared.client.request(method, url).body(body);
            for (name, value) in &headers {
                if name != "host" && name != "content-length" {
                    request = request.header(name, value);
                }
            }
            let answer = request.send().await;
            let mut stats = shared.stats.lock().unwrap();
            stats.forwarded += 1;
            if late {
                stats.held_back += 1;
                if !waiting.load(Ordering::SeqCst) {
                    stats.delivered_after_client_gave_up += 1;
                }
            }
            answer
        })
    };
    let answer = match delivery.await {
        Ok(Ok(answer)) => answer,
        _ => return (StatusCode::BAD_GATEWAY, "upstream failed").into_response(),
    };
    if lost {
        shared.stats.lock().unwrap().answers_lost += 1;
        // The write is done; the answer never comes (the client's timeout fires).
        std::future::pending::<()>().await;
    }
    let status = answer.status();
    let mut response = Response::builder().status(status.as_u16());
    for (name, value) in answer.headers() {
        if name != "content-length" && name != "transfer-encoding" && name != "connection" {
            response = response.header(name, value);
        }
    }
    let bytes = answer.bytes().await.unwrap_or_default();
    response.body(Body::from(bytes)).unwrap()
}
