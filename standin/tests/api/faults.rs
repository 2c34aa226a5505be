//! Every fault mode, seen from a real HTTP client.

use std::time::Duration;

use crate::common::{Harness, client, json, org_body, partner_body};
use partnerbook_standin::{Config, Faults, IdempotencyMode, REPLAYED_HEADER};
use reqwest::StatusCode;

async fn with_faults(faults: Faults) -> Harness {
    Harness::start(Config { faults, ..Config::default() }).await
}

#[tokio::test]
async fn reset_before_sends_no_answer_and_stores_nothing() {
    let h = with_faults(Faults { reset_before_rate: 1.0, ..Faults::default() }).await;
    let token = h.token().await; // the token endpoint never gets resets
    let sent = h.as_dev(h.http.post(h.partners("/partners")), &token).json(&partner_body("A", "a@a.io")).send().await;
    let error = sent.expect_err("a reset, not a response");
    assert!(!error.is_timeout(), "{error}");
    let sent = h.with_key(h.http.post(h.orgs(""))).json(&org_body("o1", "O")).send().await;
    assert!(sent.is_err());
    assert!(h.standin.partners().is_empty());
    assert!(h.standin.organizations().is_empty());
    let stats = h.standin.stats();
    assert_eq!((stats.faults.reset_before, stats.writes), (2, 0));
}

