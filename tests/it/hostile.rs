//! Sync against a small hostile server of this file's own: it shares no type
//! with the client or with the stand-in (records are raw JSON here), so a
//! wrong assumption cannot hide on both sides. Each mode is one bad answer a
//! real server or a man in the middle can give; each test shows what that
//! answer must not do, then ends the same way: once the server behaves, the
//! queue drains, every local record reads back, and nothing went to a host
//! other than the one configured.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::support::{self, ORG};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use chrono::Utc;
use partnerbook::export::{ExportOptions, export_partners};
use partnerbook::remote::client::{OrganizationsConfig, PartnersConfig};
use partnerbook::settings::{PartnersApiDraft, RemoteSettingsDraft};
use partnerbook::store::{
    ConflictKind, Entity, Organizations, OutboxState, Paging, PartnerQuery, Partners, Resolution,
};
use partnerbook::sync::{RetryPolicy, SyncConfig, SyncFailure, SyncReport, sync_once};
use partnerbook::{OrganizationDraft, PartnerDraft, PartnerPatch, Store};
use serde_json::{Value, json};
use uuid::Uuid;

/// What the server does wrong; `Behave` is an honest, minimal API.
#[derive(Clone, Debug, Default)]
enum Mode {
    #[default]
    Behave,
    /// `POST /partners` answers 429 with this `Retry-After`.
    RetryAfter(&'static str),
    /// The token answer carries this `expires_in`.
    TokenExpiresIn(Value),
    /// Every request is sent elsewhere with this status (to `Hostile::elsewhere`).
    Redirect(u16),
    /// Partner lists claim a huge total and send the same full page at every offset.
    SamePageForever,
    /// Partner lists claim a huge total and send fresh records at every offset.
    NewPagesForever,
    /// Organization lists always say there are two more pages.
    GrowingOrgTotal,
    /// Partner lists answer with a body that never ends.
    EndlessBody,
    /// Lists leave out this record; looking it up answers with this status.
    Hide { id: String, lookup: u16 },
    /// Lists leave out this partner and ignore `partner_ids=` (a page of everything else).
    HideIgnoringIdFilter(String),
    /// Partner updates are applied, then answered only after two seconds (past the client's timeout).
    SlowUpdates,
    /// Partner lists say nothing of their total (no `total_items`).
    NoTotals,
}

#[derive(Default)]
struct World {
    mode: Mode,
    /// Partners as stored, in creation order (raw JSON, possibly invalid).
    partners: Vec<Value>,
    organizations: BTreeMap<String, Value>,
    /// Every request, as "METHOD path".
    seen: Vec<String>,
    /// Where `Mode::Redirect` points.
    elsewhere: String,
    /// Requests answered before `POST /partners` replies (to hold answers back).
    create_delay: Duration,
    /// How long `POST /partners` waits before it writes (a request that
    /// lands after the client gave up on it).
    commit_delay: Duration,
    /// From this moment the server's clock (its `Date` header) runs at a
    /// quarter of real speed: seen from here, this machine's clock runs ahead.
    slow_clock_since: Option<chrono::DateTime<Utc>>,
    /// How long each partner list waits before it answers, and how many
    /// were waiting at once, at most (how hard a scan hits the server).
    list_delay: Duration,
    lists_waiting: usize,
    most_lists_waiting: usize,
}

type Shared = Arc<Mutex<World>>;

struct Hostile {
    base: String,
    world: Shared,
}

impl Hostile {
    async fn start() -> Hostile {
        let world: Shared = Arc::default();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let app = Router::new().fallback(handle).with_state(world.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Hostile { base, world }
    }

    fn set(&self, mode: Mode) {
        self.world.lock().unwrap().mode = mode;
    }

    fn seen(&self) -> Vec<String> {
        self.world.lock().unwrap().seen.clone()
    }

    fn partners(&self) -> Vec<Value> {
        self.world.lock().unwrap().partners.clone()
    }
}

fn now_text() -> String {
    Utc::now().format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

fn json_response(status: u16, body: Value) -> Response {
    (StatusCode::from_u16(status).unwrap(), [("content-type", "application/json")], body.to_string()).into_response()
}

fn query_pairs(uri: &Uri) -> Vec<(String, String)> {
    url::form_urlencoded::parse(uri.query().unwrap_or_default().as_bytes()).into_owned().collect()
}

fn fake_partner(n: usize) -> Value {
    json!({"id": Uuid::new_v4().to_string(), "company_name": format!("Endless {n}"), "sales_amount": 1,
           "partner_type": "customer", "email": format!("endless{n}@hostile.example"), "frequency": "weekly",
           "payment_terms": "net 30", "created_at": now_text(), "updated_at": now_text(),
           "invitation_status": null, "guest_organization_id": null})
}

async fn handle(state: State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let slow_since = state.0.lock().unwrap().slow_clock_since;
    let mut response = answer(state, method, uri, headers, body).await;
    if let Some(since) = slow_since {
        let server_now = since + (Utc::now() - since) / 4;
        let date = server_now.format("%a, %d %b %Y %H:%M:%S GMT").to_string();
        response.headers_mut().insert("date", date.parse().unwrap());
    }
    response
}

async fn answer(State(world): State<Shared>, method: Method, uri: Uri, headers: HeaderMap, body: Bytes) -> Response {
    let path = uri.path().to_string();
    let (mode, delay) = {
        let mut w = world.lock().unwrap();
        w.seen.push(format!("{method} {path}"));
        (w.mode.clone(), w.create_delay)
    };
    if let Mode::Redirect(status) = mode {
        let to = format!("{}{}", world.lock().unwrap().elsewhere, uri);
        return (StatusCode::from_u16(status).unwrap(), [("location", to)]).into_response();
    }
    let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    match (method.clone(), segments.as_slice()) {
        (Method::POST, ["p", "oauth2", "token"]) => {
            if body["client_secret"] != "s3cret" {
                return json_response(401, json!({"detail": "bad client"}));
            }
            let expires_in = match mode {
                Mode::TokenExpiresIn(v) => v,
                _ => json!(3600),
            };
            json_response(200, json!({"access_token": "tok", "token_type": "bearer", "expires_in": expires_in}))
        }
        (_, ["p", ..]) if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer tok") => {
            json_response(401, json!({"detail": "no token"}))
        }
        (Method::POST, ["p", "partners"]) => {
            if let Mode::RetryAfter(value) = mode {
                return (StatusCode::TOO_MANY_REQUESTS, [("retry-after", value)], "slow down").into_response();
            }
            let commit_delay = world.lock().unwrap().commit_delay;
            // The write goes on when the client hangs up (a task of its own), as a real server's would.
            let writer = world.clone();
            let write = tokio::spawn(async move {
                tokio::time::sleep(commit_delay).await;
                let mut record = body.clone();
                let t = now_text();
                record["id"] = json!(Uuid::new_v4().to_string());
                record["created_at"] = json!(t);
                record["updated_at"] = json!(t);
                record["invitation_status"] = Value::Null;
                record["guest_organization_id"] = Value::Null;
                writer.lock().unwrap().partners.push(record.clone());
                record
            });
            let record = write.await.unwrap();
            if !delay.is_zero() {
                tokio::time::sleep(delay).await;
            }
            json_response(200, record)
        }
        (Method::GET, ["p", "partners"]) => {
            let delay = {
                let mut w = world.lock().unwrap();
                w.lists_waiting += 1;
                w.most_lists_waiting = w.most_lists_waiting.max(w.lists_waiting);
                w.list_delay
            };
            tokio::time::sleep(delay).await;
            world.lock().unwrap().lists_waiting -= 1;
            list_partners(&world, &mode, &uri)
        }
        (Method::PUT, ["p", "partners", id]) => {
            let answer = {
                let mut w = world.lock().unwrap();
                match w.partners.iter_mut().find(|p| p["id"] == *id) {
                    None => return json_response(404, json!({"detail": "Not Found"})),
                    Some(record) => {
                        for (k, v) in body.as_object().into_iter().flatten() {
                            record[k] = v.clone();
                        }
                        record["updated_at"] = json!(now_text());
                        record.clone()
                    }
                }
            };
            if let Mode::SlowUpdates = mode {
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
            json_response(200, answer)
        }
        (Method::GET, ["o", "api", "v1", "organizations"]) => list_organizations(&world, &mode, &uri),
        (Method::GET, ["o", "api", "v1", "organizations", id]) => {
            if let Mode::Hide { id: hidden, lookup } = &mode
                && hidden == id
            {
                return json_response(*lookup, json!({"errorCode": "X", "message": "no"}));
            }
            match world.lock().unwrap().organizations.get(*id) {
                Some(o) => json_response(200, json!({"data": o})),
                None => json_response(404, json!({"errorCode": "NotFound", "message": "not found"})),
            }
        }
        (Method::POST, ["o", "api", "v1", "organizations"]) => {
            let mut record = body.clone();
            let t = Utc::now().format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string();
            record["createdAt"] = json!(t);
            record["updatedAt"] = json!(t);
            record["linkedTo"] = json!("");
            let id = record["id"].as_str().unwrap_or_default().to_string();
            world.lock().unwrap().organizations.insert(id, record.clone());
            json_response(201, json!({"data": record}))
        }
        (Method::PUT, ["o", "api", "v1", "organizations", id]) => {
            let mut w = world.lock().unwrap();
            let Some(old) = w.organizations.get(*id).cloned() else {
                return json_response(404, json!({"errorCode": "NotFound", "message": "not found"}));
            };
            let mut record = body.clone();
            record["id"] = json!(id);
            record["createdAt"] = old["createdAt"].clone();
            record["updatedAt"] = json!(Utc::now().format("%Y-%m-%d %H:%M:%S%.6f+00:00").to_string());
            record["linkedTo"] = json!("");
            w.organizations.insert(id.to_string(), record.clone());
            json_response(200, json!({"data": record}))
        }
        _ => json_response(404, json!({"detail": format!("no route {method} {path}")})),
    }
}

fn list_partners(world: &Shared, mode: &Mode, uri: &Uri) -> Response {
    let q = query_pairs(uri);
    let get = |k: &str| q.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let offset: usize = get("offset").and_then(|v| v.parse().ok()).unwrap_or(0);
    let limit: usize = get("limit").and_then(|v| v.parse().ok()).unwrap_or(100).min(100);
    match mode {
        Mode::SamePageForever => {
            let page: Vec<Value> = (0..limit).map(|n| fake_partner(n)).collect();
            // The same ids every time: the page is built once per test run.
            let mut w = world.lock().unwrap();
            if w.partners.len() < limit {
                w.partners = page;
            }
            let page: Vec<Value> = w.partners.iter().take(limit).cloned().collect();
            return json_response(200, json!({"items": page, "total_items": 1_000_000_000_000u64}));
        }
        Mode::NewPagesForever => {
            let page: Vec<Value> = (0..limit).map(|n| fake_partner(offset + n)).collect();
            return json_response(200, json!({"items": page, "total_items": 1_000_000_000_000u64}));
        }
        Mode::EndlessBody => {
            let chunk = Bytes::from(vec![b' '; 64 * 1024]);
            let mut stream = vec![Ok::<_, Infallible>(Bytes::from_static(b"{\"items\": ["))];
            stream.extend(std::iter::repeat_n(Ok(chunk), 1)); // first chunk, then forever below
            let endless = futures_util::stream::iter(stream)
                .chain(futures_util::stream::repeat_with(|| Ok::<_, Infallible>(Bytes::from(vec![b' '; 64 * 1024]))));
            return Response::builder()
                .status(200)
                .header("content-type", "application/json")
                .body(Body::from_stream(endless))
                .unwrap();
        }
        _ => {}
    }
    let w = world.lock().unwrap();
    let ids: Vec<String> = q.iter().filter(|(k, _)| k == "partner_ids").map(|(_, v)| v.clone()).collect();
    let search = get("search_text").map(|s| s.to_lowercase());
    let (hidden, ids) = match mode {
        Mode::Hide { id, .. } => (Some(id.clone()), ids),
        Mode::HideIgnoringIdFilter(id) => (Some(id.clone()), vec![]),
        _ => (None, ids),
    };
    let matching: Vec<Value> = w
        .partners
        .iter()
        .filter(|p| hidden.as_deref() != p["id"].as_str())
        .filter(|p| ids.is_empty() || ids.iter().any(|i| Some(i.as_str()) == p["id"].as_str()))
        .filter(|p| search.as_ref().is_none_or(|s| p["email"].as_str().unwrap_or_default().to_lowercase().contains(s)))
        .cloned()
        .collect();
    let page: Vec<Value> = matching.iter().skip(offset).take(limit).cloned().collect();
    if matches!(mode, Mode::NoTotals) {
        return json_response(200, json!({"items": page}));
    }
    json_response(200, json!({"items": page, "total_items": matching.len()}))
}

fn list_organizations(world: &Shared, mode: &Mode, uri: &Uri) -> Response {
    let q = query_pairs(uri);
    let get = |k: &str| q.iter().find(|(n, _)| n == k).and_then(|(_, v)| v.parse::<usize>().ok());
    let (offset, limit) = (get("offset").unwrap_or(0), get("limit").unwrap_or(100).min(100));
    if let Mode::GrowingOrgTotal = mode {
        let page: Vec<Value> = (0..limit)
            .map(|n| {
                json!({"id": Uuid::new_v4().to_string(), "name": format!("Growing {}", offset + n), "type": "F",
                       "address": "1 Road", "country": "VN", "phone": "1", "linkedTo": "",
                       "contacts": [{"firstName": "A"}], "createdAt": "2021-06-02 12:34:02.861000+00:00",
                       "updatedAt": "2021-06-02 12:34:02.861000+00:00"})
            })
            .collect();
        return json_response(
            200,
            json!({"data": page, "limit": limit, "offset": offset, "total": offset + 3 * limit}),
        );
    }
    let w = world.lock().unwrap();
    let hidden = match mode {
        Mode::Hide { id, .. } => Some(id.clone()),
        _ => None,
    };
    let all: Vec<Value> = w.organizations.values().filter(|o| hidden.as_deref() != o["id"].as_str()).cloned().collect();
    let page: Vec<Value> = all.iter().skip(offset).take(limit).cloned().collect();
    json_response(200, json!({"data": page, "limit": limit, "offset": offset, "total": all.len()}))
}

use futures_util::StreamExt as _;

/// The server under test and a second one standing for "another host": nothing may ever reach it.
struct Servers {
    hostile: Hostile,
    elsewhere: Hostile,
}

async fn servers() -> Servers {
    let hostile = Hostile::start().await;
    let elsewhere = Hostile::start().await;
    hostile.world.lock().unwrap().elsewhere = elsewhere.base.clone();
    Servers { hostile, elsewhere }
}

fn config(s: &Servers) -> SyncConfig {
    SyncConfig {
        partners: Some(PartnersConfig {
            base_url: format!("{}/p", s.hostile.base),
            client_id: "pb".into(),
            client_secret: "s3cret".into(),
            requester_org_id: ORG,
            target_org_ids: vec![],
            assumed_ops: false,
        }),
        organizations: Some(OrganizationsConfig { base_url: format!("{}/o", s.hostile.base), api_key: "k".into() }),
        concurrency: 4,
        retry: RetryPolicy { base: Duration::from_millis(5), cap: Duration::from_millis(50) },
        wait_for_retries: Duration::from_millis(500),
        request_timeout: Duration::from_secs(5),
        read: partnerbook::sync::cadence::Read::Full,
        // This server writes at once or not at all, never late: a short settle window is safe here.
        settle_window: Some(Duration::from_millis(200)),
        ..SyncConfig::default()
    }
}

/// [`config`] with updates sent too: this server takes every operation it is sent.
fn config_with_updates(s: &Servers) -> SyncConfig {
    let mut c = config(s);
    c.partners.as_mut().unwrap().assumed_ops = true;
    c
}

/// The partner's id on the server, once it was sent.
fn server_id(store: &Store, key: Uuid) -> String {
    store.get::<Partners>(key).unwrap().server.id.expect("sent").to_string()
}

/// A user's edit here: the partner is now visited weekly.
fn weekly_here(store: &mut Store, key: Uuid) {
    let change = PartnerPatch { frequency: Some("weekly".into()), ..PartnerPatch::default() };
    store.edit_partner(key, &change).unwrap();
}

fn partner(i: usize) -> PartnerDraft {
    PartnerDraft {
        company_name: format!("Hostile test {i}"),
        sales_amount: (i * 10).to_string(),
        partner_type: "supplier".into(),
        email: format!("h{i}@partner.example"),
        frequency: "monthly".into(),
        payment_terms: "net 30".into(),
    }
}

fn org(i: usize) -> OrganizationDraft {
    serde_json::from_value(json!({"name": format!("Org {i}"), "type": "F", "address": "1 Main St", "country": "VN",
        "phone": "+84 1", "contacts": [{"firstName": "Lan"}]}))
    .unwrap()
}

/// One sync that must end within a minute (a hostile server must not keep it going for ever).
async fn sync(store: &mut Store, config: &SyncConfig) -> Result<SyncReport, SyncFailure> {
    tokio::time::timeout(Duration::from_secs(60), sync_once(store, config, |_| {}))
        .await
        .expect("a sync run ends, whatever the server sends")
}

/// Every local record and every outbox row reads back, and the list exports.
fn assert_readable(store: &Store, dir: &tempfile::TempDir) {
    let partners = store.list_partners(&PartnerQuery { paging: Paging::first(10_000), ..Default::default() }).unwrap();
    for p in &partners.items {
        store.get::<Partners>(p.key).unwrap();
    }
    let orgs = store.list_organizations(&Default::default()).unwrap();
    for o in &orgs.items {
        store.get::<Organizations>(o.key).unwrap();
    }
    store.outbox().all().unwrap();
    store.outbox().summary().unwrap();
    let out = dir.path().join("export.csv");
    export_partners(store, &PartnerQuery::default(), &ExportOptions::default(), &out, |_| true).unwrap();
}

/// The common ending: the server behaves again, the queue drains, the records
/// read back, the server holds every local partner once, and the other host saw nothing.
async fn behave_and_drain(s: &Servers, store: &mut Store, dir: &tempfile::TempDir) {
    s.hostile.set(Mode::Behave);
    let config = config(s);
    for _ in 0..20 {
        sync(store, &config).await.unwrap();
        if store.outbox().all().unwrap().iter().all(|e| e.state != OutboxState::Pending) {
            break;
        }
    }
    let left: Vec<_> = store.outbox().all().unwrap();
    assert!(left.is_empty(), "the queue did not drain: {left:#?}");
    assert_readable(store, dir);
    let local =
        store.list_partners(&PartnerQuery { paging: Paging::first(10_000), ..Default::default() }).unwrap().items;
    let remote = s.hostile.partners();
    for p in &local {
        let id = p.server.id.expect("every local partner is on the server").to_string();
        let copies = remote.iter().filter(|r| r["id"] == id.as_str()).count();
        assert_eq!(copies, 1, "{} is on the server {copies} times", p.fields.company_name);
        let same_email = remote.iter().filter(|r| r["email"] == p.fields.email.as_str()).count();
        assert_eq!(same_email, 1, "{} has duplicates on the server", p.fields.email);
    }
    assert!(s.elsewhere.seen().is_empty(), "requests reached another host: {:?}", s.elsewhere.seen());
}

async fn retry_after_does_not_jam_the_queue(value: &'static str) {
    let s = servers().await;
    let (dir, mut store) = support::temp_store("h.db");
    store.create_partner(&partner(1), None).unwrap();
    s.hostile.set(Mode::RetryAfter(value));
    let before = Utc::now();
    let report = sync(&mut store, &config(&s)).await.unwrap();
    assert_eq!(report.sent, 0);
    // The wait is the retry policy's cap at most, whatever the server asked for.
    let entry = store.outbox().all().unwrap().remove(0);
    let at = entry.next_attempt_at.expect("a retry time is set");
    assert!(at <= before + chrono::Duration::seconds(2), "retry parked until {at}");
    // The queue, the list, Retry and Discard all still work.
    assert_readable(&store, &dir);
    store.outbox_mut().retry(entry.seq).unwrap();
    let second = store.create_partner(&partner(2), None).unwrap();
    let seq = store.outbox().all().unwrap().iter().find(|e| e.record_key == second.key).unwrap().seq;
    store.outbox_mut().discard(seq).unwrap();
    behave_and_drain(&s, &mut store, &dir).await;
    assert_eq!(s.hostile.partners().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_of_300000000000_seconds_waits_the_cap_only() {
    retry_after_does_not_jam_the_queue("300000000000").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_of_10000000000000_seconds_does_not_panic() {
    retry_after_does_not_jam_the_queue("10000000000000").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_as_a_date_in_year_9999_waits_the_cap_only() {
    retry_after_does_not_jam_the_queue("Fri, 31 Dec 9999 23:59:59 GMT").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_that_is_garbage_is_ignored() {
    retry_after_does_not_jam_the_queue("soon, maybe \u{7f}").await;
}

/// A database written by the build before retry times became integers, with
/// what it stored for `Retry-After: 300000000000` (a year past 9999, which
/// its own reader refused). After the upgrade that change is due now and
/// the queue, the list, Retry and Discard work; an ordinary retry time keeps
/// its instant to the millisecond.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_retry_time_counts_as_due_now() {
    let s = servers().await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("old.db");
    let version_6 = rusqlite_migration::Migrations::new(
        partnerbook::store::migration_sql()[..6].iter().map(|sql| rusqlite_migration::M::up(sql)).collect(),
    );
    let (parked, later) = {
        let mut old = Store::open_migrating(&path, &Default::default(), &version_6).unwrap();
        let parked = old.create_partner(&partner(1), None).unwrap().key;
        let later = old.create_partner(&partner(2), None).unwrap().key;
        let c = old.connection();
        c.execute(
            "UPDATE outbox SET next_attempt_at = '+11476-05-05T10:37:05.000Z', attempts = 1 WHERE record_key = ?1",
            [parked.to_string()],
        )
        .unwrap();
        c.execute(
            "UPDATE outbox SET next_attempt_at = '2999-01-02T03:04:05.678Z' WHERE record_key = ?1",
            [later.to_string()],
        )
        .unwrap();
        (parked, later)
    };
    let mut store = Store::open(&path).unwrap();
    assert_readable(&store, &dir);
    let outbox = store.outbox().all().unwrap();
    let entry = |key| outbox.iter().find(|e| e.record_key == key).unwrap().clone();
    assert_eq!(entry(parked).next_attempt_at, None, "an unreadable time is due now");
    assert_eq!(entry(later).next_attempt_at.unwrap().to_rfc3339(), "2999-01-02T03:04:05.678+00:00");
    store.outbox_mut().retry(entry(later).seq).unwrap();
    let doomed = store.create_partner(&partner(3), None).unwrap();
    let seq = store.outbox().all().unwrap().iter().find(|e| e.record_key == doomed.key).unwrap().seq;
    store.outbox_mut().discard(seq).unwrap();
    behave_and_drain(&s, &mut store, &dir).await;
    assert_eq!(s.hostile.partners().len(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_records_from_the_server_are_left_out_and_the_push_goes_on() {
    let s = servers().await;
    let (dir, mut store) = support::temp_store("h.db");
    let bad_amount = Uuid::new_v4().to_string();
    let bad_time = Uuid::new_v4().to_string();
    let bad_country = Uuid::new_v4().to_string();
    {
        let mut w = s.hostile.world.lock().unwrap();
        let mut negative = fake_partner(1);
        negative["id"] = json!(bad_amount);
        negative["sales_amount"] = json!(-1);
        let mut far = fake_partner(2);
        far["id"] = json!(bad_time);
        far["updated_at"] = json!("+12345-01-01 00:00:00");
        w.partners.extend([negative, far, fake_partner(3), json!({"id": "not even a uuid"})]);
        let org = json!({"id": bad_country, "name": "Nowhere", "type": "F", "address": "1", "country": "ZZ",
                         "phone": "1", "contacts": [{"firstName": "A"}], "location": {"latitude": 500, "longitude": 0}});
        w.organizations.insert(bad_country.clone(), org);
    }
    store.create_partner(&partner(1), None).unwrap();
    store.create_organization(&org(1)).unwrap();
    let report = sync(&mut store, &config(&s)).await.unwrap();
    assert_eq!(report.sent, 2, "the local changes were pushed: {report:?}");
    assert_eq!(report.pulled_new, 1, "the one valid server partner came in: {report:?}");
    let named = report.invalid_from_server.join("\n");
    for id in [&bad_amount, &bad_time, &bad_country] {
        assert!(named.contains(id.as_str()), "{id} is named in {named}");
    }
    assert!(named.contains("sales_amount"), "the reason is given: {named}");
    assert_eq!(report.invalid_from_server.len(), 4, "{named}");
    assert_readable(&store, &dir);
    // The invalid ones stay on the server, untouched; nothing local was deleted.
    s.hostile.world.lock().unwrap().partners.retain(|p| p["sales_amount"] != -1 && p["id"] != bad_time.as_str());
    s.hostile.world.lock().unwrap().partners.retain(|p| p["id"] != "not even a uuid");
    s.hostile.world.lock().unwrap().organizations.remove(&bad_country);
    behave_and_drain(&s, &mut store, &dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redirects_are_not_followed_to_another_host() {
    for status in [301, 302, 307, 308] {
        let s = servers().await;
        let (dir, mut store) = support::temp_store("h.db");
        store.create_partner(&partner(1), None).unwrap();
        store.create_organization(&org(1)).unwrap();
        s.hostile.set(Mode::Redirect(status));
        let report = sync(&mut store, &config(&s)).await.unwrap();
        assert_eq!(report.sent, 0);
        assert!(s.elsewhere.seen().is_empty(), "{status}: requests reached another host: {:?}", s.elsewhere.seen());
        let errors = format!("{:?} {:?}", report.errors, store.outbox().all().unwrap());
        assert!(errors.contains("redirect"), "{status}: the user is told the server redirected: {errors}");
        behave_and_drain(&s, &mut store, &dir).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_address_with_a_user_name_is_refused_before_anything_is_sent() {
    let s = servers().await;
    let (_dir, mut store) = support::temp_store("h.db");
    store.create_partner(&partner(1), None).unwrap();
    let elsewhere = s.elsewhere.base.trim_start_matches("http://").to_string();
    // Parsed by a URL library these go to `elsewhere`, not to localhost.
    for url in [format!("http://localhost:1@{elsewhere}/p"), format!("http://127.0.0.1:@{elsewhere}/p")] {
        let draft = RemoteSettingsDraft {
            partners: PartnersApiDraft { base_url: url.clone(), ..Default::default() },
            ..Default::default()
        };
        assert!(draft.validate().is_err(), "{url} is refused in Settings");
        let mut c = config(&s);
        c.partners.as_mut().unwrap().base_url = url.clone();
        c.organizations = None;
        let outcome = sync(&mut store, &c).await;
        assert!(matches!(outcome, Err(SyncFailure::BadAddress(_))), "{url}: {outcome:?}");
    }
    assert!(s.elsewhere.seen().is_empty(), "requests reached another host: {:?}", s.elsewhere.seen());
}

async fn paging_stops(mode: Mode, partners: bool) -> SyncReport {
    let s = servers().await;
    let (dir, mut store) = support::temp_store("h.db");
    store.create_partner(&partner(1), None).unwrap();
    s.hostile.set(mode);
    let mut c = config(&s);
    c.max_pull_records = 3_000;
    if partners {
        c.organizations = None;
    }
    let report = sync(&mut store, &c).await.unwrap();
    assert_eq!(report.sent, 1, "the push went on: {report:?}");
    assert!(!report.errors.is_empty(), "the user is told the list was cut short: {report:?}");
    assert_readable(&store, &dir);
    s.hostile.world.lock().unwrap().partners.clear();
    // The junk pulled so far stays local; drain only needs the queue empty.
    let left = store.list_partners(&PartnerQuery { paging: Paging::first(10_000), ..Default::default() }).unwrap();
    assert!(left.total <= 3_200, "the pull stopped near the cap: {}", left.total);
    report
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_list_that_repeats_its_page_for_ever_stops() {
    let report = paging_stops(Mode::SamePageForever, true).await;
    assert!(report.pulled_new <= 100, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_list_with_new_records_for_ever_stops_at_the_cap() {
    paging_stops(Mode::NewPagesForever, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_list_whose_total_keeps_growing_stops() {
    let report = paging_stops(Mode::GrowingOrgTotal, false).await;
    // The first answer said 300 (a margin of a few pages is allowed).
    assert!(report.pulled_new <= 1_000, "{report:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_answer_that_never_ends_is_cut_off() {
    let s = servers().await;
    let (dir, mut store) = support::temp_store("h.db");
    store.create_partner(&partner(1), None).unwrap();
    s.hostile.set(Mode::EndlessBody);
    let report = sync(&mut store, &config(&s)).await.unwrap();
    assert_eq!(report.sent, 1, "the push went on: {report:?}");
    assert!(report.errors.iter().any(|e| e.contains("too large")), "{report:?}");
    behave_and_drain(&s, &mut store, &dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_lifetime_near_2_pow_64_does_not_panic() {
    for expires_in in [json!(u64::MAX), json!(u64::MAX - 1), json!(0), json!(-5), json!(1e300)] {
        let s = servers().await;
        let (dir, mut store) = support::temp_store("h.db");
        store.create_partner(&partner(1), None).unwrap();
        s.hostile.set(Mode::TokenExpiresIn(expires_in.clone()));
        let report = sync(&mut store, &config(&s)).await.unwrap();
        assert_eq!(report.sent, 1, "expires_in {expires_in}: {report:?}");
        behave_and_drain(&s, &mut store, &dir).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_400_on_an_organization_lookup_is_not_a_deletion() {
    let s = servers().await;
    let (dir, mut store) = support::temp_store("h.db");
    let o = store.create_organization(&org(1)).unwrap();
    sync(&mut store, &config(&s)).await.unwrap();
    assert!(s.hostile.world.lock().unwrap().organizations.contains_key(&o.key.to_string()));
    s.hostile.set(Mode::Hide { id: o.key.to_string(), lookup: 400 });
    let report = sync(&mut store, &config(&s)).await.unwrap();
    assert_eq!(report.deleted_remotely, 0, "{report:?}");
    assert!(store.get::<Organizations>(o.key).unwrap().deleted_at.is_none(), "a 400 is not 'deleted on the server'");
    behave_and_drain(&s, &mut store, &dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_organization_that_reappears_on_the_server_is_restored() {
    let s = servers().await;
    let (dir, mut store) = support::temp_store("h.db");
    let o = store.create_organization(&org(1)).unwrap();
    sync(&mut store, &config(&s)).await.unwrap();
    s.hostile.set(Mode::Hide { id: o.key.to_string(), lookup: 404 });
    let report = sync(&mut store, &config(&s)).await.unwrap();
    assert_eq!(report.deleted_remotely, 1, "a definite 404 is a deletion: {report:?}");
    assert!(store.get::<Organizations>(o.key).unwrap().deleted_at.is_some());
    s.hostile.set(Mode::Behave);
    sync(&mut store, &config(&s)).await.unwrap();
    let back = store.get::<Organizations>(o.key).unwrap();
    assert!(back.deleted_at.is_none(), "it is back on the server, so it is back here");
    assert_eq!(store.list_organizations(&Default::default()).unwrap().total, 1);
    behave_and_drain(&s, &mut store, &dir).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_that_reappears_on_the_server_is_restored() {
    let s = servers().await;
    let (dir, mut store) = support::temp_store("h.db");
    let p = store.create_partner(&partner(1), None).unwrap();
    sync(&mut store, &config(&s)).await.unwrap();
    let id = server_id(&store, p.key);
    s.hostile.set(Mode::Hide { id: id.clone(), lookup: 404 });
    let report = sync(&mut store, &config(&s)).await.unwrap();
    assert_eq!(report.deleted_remotely, 1, "{report:?}");
    s.hostile.set(Mode::Behave);
    sync(&mut store, &config(&s)).await.unwrap();
    assert!(store.get::<Partners>(p.key).unwrap().deleted_at.is_none(), "it is back on the server, so it is back here");
    behave_and_drain(&s, &mut store, &dir).await;
}

/// A pull that stops part-way leaves records unmerged, and an update is sent
/// as a whole record: sent now it would overwrite what changed on the server.
/// New records still go out; the update waits for a pull that reads it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_pull_that_stopped_part_way_updates_wait_and_creates_go() {
    let s = servers().await;
    let (dir, mut store) = support::temp_store("h.db");
    let c = config_with_updates(&s);
    let p = store.create_partner(&partner(1), None).unwrap();
    sync(&mut store, &c).await.unwrap();
    let id = server_id(&store, p.key);
    // Someone changes the payment terms on the server; here the frequency changes.
    for r in s.hostile.world.lock().unwrap().partners.iter_mut().filter(|r| r["id"] == id.as_str()) {
        r["payment_terms"] = json!("net 90");
        r["updated_at"] = json!(now_text());
    }
    weekly_here(&mut store, p.key);
    store.create_partner(&partner(2), None).unwrap();
    s.hostile.set(Mode::EndlessBody);
    let report = sync(&mut store, &c).await.unwrap();
    assert_eq!(report.sent, 1, "the new partner went, the update waited: {report:?}");
    let on_server = |s: &Servers| s.hostile.partners().into_iter().find(|r| r["id"] == id.as_str()).unwrap();
    assert_eq!(on_server(&s)["payment_terms"], "net 90", "the server's change was not overwritten");
    s.hostile.set(Mode::Behave);
    for _ in 0..3 {
        sync(&mut store, &c).await.unwrap();
    }
    let both = on_server(&s);
    assert_eq!((both["payment_terms"].clone(), both["frequency"].clone()), (json!("net 90"), json!("weekly")));
    behave_and_drain(&s, &mut store, &dir).await;
}

/// An update that arrived but whose answer was lost, then a second edit of
/// the same field here: the server holds the first edit because this side
/// sent it, so that is no conflict; the second edit simply goes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_whose_answer_was_lost_is_no_conflict_with_the_next_edit() {
    let s = servers().await;
    let (dir, mut store) = support::temp_store("h.db");
    let mut c = config_with_updates(&s);
    c.request_timeout = Duration::from_millis(300);
    let p = store.create_partner(&partner(1), None).unwrap();
    sync(&mut store, &c).await.unwrap();
    weekly_here(&mut store, p.key);
    s.hostile.set(Mode::SlowUpdates);
    let report = sync(&mut store, &c).await.unwrap();
    assert_eq!(report.sent, 0, "the answer was lost: {report:?}");
    let daily = PartnerPatch { frequency: Some("daily".into()), ..PartnerPatch::default() };
    store.edit_partner(p.key, &daily).unwrap();
    s.hostile.set(Mode::Behave);
    let report = sync(&mut store, &c).await.unwrap();
    assert_eq!(report.conflicts, 0, "{report:?}: {:?}", store.conflicts().unresolved().unwrap());
    let id = server_id(&store, p.key);
    let on_server = s.hostile.partners().into_iter().find(|r| r["id"] == id.as_str()).unwrap();
    assert_eq!(on_server["frequency"], "daily");
    behave_and_drain(&s, &mut store, &dir).await;
}

/// A create whose answer was lost, then edited on the server and here: the
/// reconciliation finds a record that differs from what was sent, and asks.
/// "It is the same partner" adopts it and keeps both edits.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_possible_duplicate_taken_as_the_same_partner_keeps_the_edits_of_both_sides() {
    let s = servers().await;
    let (dir, mut store) = support::temp_store("h.db");
    let mut c = config_with_updates(&s);
    c.request_timeout = Duration::from_millis(300);
    c.organizations = None;
    let p = store.create_partner(&partner(1), None).unwrap();
    s.hostile.world.lock().unwrap().create_delay = Duration::from_secs(2);
    // This run gives up at the timeout; the next one reconciles.
    let once = SyncConfig { wait_for_retries: Duration::ZERO, ..c.clone() };
    let report = sync(&mut store, &once).await.unwrap();
    assert_eq!((report.sent, report.adopted), (0, 0), "the answer was lost: {report:?}");
    s.hostile.world.lock().unwrap().create_delay = Duration::ZERO;
    for r in s.hostile.world.lock().unwrap().partners.iter_mut() {
        r["payment_terms"] = json!("net 90");
    }
    weekly_here(&mut store, p.key);
    let report = sync(&mut store, &c).await.unwrap();
    let conflicts = store.conflicts().unresolved().unwrap();
    assert_eq!(
        conflicts.len(),
        1,
        "{report:?} {conflicts:?} {:?} {:?}",
        store.outbox().all().unwrap(),
        s.hostile.seen()
    );
    assert_eq!(conflicts[0].kind, ConflictKind::PossibleDuplicate);
    store.conflicts_mut().resolve(Entity::Partner, p.key, |_| Resolution::Theirs).unwrap();
    sync(&mut store, &c).await.unwrap();
    let here = store.get::<Partners>(p.key).unwrap().fields;
    assert_eq!((here.frequency.as_str(), here.payment_terms.as_str()), ("weekly", "net 90"), "both edits kept here");
    let there = s.hostile.partners();
    assert_eq!(there.len(), 1);
    assert_eq!((there[0]["frequency"].clone(), there[0]["payment_terms"].clone()), (json!("weekly"), json!("net 90")));
    behave_and_drain(&s, &mut store, &dir).await;
}

/// Deleted on the server while it changed here: a question for the user.
/// When the server lists the record again, the question is moot and closes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deleted_on_the_server_question_closes_when_the_record_comes_back() {
    let s = servers().await;
    let (dir, mut store) = support::temp_store("h.db");
    let c = config_with_updates(&s);
    let p = store.create_partner(&partner(1), None).unwrap();
    sync(&mut store, &c).await.unwrap();
    let id = server_id(&store, p.key);
    weekly_here(&mut store, p.key);
    s.hostile.set(Mode::Hide { id, lookup: 404 });
    sync(&mut store, &c).await.unwrap();
    let asked = store.conflicts().unresolved().unwrap();
    assert_eq!(asked.iter().map(|c| c.kind).collect::<Vec<_>>(), [ConflictKind::DeletedRemotely], "{asked:?}");
    s.hostile.set(Mode::Behave);
    let report = sync(&mut store, &c).await.unwrap();
    assert!(store.conflicts().unresolved().unwrap().is_empty(), "the question closed: {report:?}");
    assert_eq!(store.get::<Partners>(p.key).unwrap().fields.frequency, "weekly", "the local edit is kept");
    behave_and_drain(&s, &mut store, &dir).await;
    let on_server = s.hostile.partners();
    assert_eq!(on_server[0]["frequency"], "weekly");
}

/// A server that ignores `partner_ids=` answers the "is it still there?"
/// question with a page of other partners: that is no answer, not a deletion.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookup_that_ignores_its_filter_deletes_nothing() {
    let s = servers().await;
    let (dir, mut store) = support::temp_store("h.db");
    let p = store.create_partner(&partner(1), None).unwrap();
    store.create_partner(&partner(2), None).unwrap();
    sync(&mut store, &config(&s)).await.unwrap();
    let id = server_id(&store, p.key);
    s.hostile.set(Mode::HideIgnoringIdFilter(id));
    let report = sync(&mut store, &config(&s)).await.unwrap();
    assert_eq!(report.deleted_remotely, 0, "{report:?}");
    assert!(store.get::<Partners>(p.key).unwrap().deleted_at.is_none());
    behave_and_drain(&s, &mut store, &dir).await;
}

/// Two processes pick the same waiting create. The second claims it after the
/// first did (its claim returns 2 attempts): it must reconcile (find the
/// first one's partner on the server and adopt it), not send a second create.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_change_claimed_twice_is_reconciled_not_sent_twice() {
    let s = servers().await;
    let (dir, mut store) = support::temp_store("h.db");
    let p = store.create_partner(&partner(1), None).unwrap();
    // The first process's create has arrived on the server already.
    let mut arrived = serde_json::to_value(&p.fields).unwrap();
    arrived["id"] = json!(Uuid::new_v4().to_string());
    arrived["created_at"] = json!(now_text());
    arrived["updated_at"] = json!(now_text());
    s.hostile.world.lock().unwrap().partners.push(arrived);
    // The first process holds the write lock while it claims the change...
    let path = store.path().to_path_buf();
    let first = rusqlite::Connection::open(&path).unwrap();
    first.execute_batch("BEGIN IMMEDIATE; UPDATE outbox SET attempts = attempts + 1;").unwrap();
    // ...while the second has read the queue and waits to claim.
    let mut c = config(&s);
    c.read = partnerbook::sync::cadence::Read::Nothing;
    c.organizations = None;
    let second = tokio::spawn(async move {
        let mut store = Store::open(&path).unwrap();
        sync(&mut store, &c).await
    });
    tokio::time::sleep(Duration::from_millis(700)).await;
    first.execute_batch("COMMIT").unwrap();
    let report = second.await.unwrap().unwrap();
    assert_eq!(report.sent, 0, "{report:?}");
    assert_eq!(report.adopted, 1, "{report:?}");
    let creates = s.hostile.seen().iter().filter(|r| *r == "POST /p/partners").count();
    assert_eq!(creates, 0, "a change claimed twice was sent blindly");
    behave_and_drain(&s, &mut store, &dir).await;
}

/// This machine's clock running ahead of the server's (as after a jump
/// forward) does not cut the settle window short: a create that lands after
/// the window by this clock, but within it by the server's, is found and
/// adopted, not sent again. Without the server's clock the create went twice.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clock_running_ahead_of_the_servers_does_not_cut_the_settle_window_short() {
    let s = servers().await;
    {
        let mut w = s.hostile.world.lock().unwrap();
        w.commit_delay = Duration::from_secs(4);
        w.slow_clock_since = Some(Utc::now());
    }
    let (dir, mut store) = support::temp_store("h.db");
    store.create_partner(&partner(1), None).unwrap();
    let config = SyncConfig {
        request_timeout: Duration::from_millis(500),
        settle_window: Some(Duration::from_secs(3)),
        wait_for_retries: Duration::from_secs(12),
        ..config(&s)
    };
    // The create times out at 0.5 s and lands at 4 s. By this clock the
    // window ends at 3 s; by the server's (a quarter as fast) it has not.
    let report = sync(&mut store, &config).await.unwrap();
    tokio::time::sleep(Duration::from_secs(5)).await; // anything still held lands
    let on_server = s.hostile.partners();
    assert_eq!(on_server.len(), 1, "sent once: {on_server:#?}\n{report:?}");
    assert_eq!(report.adopted + report.sent, 1, "{report:?}");
    let posts = s.hostile.seen().iter().filter(|r| *r == "POST /p/partners").count();
    assert_eq!(posts, 1);
    s.hostile.world.lock().unwrap().commit_delay = Duration::ZERO;
    behave_and_drain(&s, &mut store, &dir).await;
}

/// Only the drainer adopts: a pull in a process that does not hold the
/// sending lock leaves a lost create's record on the server to the process
/// that does (whose push may be sending that very create), and never copies it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pull_without_the_sending_lock_leaves_a_lost_create_to_the_drainer() {
    use partnerbook::sync::drainer::SendingLock;
    let s = servers().await;
    let (dir, mut store) = support::temp_store("h.db");
    let p = store.create_partner(&partner(1), None).unwrap();
    let create = store.outbox().of(Entity::Partner, p.key).unwrap()[0].seq;
    store.outbox_mut().begin_attempts(&[create]).unwrap(); // sent; its answer lost
    let mut record = serde_json::to_value(&p.fields).unwrap();
    record["id"] = json!(Uuid::new_v4().to_string());
    record["created_at"] = json!(now_text());
    record["updated_at"] = json!(now_text());
    s.hostile.world.lock().unwrap().partners.push(record);
    let config = SyncConfig { wait_for_retries: Duration::from_millis(300), ..config(&s) };

    let elsewhere = SendingLock::try_take(store.path()).unwrap().expect("free");
    let report = sync(&mut store, &config).await.unwrap();
    assert!(report.sending_elsewhere, "{report:?}");
    assert_eq!((report.adopted, report.pulled_new), (0, 0), "neither adopted nor copied: {report:?}");
    assert_eq!(store.get::<Partners>(p.key).unwrap().server.id, None);
    assert_eq!(store.count_partners(&PartnerQuery::default()).unwrap(), 1);

    drop(elsewhere);
    let report = sync(&mut store, &config).await.unwrap();
    assert_eq!(report.adopted, 1, "{report:?}");
    assert_eq!(s.hostile.partners().len(), 1, "not sent again");
    behave_and_drain(&s, &mut store, &dir).await;
}

/// A read nobody waits for (the window's schedule) asks for few pages at
/// once; "Sync now" for more. Counted at this server, which holds each list
/// answer back 30 ms.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scheduled_read_spreads_its_pages_out() {
    let s = servers().await;
    {
        let mut w = s.hostile.world.lock().unwrap();
        w.partners = (0..1_000).map(fake_partner).collect();
        w.list_delay = Duration::from_millis(30);
    }
    let mut most = Vec::new();
    for pages_in_flight in [2, 8] {
        let (_dir, mut store) = support::temp_store("h.db");
        let c = SyncConfig { organizations: None, pages_in_flight, ..config(&s) };
        s.hostile.world.lock().unwrap().most_lists_waiting = 0;
        let r = sync(&mut store, &c).await.unwrap();
        assert_eq!(r.pulled_new, 1_000, "{r:?}");
        most.push(s.hostile.world.lock().unwrap().most_lists_waiting);
    }
    let (spread, burst) = (most[0], most[1]);
    assert!(spread <= 2, "{spread} pages at once");
    assert!(burst > 2, "the knob does nothing: {burst}");
}

/// A server that says nothing of a list's total gives the cheap check no
/// answer: said, nothing read in full on it, nothing deleted, sends go on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_without_a_total_is_no_answer_to_the_cheap_check() {
    let s = servers().await;
    s.hostile.world.lock().unwrap().partners = (0..5).map(fake_partner).collect();
    let (dir, mut store) = support::temp_store("h.db");
    let full = SyncConfig { organizations: None, ..config(&s) };
    sync(&mut store, &full).await.unwrap();
    s.hostile.set(Mode::NoTotals);
    store.create_partner(&partner(1), None).unwrap();
    let totals = SyncConfig { read: partnerbook::sync::cadence::Read::Totals, ..full.clone() };
    let r = sync(&mut store, &totals).await.unwrap();
    assert_eq!((r.full_reads, r.deleted_remotely, r.sent), (0, 0, 1), "{r:?}");
    assert!(r.errors.iter().any(|e| e.contains("did not say how many")), "{r:?}");
    assert_eq!(store.list_partners(&PartnerQuery::default()).unwrap().total, 6);
    s.hostile.set(Mode::Behave);
    behave_and_drain(&s, &mut store, &dir).await;
}
