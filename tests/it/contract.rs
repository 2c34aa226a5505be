//! The contract checked, not just written: every request the client makes
//! and every answer the stand-in gives in a sync goes through Prism's
//! validating proxy (`tests/contract/`, from npm), built from the contract
//! files: `api/partners.openapi.yaml`, `api/organizations.openapi.yaml`, and
//! Inspectorio's published profile in `../shared/reference/`. With `--errors`
//! Prism answers any request or response that breaks its schema with an
//! error instead, so a violation shows in the sync and in Prism's log.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support;
use partnerbook::store::{Organizations, OutboxState, Partners};
use partnerbook::sync::{RetryPolicy, SyncConfig, SyncReport, sync_once};
use partnerbook::{OrganizationDraft, PartnerDraft, Store};
use partnerbook_standin::{Faults, StandIn};
use serde_json::json;

fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// A Prism proxy in front of `upstream`, validating against `spec`; killed when dropped.
struct Prism {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Drop for Prism {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Prism {
    /// `strict`: answer a violation with an error (`--errors`); otherwise pass it through and log it.
    fn start(spec: &Path, upstream: &str, log: PathBuf, strict: bool) -> Prism {
        let prism = repo().join("tests/contract/node_modules/.bin/prism");
        assert!(
            prism.exists(),
            "Prism is missing: run `npm ci --prefix tests/contract` (./test.sh does it) to install the contract checker"
        );
        assert!(spec.exists(), "no contract file at {}", spec.display());
        let port = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let out = std::fs::File::create(&log).unwrap();
        let child = Command::new(prism)
            .arg("proxy")
            .arg(spec)
            .arg(upstream)
            .args(["-h", "127.0.0.1", "-p", &port.to_string()])
            .args(strict.then_some("--errors"))
            .stdin(Stdio::null())
            .stdout(out.try_clone().unwrap())
            .stderr(out)
            .spawn()
            .unwrap();
        let prism = Prism { child, base: format!("http://127.0.0.1:{port}"), log };
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < Duration::from_secs(90), "Prism did not start: {}", prism.log_text());
            std::thread::sleep(Duration::from_millis(200));
        }
        prism
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Prism's lines about invalid requests or answers.
    fn violations(&self) -> Vec<String> {
        self.log_text()
            .lines()
            // Prism marks an invalid request or answer with ✖ and says "Violation";
            // its start-up list of routes may show example paths with any word in them.
            .filter(|l| l.contains('✖') || l.contains("Violation"))
            .map(str::to_string)
            .collect()
    }