#[tokio::test]
async fn reset_after_stores_but_sends_no_answer() {
    let h = with_faults(Faults { reset_after_rate: 1.0, ..Faults::default() }).await;
    let token = h.token().await;
    let sent = h.as_dev(h.http.post(h.partners("/partners")), &token).json(&partner_body("A", "a@a.io")).send().await;
    assert!(sent.is_err(), "the client sees an error");
    let sent = h.try_create_org(&org_body("o1", "O")).await;
    assert!(sent.is_err());
    assert_eq!(h.standin.partners().len(), 1, "the write was committed");
    assert_eq!(h.standin.organizations().len(), 1);
    assert_eq!(h.standin.stats().faults.reset_after, 2);

    // A failing request (no write) is answered normally: the fault needs a done write.
    let response = h.create_org(&org_body("o1", "dup")).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn timeouts_before_and_after_the_write() {
    let h = with_faults(Faults { timeout_rate: 1.0, ..Faults::default() }).await;
    let token = h.token().await;
    let impatient = client(Duration::from_millis(300));
    let sent =
        h.as_dev(impatient.post(h.partners("/partners")), &token).json(&partner_body("A", "a@a.io")).send().await;
    assert!(sent.expect_err("no answer").is_timeout());
    assert!(h.standin.partners().is_empty(), "timeout_rate does not write");

    h.standin.set_faults(Faults { timeout_after_write_rate: 1.0, ..Faults::default() });
    let sent =
        h.as_dev(impatient.post(h.partners("/partners")), &token).json(&partner_body("B", "b@b.io")).send().await;
    assert!(sent.expect_err("no answer").is_timeout());
    assert_eq!(h.standin.partners().len(), 1, "timeout_after_write writes");
    let stats = h.standin.stats();
    assert_eq!((stats.faults.timeout, stats.faults.timeout_after_write), (1, 1));
    // Held requests are closed by shutdown, which must not hang.
    tokio::time::timeout(Duration::from_secs(5), h.standin.shutdown()).await.expect("shutdown in time");
}

#[tokio::test]
async fn malformed_answers_keep_the_status_and_the_write() {
    let h = with_faults(Faults { malformed_rate: 1.0, ..Faults::default() }).await;
    let token = h.token().await;
    let response = h.create_partner(&token, &partner_body("A", "a@a.io")).await;
    assert_eq!(response.status(), StatusCode::OK);
    let text = response.text().await.expect("body");
    assert!(serde_json::from_str::<serde_json::Value>(&text).is_err(), "{text}");
    let response = h.create_org(&org_body("o1", "O")).await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert!(response.json::<serde_json::Value>().await.is_err());
    assert_eq!((h.standin.partners().len(), h.standin.organizations().len()), (1, 1));
}

#[tokio::test]
async fn rate_limits_and_server_errors_do_no_work() {
    let h = with_faults(Faults { rate_limit_rate: 1.0, retry_after_secs: 7, ..Faults::default() }).await;
    let token = h.token().await;
    let response = h.create_partner(&token, &partner_body("A", "a@a.io")).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(response.headers().get("retry-after").and_then(|v| v.to_str().ok()), Some("7"));
    assert_eq!(json(response).await["detail"][0]["code"], "too_many_requests");
    let response = h.create_org(&org_body("o1", "O")).await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(json(response).await["errorCode"], "Generic");

    h.standin.set_faults(Faults { server_error_rate: 1.0, ..Faults::default() });
    for _ in 0..5 {
        let response = h.create_org(&org_body("o1", "O")).await;
        assert!(
            [StatusCode::INTERNAL_SERVER_ERROR, StatusCode::BAD_GATEWAY, StatusCode::SERVICE_UNAVAILABLE]
                .contains(&response.status())
        );
        assert_eq!(json(response).await["errorCode"], "Generic");
    }
    // The token endpoint gets server errors too (but never resets or timeouts).
    let response = h.token_for("partnerbook-dev", "dev-secret").await;
    assert!(response.status().is_server_error());
    assert!(json(response).await["detail"].is_array());
    assert!(h.standin.partners().is_empty() && h.standin.organizations().is_empty());
    assert_eq!(h.standin.stats().faults.server_error, 6);
}

#[tokio::test]
async fn latency_is_added() {
    let h = with_faults(Faults { latency_ms: 150, ..Faults::default() }).await;
    let started = std::time::Instant::now();
    let _ = h.with_key(h.http.get(h.orgs(""))).send().await.expect("list");
    assert!(started.elapsed() >= Duration::from_millis(150));
    assert_eq!(h.standin.stats().faults.latency, 1);
}

#[tokio::test]
async fn idempotency_honour_replays_and_ignore_creates_twice() {
    let h = with_faults(Faults { idempotency: IdempotencyMode::Honour, ..Faults::default() }).await;
    let token = h.token().await;
    let send = |key: &str| {
        h.as_dev(h.http.post(h.partners("/partners")), &token)
            .header("Idempotency-Key", key)
            .json(&partner_body("A", "a@a.io"))
            .send()
    };
    let first = send("k1").await.expect("first");
    assert_eq!(first.status(), StatusCode::OK);
    assert!(!first.headers().contains_key(REPLAYED_HEADER));
    let first = json(first).await;
    let again = send("k1").await.expect("again");
    assert_eq!(again.status(), StatusCode::OK);
    assert_eq!(again.headers().get(REPLAYED_HEADER).and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(json(again).await, first);
    assert_eq!(h.standin.partners().len(), 1);

    // The nasty case: the write lands, the answer is lost, the retry replays it.
    h.standin.set_faults(Faults { idempotency: IdempotencyMode::Honour, reset_after_rate: 1.0, ..Faults::default() });
    assert!(send("k2").await.is_err());
    h.standin.set_faults(Faults { idempotency: IdempotencyMode::Honour, ..Faults::default() });
    let retried = send("k2").await.expect("retry");
    assert_eq!(retried.headers().get(REPLAYED_HEADER).and_then(|v| v.to_str().ok()), Some("true"));
    assert_eq!(h.standin.partners().len(), 2);
    assert_eq!(h.standin.stats().idempotent_replays, 2);

    // Like the real vendors: the key is ignored and a retry creates a duplicate.
    h.standin.set_faults(Faults::default());
    assert_eq!(send("k3").await.expect("send").status(), StatusCode::OK);
    assert_eq!(send("k3").await.expect("send").status(), StatusCode::OK);
    assert_eq!(h.standin.partners().len(), 4);
}

#[tokio::test]
async fn faults_skip_admin_routes_and_token_resets() {
    let h = with_faults(Faults { reset_before_rate: 1.0, timeout_rate: 1.0, malformed_rate: 1.0, ..Faults::default() })
        .await;
    let _ = h.token().await;
    let response = h.http.get(h.admin("/faults")).send().await.expect("admin answers");
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(json(response).await["reset_before_rate"], 1.0);
}

#[tokio::test]
async fn chaos_with_a_seed_is_reproducible() {
    async fn outcomes(seed: u64) -> Vec<String> {
        let h = Harness::start(Config {
            faults: Faults { timeout_hold_secs: 0, ..Faults::chaos() },
            seed,
            ..Config::default()
        })
        .await;
        let mut seen = Vec::new();
        for _ in 0..30 {
            let sent = h.with_key(h.http.get(h.orgs(""))).send().await;
            seen.push(match sent {
                Ok(response) => response.status().as_u16().to_string(),
                Err(_) => "error".to_owned(),
            });
        }
        seen
    }
    let a = outcomes(7).await;
    assert_eq!(a, outcomes(7).await);
    assert!(a.iter().any(|o| o != "200"), "chaos injects something in 30 requests: {a:?}");
}