    /// How many requests it checked.
    fn requests(&self) -> usize {
        self.log_text().lines().filter(|l| l.contains("Request received")).count()
    }
}

async fn standin() -> StandIn {
    support::standin(Faults::none()).await
}

fn config(partners: Option<String>, organizations: Option<String>) -> SyncConfig {
    SyncConfig {
        concurrency: 4,
        retry: RetryPolicy { base: Duration::from_millis(5), cap: Duration::from_millis(20) },
        wait_for_retries: Duration::from_millis(200),
        request_timeout: Duration::from_secs(10),
        ..support::sync_config(partners, organizations)
    }
}

fn partner(i: usize) -> PartnerDraft {
    PartnerDraft {
        company_name: format!("Contract {i} <b>&</b> Ünïcode"),
        sales_amount: (i * 1000).to_string(),
        partner_type: if i % 2 == 0 { "customer" } else { "supplier" }.into(),
        email: format!("c{i}@contract.example"),
        frequency: "monthly".into(),
        payment_terms: "net 30".into(),
    }
}

fn org(i: usize) -> OrganizationDraft {
    serde_json::from_value(json!({
        "name": format!("Contract org {i}"), "type": "S", "address": "1 Main St", "address2": "Unit 2",
        "city": "Da Nang", "country": "VN", "phone": "+84 1", "billing_email": "bill@org.example",
        "description": "checked", "location": {"latitude": "16.05", "longitude": "108.2"},
        "contacts": [{"firstName": format!("Lan {i}"), "lastName": "Nguyen", "email": "lan@org.example"},
                     {"firstName": "Minh"}]
    }))
    .unwrap()
}

async fn sync(store: &mut Store, config: &SyncConfig) -> SyncReport {
    let report = sync_once(store, config, |_| {}).await.unwrap();
    assert!(report.errors.is_empty(), "{report:?}");
    assert_eq!(report.rejected, 0, "{report:?}: {:?}", store.outbox().all().unwrap());
    report
}

/// Creates, edits, deletes and pulls of both record kinds: the calls a sync makes.
async fn every_call(store: &mut Store, standin: &StandIn, config: &SyncConfig) {
    let mut partners = Vec::new();
    if config.partners.is_some() {
        for i in 0..3 {
            partners.push(store.create_partner(&partner(i), None).unwrap().key);
        }
    }
    let mut orgs = Vec::new();
    if config.organizations.is_some() {
        for i in 0..2 {
            orgs.push(store.create_organization(&org(i)).unwrap().key);
        }
    }
    sync(store, config).await;
    if let Some(&key) = partners.first() {
        let mut d = store.get::<Partners>(key).unwrap().fields.to_draft();
        d.sales_amount = "2147483647".into();
        store.update_partner(key, &d).unwrap();
        store.delete::<Partners>(partners[1]).unwrap();
        let id = store.get::<Partners>(partners[2]).unwrap().server.id.unwrap();
        standin.edit_partner(id, json!({"payment_terms": "net 60"}));
    }
    if let Some(&key) = orgs.first() {
        let mut d = store.get::<Organizations>(key).unwrap().fields.to_draft();
        d.city = Some("Hue".into());
        d.location = None;
        store.update_organization(key, &d).unwrap();
        store.delete::<Organizations>(orgs[1]).unwrap();
    }
    sync(store, config).await;
    sync(store, config).await;
    let pending: Vec<_> =
        store.outbox().all().unwrap().into_iter().filter(|e| e.state == OutboxState::Pending).collect();
    assert!(pending.is_empty(), "{pending:#?}");
    if partners.len() > 2 {
        assert_eq!(store.get::<Partners>(partners[2]).unwrap().fields.payment_terms, "net 60");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_request_and_answer_matches_our_contract() {
    let s = standin().await;
    let dir = tempfile::tempdir().unwrap();
    let partners =
        Prism::start(&repo().join("api/partners.openapi.yaml"), &s.partners_url(), dir.path().join("p.log"), true);
    let orgs = Prism::start(
        &repo().join("api/organizations.openapi.yaml"),
        &s.organizations_url(),
        dir.path().join("o.log"),
        true,
    );
    let mut store = Store::open(dir.path().join("c.db")).unwrap();
    every_call(&mut store, &s, &config(Some(partners.base.clone()), Some(orgs.base.clone()))).await;
    for prism in [&partners, &orgs] {
        let v = prism.violations();
        assert!(v.is_empty(), "the contract was broken:\n{}", v.join("\n"));
        eprintln!("{}: {} requests checked, no violation", prism.log.display(), prism.requests());
        assert!(prism.requests() >= 5);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn organization_calls_match_inspectorios_published_profile() {
    let s = standin().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = repo().join("../shared/reference/inspectorio-organization-api-openapi.yml");
    let orgs = Prism::start(&spec, &s.organizations_url(), dir.path().join("i.log"), false);
    let mut store = Store::open(dir.path().join("i.db")).unwrap();
    every_call(&mut store, &s, &config(None, Some(orgs.base.clone()))).await;
    // The one deviation allowed, and why: the profile gives DELETE's 204 an
    // `application/json` body, but a 204 has no body (RFC 9110 §15.3.5), so
    // no server sends a media type with it. Every other line counts.
    let v: Vec<String> = orgs
        .violations()
        .into_iter()
        .filter(|l| !l.contains(r#"The received media type "" does not match the one specified in the current response: application/json"#))
        .collect();
    assert!(v.is_empty(), "Inspectorio's schema was broken:\n{}\n\nPrism's log:\n{}", v.join("\n"), orgs.log_text());
    eprintln!("Inspectorio's profile: {} requests checked, no violation", orgs.requests());
}
