//! Sync against the local stand-in of both central APIs, over real HTTP on
//! loopback. Every test ends with the same check: the server holds exactly the
//! local records (same values), no duplicates, and the outbox is empty or holds
//! only refused changes.

use std::collections::HashMap;
use std::time::Duration;

use crate::support::{self, ORG};
use partnerbook::store::{Entity, Organizations, OutboxState, Paging, PartnerQuery, Partners, Resolution};
use partnerbook::sync::{RetryPolicy, SyncConfig, SyncReport, sync_once};
use partnerbook::{OrganizationDraft, PartnerDraft, Store, SyncState};
use partnerbook_standin::{ClientCredentials, Config, Faults, IdempotencyMode, StandIn};
use serde_json::{Value, json};
use uuid::Uuid;

async fn server(faults: Faults) -> StandIn {
    support::standin(faults).await
}

fn config(s: &StandIn) -> SyncConfig {
    SyncConfig {
        concurrency: 8,
        retry: RetryPolicy { base: Duration::from_millis(5), cap: Duration::from_millis(50) },
        wait_for_retries: Duration::from_secs(5),
        request_timeout: Duration::from_millis(800),
        read: partnerbook::sync::cadence::Read::Full,
        ..support::sync_config(Some(s.partners_url()), Some(s.organizations_url()))
    }
}

fn partner(i: usize) -> PartnerDraft {
    PartnerDraft {
        company_name: format!("Partner {i} \"quoted\", Ünïcödé 😀"),
        sales_amount: (i * 7).to_string(),
        partner_type: if i % 2 == 0 { "customer" } else { "supplier" }.into(),
        email: format!("p{i}@sync.example"),
        frequency: "monthly".into(),
        payment_terms: "net 30".into(),
    }
}

fn org(i: usize) -> OrganizationDraft {
    serde_json::from_value(json!({
        "name": format!("Org {i}"), "type": "F", "address": "1 Main St", "country": "VN", "phone": "+84 1",
        "contacts": [{"firstName": format!("Lan {i}"), "email": "lan@org.example"}]
    }))
    .unwrap()
}

/// Runs sync until nothing is due (each run waits for retries a few seconds).
async fn sync_until_settled(store: &mut Store, config: &SyncConfig) -> SyncReport {
    let mut total = SyncReport::default();
    for _ in 0..40 {
        let r = sync_once(store, config, |_| {}).await.unwrap();
        total.sent += r.sent;
        total.adopted += r.adopted;
        total.retried += r.retried;
        total.rejected += r.rejected;
        total.conflicts += r.conflicts;
        total.pending = r.pending;
        total.needs_sign_in.extend(r.needs_sign_in);
        let waiting = store
            .outbox()
            .all()
            .unwrap()
            .iter()
            .filter(|e| {
                e.state == OutboxState::Pending
                    && e.last_error.as_deref().map_or(true, |m| !m.starts_with("The server does not accept"))
            })
            .count();
        if waiting == 0 && r.errors.is_empty() {
            for e in store.outbox().all().unwrap().iter().filter(|e| e.state == OutboxState::Rejected) {
                eprintln!("refused: {} {} {:?}", e.entity.as_str(), e.op.as_str(), e.last_error);
            }
            return total;
        }
    }
    panic!("sync did not settle: {:#?}", store.outbox().all().unwrap());
}

/// The server holds exactly the local records, with the same values, once each.
fn assert_converged(store: &Store, server: &StandIn) {
    let local =
        store.list_partners(&PartnerQuery { paging: Paging::first(100_000), ..Default::default() }).unwrap().items;
    let remote = server.partners();
    let mut by_id: HashMap<String, &Value> = HashMap::new();
    for p in &remote {
        assert!(by_id.insert(p["id"].as_str().unwrap().to_string(), p).is_none());
    }
    let mut emails: HashMap<String, usize> = HashMap::new();
    for p in &remote {
        *emails.entry(p["email"].as_str().unwrap().to_lowercase()).or_default() += 1;
    }
    let dupes: Vec<_> = emails.iter().filter(|(_, n)| **n > 1).collect();
    assert!(dupes.is_empty(), "duplicates on the server: {dupes:?}");
    let synced: Vec<_> = local.iter().filter(|p| p.sync_state != SyncState::Rejected).collect();
    assert_eq!(remote.len(), synced.len(), "server has {} partners, local {}", remote.len(), synced.len());
    for p in synced {
        let id = p.server.id.unwrap_or_else(|| panic!("{} has no server id", p.fields.company_name)).to_string();
        let r = by_id.get(&id).unwrap_or_else(|| panic!("{id} missing on the server"));
        assert_eq!(r["company_name"], p.fields.company_name);
        assert_eq!(r["sales_amount"], p.fields.sales_amount);
        assert_eq!(r["partner_type"], p.fields.partner_type.as_str());
        assert_eq!(r["email"], p.fields.email);
        assert_eq!(r["frequency"], p.fields.frequency);
        assert_eq!(r["payment_terms"], p.fields.payment_terms);
    }
    let orgs = store.list_organizations(&Default::default()).unwrap();
    let remote_orgs = server.organizations();
    assert_eq!(remote_orgs.len() as u64, orgs.total, "organizations on the server vs here");
    for o in &orgs.items {
        let r = remote_orgs.iter().find(|r| r["id"] == o.key.to_string()).expect("org on the server");
        assert_eq!(r["name"], o.fields.name);
        assert_eq!(r["contacts"][0]["firstName"], o.fields.contacts[0].first_name);
    }
    let stuck: Vec<_> =
        store.outbox().all().unwrap().into_iter().filter(|e| e.state != OutboxState::Rejected).collect();
    assert!(stuck.is_empty(), "changes left: {stuck:#?}");
}

/// A few hundred changes: creates, edits (some before the create was sent), deletes.
fn make_changes(store: &mut Store, partners: usize, orgs: usize) {
    let mut keys = Vec::new();
    for i in 0..partners {
        keys.push(store.create_partner(&partner(i), None).unwrap().key);
    }
    for (i, key) in keys.iter().enumerate().filter(|(i, _)| i % 3 == 0) {
        let mut d = partner(i);
        d.frequency = "weekly".into();
        store.update_partner(*key, &d).unwrap();
    }
    for key in keys.iter().skip(1).step_by(10) {
        store.delete::<Partners>(*key).unwrap();
    }
    for i in 0..orgs {
        store.create_organization(&org(i)).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creates_edits_and_deletes_reach_the_server_once() {
    let s = server(Faults::none()).await;
    let (_dir, mut store) = support::temp_store("a.db");
    make_changes(&mut store, 30, 5);
    let r = sync_until_settled(&mut store, &config(&s)).await;
    assert!(r.sent >= 30, "{r:?}");
    assert_converged(&store, &s);
    assert!(store.list_partners(&Default::default()).unwrap().items.iter().all(|p| p.sync_state == SyncState::Synced));

    // Edits after sync go as updates; a deleted org goes too.
    let first = store.list_partners(&Default::default()).unwrap().items[0].clone();
    let mut d = first.fields.to_draft();
    d.sales_amount = "999".into();
    store.update_partner(first.key, &d).unwrap();
    let o = store.list_organizations(&Default::default()).unwrap().items[0].key;
    store.delete::<Organizations>(o).unwrap();
    sync_until_settled(&mut store, &config(&s)).await;
    assert_converged(&store, &s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_fault_on_its_own_converges_without_duplicates() {
    let faults: Vec<(&str, Faults)> = vec![
        ("server errors", Faults { server_error_rate: 0.3, ..Faults::none() }),
        ("429 with Retry-After", Faults { rate_limit_rate: 0.3, retry_after_secs: 0, ..Faults::none() }),
        ("reset before the write", Faults { reset_before_rate: 0.3, ..Faults::none() }),
        ("reset after the write", Faults { reset_after_rate: 0.3, ..Faults::none() }),
        ("timeouts", Faults { timeout_rate: 0.2, timeout_hold_secs: 2, ..Faults::none() }),
        ("timeouts after the write", Faults { timeout_after_write_rate: 0.2, timeout_hold_secs: 2, ..Faults::none() }),
        ("malformed JSON", Faults { malformed_rate: 0.3, ..Faults::none() }),
        ("latency", Faults { latency_ms: 30, ..Faults::none() }),
        ("short token lifetime", Faults { token_ttl_secs: Some(1), ..Faults::none() }),
        (
            "idempotency honoured",
            Faults { idempotency: IdempotencyMode::Honour, reset_after_rate: 0.3, ..Faults::none() },
        ),
    ];
    for (name, f) in faults {
        let s = server(f).await;
        let (_dir, mut store) = support::temp_store("f.db");
        make_changes(&mut store, 20, 4);
        let r = sync_until_settled(&mut store, &config(&s)).await;
        assert!(r.needs_sign_in.is_empty(), "{name}: {r:?}");
        // The server's faults were really injected (except the two that are not random).
        s.set_faults(Faults::none());
        sync_until_settled(&mut store, &config(&s)).await;
        assert_converged(&store, &s);
        eprintln!("{name}: {r:?} / server {:?}", s.stats());
        s.shutdown().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn all_faults_at_random_for_hundreds_of_changes() {
    let chaos = Faults { timeout_hold_secs: 2, retry_after_secs: 0, ..Faults::chaos() };
    let s = server(chaos).await;
    let (_dir, mut store) = support::temp_store("c.db");
    make_changes(&mut store, 200, 30);
    let r = sync_until_settled(&mut store, &config(&s)).await;
    s.set_faults(Faults::none());
    sync_until_settled(&mut store, &config(&s)).await;
    assert_converged(&store, &s);
    let stats = s.stats();
    eprintln!("chaos: {r:?}\nserver: {stats:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_tokens_are_renewed_and_revoked_credentials_pause_without_loss() {
    let s = server(Faults::none()).await;
    let (_dir, mut store) = support::temp_store("t.db");
    make_changes(&mut store, 10, 0);
    let config = config(&s);
    sync_until_settled(&mut store, &config).await;
    // Mid-run expiry: the next requests get 401, a new token, and go on.
    s.expire_tokens();
    for i in 100..110 {
        store.create_partner(&partner(i), None).unwrap();
    }
    let r = sync_once(&mut store, &config, |_| {}).await.unwrap();
    assert!(r.needs_sign_in.is_empty(), "{r:?}");
    assert_converged(&store, &s);

    // Revoked: the queue pauses, nothing is lost or refused.
    s.revoke_client(support::CLIENT_ID);
    s.expire_tokens();
    for i in 200..205 {
        store.create_partner(&partner(i), None).unwrap();
    }
    let r = sync_once(&mut store, &config, |_| {}).await.unwrap();
    assert_eq!(r.needs_sign_in.len(), 1, "{r:?}");
    assert_eq!((r.sent, r.rejected), (0, 0));
    assert_eq!(store.outbox().all().unwrap().len(), 5);
    // New credentials: it resumes.
    s.add_client(ClientCredentials::new("pb-new", "n3w", ORG));
    let mut renewed = config.clone();
    if let Some(p) = renewed.partners.as_mut() {
        p.client_id = "pb-new".into();
        p.client_secret = "n3w".into();
    }
    sync_until_settled(&mut store, &renewed).await;
    assert_converged(&store, &s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_record_does_not_block_others_and_is_sent_once_fixed() {
    let s = server(Faults::none()).await;
    let (_dir, mut store) = support::temp_store("r.db");
    make_changes(&mut store, 6, 1);
    // The server's rules may be stricter than ours: simulate one it refuses.
    let bad = store.create_partner(&partner(50), None).unwrap().key;
    store
        .connection()
        .execute(
            "UPDATE outbox SET payload = json_set(payload, '$.email', 'no-at-sign') WHERE record_key = ?1",
            [bad.to_string()],
        )
        .unwrap();
    let r = sync_until_settled(&mut store, &config(&s)).await;
    assert_eq!(r.rejected, 1, "{r:?}");
    let p = store.get::<Partners>(bad).unwrap();
    assert_eq!(p.sync_state, SyncState::Rejected);
    let error = p.sync_error.unwrap();
    assert!(error.fields.iter().any(|f| f.field == "email"), "{error:?}");
    assert_converged(&store, &s); // everything else arrived

    // Retry sends it as it is (refused again); discarding a create that never arrived removes the record.
    let seq = store.outbox().of(Entity::Partner, bad).unwrap()[0].seq;
    store.outbox_mut().retry(seq).unwrap();
    assert_eq!(store.get::<Partners>(bad).unwrap().sync_state, SyncState::Pending);
    sync_until_settled(&mut store, &config(&s)).await;
    assert_eq!(store.get::<Partners>(bad).unwrap().sync_state, SyncState::Rejected);
    let other = store.create_partner(&partner(51), None).unwrap().key;
    let seq = store.outbox().of(Entity::Partner, other).unwrap()[0].seq;
    store.outbox_mut().discard(seq).unwrap();
    assert!(store.get::<Partners>(other).unwrap().deleted_at.is_some());
    // Discarding an edit of a synced record puts the server's version back.
    let synced =
        store.list_partners(&PartnerQuery { sync_state: Some(SyncState::Synced), ..Default::default() }).unwrap().items
            [0]
        .clone();
    let mut d = synced.fields.to_draft();
    d.frequency = "never".into();
    store.update_partner(synced.key, &d).unwrap();
    let seq = store.outbox().of(Entity::Partner, synced.key).unwrap()[0].seq;
    store.outbox_mut().discard(seq).unwrap();
    let back = store.get::<Partners>(synced.key).unwrap();
    assert_eq!((back.fields, back.sync_state), (synced.fields, SyncState::Synced));

    // Fixing the record (any save) queues it again; it goes.
    let mut d = partner(50);
    d.company_name = "Fixed".into();
    store.update_partner(bad, &d).unwrap();
    sync_until_settled(&mut store, &config(&s)).await;
    assert_eq!(store.get::<Partners>(bad).unwrap().sync_state, SyncState::Synced);
    assert_converged(&store, &s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn edits_on_both_sides_become_conflicts_resolved_either_way() {
    let s = server(Faults::none()).await;
    let (_dir, mut store) = support::temp_store("m.db");
    let a = store.create_partner(&partner(1), None).unwrap().key;
    let b = store.create_partner(&partner(2), None).unwrap().key;
    let config = config(&s);
    sync_until_settled(&mut store, &config).await;
    let id = |k: Uuid, st: &Store| st.get::<Partners>(k).unwrap().server.id.unwrap();

    // Server-only change is taken; local-only change is kept and sent.
    s.edit_partner(id(a, &store), json!({"payment_terms": "net 60"})).unwrap();
    let mut d = partner(1);
    d.frequency = "daily".into();
    store.update_partner(a, &d).unwrap();
    sync_until_settled(&mut store, &config).await;
    let p = store.get::<Partners>(a).unwrap();
    assert_eq!((p.fields.payment_terms.as_str(), p.fields.frequency.as_str()), ("net 60", "daily"));
    assert_converged(&store, &s);

    // Both sides change the same field: a conflict, nothing sent for it.
    for (key, resolution, expected) in [(a, Resolution::Mine, "Mine Co"), (b, Resolution::Theirs, "Theirs Co")] {
        s.edit_partner(id(key, &store), json!({"company_name": "Theirs Co"})).unwrap();
        let mut d = store.get::<Partners>(key).unwrap().fields.to_draft();
        d.company_name = "Mine Co".into();
        store.update_partner(key, &d).unwrap();
        let r = sync_once(&mut store, &config, |_| {}).await.unwrap();
        assert_eq!(r.conflicts, 1, "{r:?}");
        assert_eq!(store.get::<Partners>(key).unwrap().sync_state, SyncState::Conflict);
        let open = store.conflicts().unresolved().unwrap();
        assert_eq!(open.len(), 1);
        assert_eq!((open[0].local.clone(), open[0].remote.clone()), (json!("Mine Co"), json!("Theirs Co")));
        store.conflicts_mut().resolve(Entity::Partner, key, |_| resolution).unwrap();
        sync_until_settled(&mut store, &config).await;
        assert_eq!(store.get::<Partners>(key).unwrap().fields.company_name, expected);
        assert_eq!(store.get::<Partners>(key).unwrap().sync_state, SyncState::Synced);
        assert!(store.conflicts().unresolved().unwrap().is_empty());
        assert_converged(&store, &s);
    }

    // A record created on the server arrives; one deleted there goes here.
    s.insert_partner(
        ORG,
        json!({"company_name": "From elsewhere", "sales_amount": 1, "partner_type": "customer",
        "email": "else@sync.example", "frequency": "f", "payment_terms": "p"}),
    );
    s.delete_partner(id(b, &store));
    let r = sync_until_settled(&mut store, &config).await;
    let _ = r;
    assert!(store.get::<Partners>(b).unwrap().deleted_at.is_some());
    assert_converged(&store, &s);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_partner_update_on_the_server_changes_wait_and_others_flow() {
    let s = server(Faults::none()).await;
    s.set_assumed_partner_ops(false);
    let (_dir, mut store) = support::temp_store("h.db");
    let a = store.create_partner(&partner(1), None).unwrap().key;
    let mut config = config(&s);
    sync_until_settled(&mut store, &config).await;
    let mut d = partner(1);
    d.frequency = "yearly".into();
    store.update_partner(a, &d).unwrap();
    store.create_partner(&partner(2), None).unwrap();
    let r = sync_once(&mut store, &config, |_| {}).await.unwrap();
    assert_eq!((r.held, r.sent), (1, 1), "{r:?}");
    let held = store.get::<Partners>(a).unwrap();
    assert_eq!(held.sync_state, SyncState::Pending);
    assert!(held.sync_error.unwrap().message.contains("does not accept"));
    // The server learns updates: the held change goes.
    s.set_assumed_partner_ops(true);
    config.partners.as_mut().unwrap().assumed_ops = true;
    sync_until_settled(&mut store, &config).await;
    assert_eq!(store.get::<Partners>(a).unwrap().sync_state, SyncState::Synced);
    assert_converged(&store, &s);
}

/// `partnerbook sync` as its own process, against the stand-in.
fn sync_process(db: &std::path::Path, s: &StandIn) -> std::process::Command {
    let mut c = support::cli_for(db, &s.partners_url(), &s.organizations_url());
    c.args(["sync", "--once", "--retry-base-ms", "5", "--retry-cap-ms", "50", "--wait", "5", "--timeout", "2"]);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killing_sync_at_random_moments_loses_and_duplicates_nothing() {
    // The server ignores idempotency keys, as both real vendors may.
    let s = server(Faults { latency_ms: 25, reset_after_rate: 0.05, ..Faults::none() }).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("kill.db");
    let mut store = Store::open(&db).unwrap();
    make_changes(&mut store, 150, 20);
    let mut kills = 0;
    for round in 0..80 {
        // The user keeps working between runs: new partners, and edits to ones that may be in flight.
        for i in 0..4 {
            store.create_partner(&partner(1000 + round * 10 + i), None).unwrap();
        }
        let some = store
            .list_partners(&PartnerQuery {
                paging: Paging { limit: 2, offset: round as u64, ..Paging::default() },
                ..Default::default()
            })
            .unwrap();
        for p in some.items {
            let mut d = p.fields.to_draft();
            d.payment_terms = format!("net {round}");
            store.update_partner(p.key, &d).unwrap();
        }
        let mut child = sync_process(&db, &s).spawn().unwrap();
        tokio::time::sleep(Duration::from_millis(fastrand::u64(5..150))).await;
        if child.try_wait().unwrap().is_none() {
            child.kill().unwrap(); // SIGKILL
            kills += 1;
        }
        child.wait().unwrap();
    }
    assert!(kills >= 50, "only {kills} runs were killed mid-way");
    s.set_faults(Faults::none());
    for _ in 0..5 {
        assert!(sync_process(&db, &s).status().unwrap().success());
        if store.outbox().all().unwrap().is_empty() {
            break;
        }
    }
    assert_converged(&store, &s);
    eprintln!("kills: {kills}, server partners: {}, stats: {:?}", s.partners().len(), s.stats());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_command_line_converges_under_random_faults() {
    let chaos = Faults { timeout_hold_secs: 2, retry_after_secs: 0, ..Faults::chaos() };
    let s = server(chaos).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("cli.db");
    let mut store = Store::open(&db).unwrap();
    make_changes(&mut store, 120, 15);
    let changes = store.outbox().all().unwrap().len();
    let mut runs = 0;
    while !store.outbox().all().unwrap().is_empty() && runs < 30 {
        let out = sync_process(&db, &s).arg("--json").stdout(std::process::Stdio::piped()).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(report["needs_sign_in"].as_array().unwrap().is_empty(), "{report}");
        runs += 1;
    }
    // Converged while the faults were still on; one clean pull then compares.
    s.set_faults(Faults::none());
    assert!(sync_process(&db, &s).status().unwrap().success());
    assert_converged(&store, &s);
    let stats = s.stats();
    eprintln!("cli under chaos: {changes} queued changes, {runs} runs, server: {stats:?}");
}

/// "Test connection" goes through the clients sync uses, so it says what sync will meet.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn test_connection_says_what_works_and_what_does_not() {
    use partnerbook::remote::{check_organizations, check_partners, http_client};
    use partnerbook::settings::{OrganizationsApiSettings, PartnersApiSettings};
    let s = server(Faults::none()).await;
    let client = http_client();
    let partners = PartnersApiSettings {
        base_url: s.partners_url(),
        client_id: support::CLIENT_ID.into(),
        requester_org_id: Some(ORG),
        ..Default::default()
    };
    let good = check_partners(&client, &partners, Some(support::CLIENT_SECRET)).await;
    assert!(good.ok, "{good:?}");
    assert!(good.message.contains("0 partners on the server"), "{good:?}");
    let wrong = check_partners(&client, &partners, Some("nope")).await;
    assert!(!wrong.ok && wrong.message.contains("refused the client ID or secret"), "{wrong:?}");
    let stranger = PartnersApiSettings { requester_org_id: Some(Uuid::from_u128(7)), ..partners.clone() };
    let refused = check_partners(&client, &stranger, Some(support::CLIENT_SECRET)).await;
    assert!(!refused.ok && refused.message.contains("organization ID"), "{refused:?}");
    let orgs = OrganizationsApiSettings { base_url: s.organizations_url() };
    let good = check_organizations(&client, &orgs, Some(support::API_KEY)).await;
    assert!(good.ok, "{good:?}");
    let wrong = check_organizations(&client, &orgs, Some("nope")).await;
    assert!(!wrong.ok && wrong.message.contains("refused the API key"), "{wrong:?}");
}

/// A stand-in where one's own organization is connected to `connected`, and
/// a sync set-up that reads that organization's partners too.
async fn connected_to(connected: Uuid) -> (StandIn, SyncConfig) {
    connected_to_both(&[connected], &[]).await
}

/// A stand-in where one's own organization may read `read_only`'s partners
/// and also change `writable`'s, and a sync set-up that reads all of them.
async fn connected_to_both(read_only: &[Uuid], writable: &[Uuid]) -> (StandIn, SyncConfig) {
    let s = StandIn::start(Config {
        connections: read_only.iter().map(|o| (ORG, *o)).collect(),
        writable_connections: writable.iter().map(|o| (ORG, *o)).collect(),
        ..support::standin_config()
    })
    .await
    .unwrap();
    let mut cfg = config(&s);
    cfg.partners.as_mut().unwrap().target_org_ids = writable.iter().chain(read_only).copied().collect();
    (s, cfg)
}

/// A connected organization whose partners this caller may read but not
/// change: the server answers 403 to a write there. That change is held with
/// the reason, and one's own partners keep flowing; the partners API is not
/// paused as it was when every 403 read as "check your credentials".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_connected_organization_that_refuses_writes_holds_its_change_and_nothing_else() {
    let connected = Uuid::from_u128(0xC0);
    let (s, cfg) = connected_to(connected).await;
    let theirs = s.insert_partner(connected, serde_json::to_value(partner(1).validate_fields().unwrap()).unwrap());
    let mut store = Store::open_in_memory().unwrap();
    sync_once(&mut store, &cfg, |_| {}).await.unwrap();
    let all = store.list_partners(&PartnerQuery::default()).unwrap().items;
    let pulled = all.iter().find(|p| p.server.id.map(|i| i.to_string()) == theirs["id"].as_str().map(str::to_string));
    let pulled = pulled.expect("the connected organization's partner arrives").clone();
    assert_eq!(pulled.target_org_id, Some(connected));

    let mut edit = pulled.fields.to_draft();
    edit.frequency = "weekly".into();
    store.update_partner(pulled.key, &edit).unwrap();
    let mine = store.create_partner(&partner(2), None).unwrap();
    let report = sync_once(&mut store, &cfg, |_| {}).await.unwrap();
    assert!(report.needs_sign_in.is_empty(), "nothing paused: {:?}", report.needs_sign_in);
    assert_eq!((report.sent, report.held), (1, 1), "{report:?}");
    assert!(store.get::<Partners>(mine.key).unwrap().server.id.is_some(), "one's own partner was sent");
    let held = store.get::<Partners>(pulled.key).unwrap();
    assert_eq!(held.fields.frequency, "weekly", "the change is kept here");
    let why = held.sync_error.map(|e| e.message).unwrap_or_default();
    assert!(why.contains(&connected.to_string()) && why.contains("does not let you change"), "{why}");
    // The next own partner flows as well.
    let next = store.create_partner(&partner(3), None).unwrap();
    let again = sync_once(&mut store, &cfg, |_| {}).await.unwrap();
    assert!(again.needs_sign_in.is_empty());
    assert!(store.get::<Partners>(next.key).unwrap().server.id.is_some());
}

/// Today's databases may hold partners created with `--target-org` naming a
/// connected organization: the central system made them in one's own, so the
/// connected organization's next pull did not find them and deleted them
/// here. One's own list now claims them back, before any other is read.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partner_stored_under_a_connected_organization_but_made_in_ones_own_moves_back() {
    let connected = Uuid::from_u128(0xC1);
    let (s, cfg) = connected_to(connected).await;
    let mut store = Store::open_in_memory().unwrap();
    // What the old `partner add --target-org` stored (the store still takes it; the app refuses it).
    let stray = store.create_partner(&partner(4), Some(connected)).unwrap();
    let first = sync_once(&mut store, &cfg, |_| {}).await.unwrap();
    let second = sync_once(&mut store, &cfg, |_| {}).await.unwrap();
    let now = store.get::<Partners>(stray.key).unwrap();
    assert_eq!(now.deleted_at, None, "not deleted by the connected organization's pull");
    assert_eq!(now.target_org_id, None, "one's own, as the central system holds it");
    assert_eq!(first.moved_to_own + second.moved_to_own, 1, "{first:?} {second:?}");
    assert_eq!(s.partners().len(), 1);
}

/// A refused sign-in is a lasting state: said as "Needs sign-in" whether it
/// happened while reading or sending, kept across processes, and no request
/// goes to the API until the credentials change, "Try again" is pressed, or
/// the probe interval passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_sign_in_stays_paused_until_the_credentials_change_try_again_or_the_probe() {
    let s = server(Faults::none()).await;
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("sign-in.db");
    let mut store = Store::open(&db).unwrap();
    let config = SyncConfig { organizations: None, ..config(&s) };
    store.create_partner(&partner(1), None).unwrap();
    sync_until_settled(&mut store, &config).await;

    // Revoked with nothing to send: the pull meets it, and the report says so.
    s.revoke_client(support::CLIENT_ID);
    s.expire_tokens();
    let r = sync_once(&mut store, &config, |_| {}).await.unwrap();
    assert_eq!(r.needs_sign_in.len(), 1, "{r:?}");
    assert!(r.needs_sign_in[0].starts_with("Needs sign-in: "), "{r:?}");
    assert!(partnerbook::app::summary(&r).starts_with("Needs sign-in: "), "not \"Synced: 0 sent\": {r:?}");
    // The status bar of any process on this database says it too.
    let status = partnerbook::app::status::status(&store, &Default::default(), &config).unwrap();
    assert!(status.message.starts_with("Needs sign-in: "), "{status:?}");

    // Later runs, each its own process, ask nothing of the API.
    let process = |extra: &[&str]| {
        let mut c = sync_process(&db, &s);
        c.args(extra).env_remove("PARTNERBOOK_ORGS_URL").env_remove("PARTNERBOOK_ORGS_API_KEY");
        c
    };
    s.reset_stats();
    store.create_partner(&partner(2), None).unwrap();
    for _ in 0..3 {
        assert!(process(&[]).status().unwrap().success());
    }
    assert_eq!(s.stats().requests, 0, "a paused API was asked: {:?}", s.stats());
    assert_eq!(store.outbox().all().unwrap().len(), 1, "the change waits, kept");

    // "Try again": one run asks (one token request, refused), and pauses again.
    assert!(process(&["--try-again"]).status().unwrap().success());
    assert_eq!(s.stats().requests, 1, "{:?}", s.stats());
    assert!(process(&[]).status().unwrap().success());
    assert_eq!(s.stats().requests, 1, "paused again after Try again was refused");

    // The probe: once its interval has passed, one request tries, by itself.
    let probing = SyncConfig { sign_in_probe_every: Duration::from_millis(300), ..config.clone() };
    s.reset_stats();
    partnerbook::app::sync::try_again(&mut store).unwrap();
    let r = sync_once(&mut store, &probing, |_| {}).await.unwrap();
    assert_eq!(r.needs_sign_in.len(), 1);
    let asked = s.stats().requests;
    let r = sync_once(&mut store, &probing, |_| {}).await.unwrap();
    assert_eq!((s.stats().requests, r.needs_sign_in.len()), (asked, 1), "no probe before its time");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let r = sync_once(&mut store, &probing, |_| {}).await.unwrap();
    assert_eq!((s.stats().requests, r.needs_sign_in.len()), (asked + 1, 1), "one probe request, refused: {r:?}");
    // IT re-enables the client: the next probe finds it working and everything flows.
    s.add_client(ClientCredentials::new(support::CLIENT_ID, support::CLIENT_SECRET, ORG));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let r = sync_once(&mut store, &probing, |_| {}).await.unwrap();
    assert!(r.needs_sign_in.is_empty(), "{r:?}");
    assert_eq!(r.sent, 1, "{r:?}");
    assert!(partnerbook::app::sync::needs_sign_in(&store, &config).unwrap().is_empty());

    // Revoked again, then new credentials: they are tried at once, no Try again needed.
    s.revoke_client(support::CLIENT_ID);
    s.expire_tokens();
    store.create_partner(&partner(3), None).unwrap();
    let r = sync_once(&mut store, &config, |_| {}).await.unwrap();
    assert_eq!(r.needs_sign_in.len(), 1, "{r:?}");
    s.add_client(ClientCredentials::new("pb-new", "n3w", ORG));
    let mut renewed = config.clone();
    if let Some(p) = renewed.partners.as_mut() {
        (p.client_id, p.client_secret) = ("pb-new".into(), "n3w".into());
    }
    assert!(partnerbook::app::sync::needs_sign_in(&store, &renewed).unwrap().is_empty(), "not shown for new ones");
    let r = sync_until_settled(&mut store, &renewed).await;
    assert!(r.needs_sign_in.is_empty(), "{r:?}");
    assert_converged(&store, &s);
    // The secret is nowhere in the database.
    let bytes = std::fs::read(&db).unwrap();
    let wal = std::fs::read(dir.path().join("sign-in.db-wal")).unwrap_or_default();
    for file in [bytes, wal] {
        assert!(!file.windows(6).any(|w| w == b"s3cret"), "the secret was written to the database");
    }
}

/// Two connected organizations, one that lets this caller change its
/// partners and one that does not. Partners of each arrive with their
/// organization; the refusing one becomes read-only with its reason and is
/// asked again only when the settings change; no organization's pull deletes
/// another's partners.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refusing_connected_organization_turns_read_only_while_a_writable_one_and_ones_own_flow() {
    let (writable, refusing) = (Uuid::from_u128(0xA1), Uuid::from_u128(0xB2));
    let (s, cfg) = connected_to_both(&[refusing], &[writable]).await;
    let fields = |i| serde_json::to_value(partner(i).validate_fields().unwrap()).unwrap();
    let (w, r) = (s.insert_partner(writable, fields(1)), s.insert_partner(refusing, fields(2)));
    s.insert_partner(ORG, fields(3));
    let mut store = Store::open_in_memory().unwrap();
    sync_until_settled(&mut store, &cfg).await;
    let by_server_id = |store: &Store, id: &Value| {
        let all = store.list_partners(&PartnerQuery::default()).unwrap().items;
        all.into_iter().find(|p| p.server.id.map(|i| i.to_string()).as_deref() == id.as_str()).unwrap()
    };
    let (ours_w, ours_r) = (by_server_id(&store, &w["id"]), by_server_id(&store, &r["id"]));
    assert_eq!((ours_w.target_org_id, ours_r.target_org_id), (Some(writable), Some(refusing)));
    assert_eq!(store.list_partners(&PartnerQuery::default()).unwrap().items.len(), 3);

    let edit = |store: &mut Store, key, frequency: &str| {
        let mut d = store.get::<Partners>(key).unwrap().fields.to_draft();
        d.frequency = frequency.into();
        store.update_partner(key, &d).unwrap();
    };
    edit(&mut store, ours_w.key, "weekly");
    edit(&mut store, ours_r.key, "weekly");
    let mine = store.create_partner(&partner(4), None).unwrap();
    let report = sync_once(&mut store, &cfg, |_| {}).await.unwrap();
    assert!(report.needs_sign_in.is_empty(), "{report:?}");
    assert_eq!((report.sent, report.held), (2, 1), "{report:?}");
    let on_server = |id: &Value| s.partners().into_iter().find(|p| p["id"] == *id).unwrap();
    assert_eq!(on_server(&w["id"])["frequency"], "weekly", "the writable organization took the edit");
    assert_eq!(on_server(&r["id"])["frequency"], "monthly");
    assert!(store.get::<Partners>(mine.key).unwrap().server.id.is_some());
    let why = store.access().read_only_reason(refusing).unwrap().expect("the refusing organization is read-only");
    assert!(why.contains("does not let you change"), "{why}");
    assert_eq!(store.access().read_only_reason(writable).unwrap(), None);
    assert_eq!(store.get::<Partners>(ours_r.key).unwrap().fields.frequency, "weekly", "kept here");
    // The window and the command line refuse further changes there, with the reason; elsewhere they go on.
    let draft = store.get::<Partners>(ours_r.key).unwrap().fields.to_draft();
    let refused = partnerbook::app::partners::update(&mut store, ours_r.key, &draft).unwrap_err();
    let body = partnerbook::ErrorBody::from(&refused);
    assert_eq!(
        (body.kind, body.args["organization"].clone()),
        (partnerbook::ErrorKind::ReadOnly, refusing.to_string())
    );
    assert!(body.message.contains("does not let you change"), "{}", body.message);
    assert!(partnerbook::app::partners::delete(&mut store, ours_r.key).is_err());
    let draft = store.get::<Partners>(ours_w.key).unwrap().fields.to_draft();
    partnerbook::app::partners::update(&mut store, ours_w.key, &draft).unwrap();

    // Later runs do not knock again while nothing changed.
    let attempts = |store: &Store| {
        store.outbox().all().unwrap().iter().find(|e| e.record_key == ours_r.key).map(|e| e.attempts).unwrap()
    };
    let before = attempts(&store);
    for _ in 0..2 {
        let again = sync_once(&mut store, &cfg, |_| {}).await.unwrap();
        assert_eq!((again.sent, again.held), (0, 0), "{again:?}");
    }
    assert_eq!(attempts(&store), before, "a read-only organization's change was sent again");
    // New settings (another API client of one's own organization): it is asked once more, and says no again.
    s.add_client(ClientCredentials::new("pb-second", "an0ther", ORG));
    let mut changed = cfg.clone();
    (changed.partners.as_mut().unwrap().client_id, changed.partners.as_mut().unwrap().client_secret) =
        ("pb-second".into(), "an0ther".into());
    let again = sync_once(&mut store, &changed, |_| {}).await.unwrap();
    assert_eq!(again.held, 1, "{again:?}");
    assert_eq!(attempts(&store), before + 1);
    assert!(store.access().read_only_reason(refusing).unwrap().is_some());
    // Nothing of anyone's was deleted by another organization's pull.
    let live = store.list_partners(&PartnerQuery::default()).unwrap().items;
    assert_eq!(live.len(), 4, "{live:#?}");
    assert!(live.iter().all(|p| p.deleted_at.is_none()));
}

/// Between full pulls, one one-item request per list reads its total: a
/// record added or deleted on the server brings a full read; this side's own
/// creates do not; a 429 with `Retry-After` is reported for the schedule to
/// hold every read, and the window's runner then reads nothing meanwhile.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn totals_notice_adds_and_deletes_cheaply_and_a_429_holds_the_reads() {
    use partnerbook::sync::cadence::Read;
    let s = server(Faults::none()).await;
    for i in 0..250 {
        s.insert_partner(ORG, serde_json::to_value(partner(i).validate_fields().unwrap()).unwrap());
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("totals.db");
    let mut store = Store::open(&db).unwrap();
    let full = SyncConfig { organizations: None, ..config(&s) };
    let totals = SyncConfig { read: Read::Totals, ..full.clone() };
    let r = sync_once(&mut store, &full, |_| {}).await.unwrap();
    assert_eq!((r.pulled_new, r.full_reads, r.read_in_full), (250, 1, true), "{r:?}");

    // Nothing new: a token and one one-item request, no page of records.
    s.reset_stats();
    let r = sync_once(&mut store, &totals, |_| {}).await.unwrap();
    assert_eq!((r.totals_checked, r.full_reads), (1, 0), "{r:?}");
    assert_eq!(s.stats().requests, 2, "{:?}", s.stats());
    // Our own create moves the server's total and ours alike: still no full read.
    store.create_partner(&partner(900), None).unwrap();
    let r = sync_once(&mut store, &totals, |_| {}).await.unwrap();
    assert_eq!((r.sent, r.full_reads), (1, 0), "{r:?}");
    let r = sync_once(&mut store, &totals, |_| {}).await.unwrap();
    assert_eq!(r.full_reads, 0, "{r:?}");
    // Someone else adds one, then deletes another: each brings a full read that finds it.
    s.insert_partner(ORG, serde_json::to_value(partner(901).validate_fields().unwrap()).unwrap());
    let r = sync_once(&mut store, &totals, |_| {}).await.unwrap();
    assert_eq!((r.full_reads, r.pulled_new), (1, 1), "{r:?}");
    let gone = s.partners()[3]["id"].as_str().unwrap().parse().unwrap();
    assert!(s.delete_partner(gone));
    let r = sync_once(&mut store, &totals, |_| {}).await.unwrap();
    assert_eq!((r.full_reads, r.deleted_remotely), (1, 1), "{r:?}");
    let r = sync_once(&mut store, &totals, |_| {}).await.unwrap();
    assert_eq!(r.full_reads, 0, "settled again: {r:?}");
    assert_converged(&store, &s);

    // 429 with Retry-After: 600 on every list: reported, and the runner holds its reads.
    s.set_faults(Faults { rate_limit_rate: 1.0, retry_after_secs: 600, ..Faults::none() });
    let runner = partnerbook::app::SyncRunner::default();
    let occasion = partnerbook::app::sync::Occasion { focused: true, saved: false };
    // The runner blocks (the window calls it off its UI thread); so does this test, outside the runtime.
    let blocking = |f: &dyn Fn() -> partnerbook::app::LastSync| tokio::task::block_in_place(f);
    let first = blocking(&|| runner.tick_blocking(&db, &full, occasion)); // on start: a full read, refused
    assert_eq!(first.report.as_ref().and_then(|r| r.slow_down_secs), Some(600), "{first:?}");
    s.reset_stats();
    for _ in 0..3 {
        blocking(&|| runner.tick_blocking(&db, &full, occasion));
        blocking(&|| runner.run_blocking(&db, &full)); // even "Sync now" reads nothing during Retry-After
    }
    assert_eq!(s.stats().faults.rate_limit, 0, "a read went during Retry-After: {:?}", s.stats());
    // A save still goes at once: pushes are not reads.
    s.set_faults(Faults::none());
    store.create_partner(&partner(902), None).unwrap();
    let saved =
        blocking(&|| runner.tick_blocking(&db, &full, partnerbook::app::sync::Occasion { saved: true, ..occasion }));
    assert_eq!(saved.report.as_ref().map(|r| (r.sent, r.full_reads, r.totals_checked)), Some((1, 0, 0)), "{saved:?}");
}

/// A push without a full read first (a save, in the window's schedule) reads
/// back the records it updates: a change made on the server meanwhile is
/// merged, or asked about when the same field changed here, never overwritten.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_sent_without_a_full_read_reads_its_record_back_first() {
    let s = server(Faults::none()).await;
    let mut store = Store::open_in_memory().unwrap();
    let full = SyncConfig { organizations: None, ..config(&s) };
    let push_only = SyncConfig { read: partnerbook::sync::cadence::Read::Nothing, ..full.clone() };
    let (a, b) = (store.create_partner(&partner(1), None).unwrap(), store.create_partner(&partner(2), None).unwrap());
    sync_until_settled(&mut store, &full).await;
    let id = |key| store.get::<Partners>(key).unwrap().server.id.unwrap();
    let (id_a, id_b) = (id(a.key), id(b.key));
    // The server changes a's terms and b's frequency; here a's frequency and b's frequency change.
    s.edit_partner(id_a, json!({"payment_terms": "net 90"})).unwrap();
    s.edit_partner(id_b, json!({"frequency": "yearly"})).unwrap();
    for key in [a.key, b.key] {
        let mut d = store.get::<Partners>(key).unwrap().fields.to_draft();
        d.frequency = "weekly".into();
        store.update_partner(key, &d).unwrap();
    }
    s.reset_stats();
    let r = sync_once(&mut store, &push_only, |_| {}).await.unwrap();
    assert_eq!((r.full_reads, r.conflicts), (0, 1), "{r:?}");
    let on_server = |id: Uuid| s.partners().into_iter().find(|p| p["id"] == json!(id.to_string())).unwrap();
    // a: both changes kept, on both sides.
    assert_eq!(
        (on_server(id_a)["payment_terms"].clone(), on_server(id_a)["frequency"].clone()),
        (json!("net 90"), json!("weekly"))
    );
    assert_eq!(store.get::<Partners>(a.key).unwrap().fields.payment_terms, "net 90");
    // b: the same field on both sides is the user's to decide; the server's value is not overwritten.
    assert_eq!(on_server(id_b)["frequency"], "yearly");
    assert_eq!(store.get::<Partners>(b.key).unwrap().sync_state, SyncState::Conflict);
    // One list request read both back (plus the token and the update).
    assert!(s.stats().requests <= 3, "{:?}", s.stats());
}

/// The window's status bar shows a running sync's counts as they move, not
/// "Syncing…" for a whole pull.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_running_sync_shows_its_counts_as_they_move() {
    let s = server(Faults { latency_ms: 20, ..Faults::none() }).await;
    for i in 0..1_500 {
        s.insert_partner(ORG, serde_json::to_value(partner(i).validate_fields().unwrap()).unwrap());
    }
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("progress.db");
    Store::open(&db).unwrap();
    let config = SyncConfig { organizations: None, pages_in_flight: 1, ..config(&s) };
    let runner = std::sync::Arc::new(partnerbook::app::SyncRunner::default());
    let running = {
        let (runner, db, config) = (runner.clone(), db.clone(), config.clone());
        std::thread::spawn(move || runner.run_blocking(&db, &config))
    };
    let (mut seen, mut readings) = (Vec::new(), Vec::new());
    while !running.is_finished() {
        if let Some(sentence) = runner.progress() {
            if seen.last() != Some(&sentence) {
                seen.push(sentence);
            }
        }
        if let Some(reading) = runner.reading() {
            if readings.last() != Some(&reading) {
                readings.push(reading);
            }
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let last = running.join().unwrap();
    assert!(last.message.contains("1500 received"), "{last:?}");
    let partway: Vec<_> = seen.iter().filter(|s| s.contains(" received") && !s.contains("1500 received")).collect();
    assert!(partway.len() >= 2, "counts seen while it ran: {seen:?}");
    assert_eq!(runner.progress(), None, "nothing once it ended");
    // The Sync screen's bar: the whole known from the first page, the part read moving towards it.
    assert!(readings.iter().all(|r| r.of == 1_500), "{readings:?}");
    let parts: Vec<u64> = readings.iter().map(|r| r.read).collect();
    assert!(parts.windows(2).all(|w| w[0] < w[1]), "{parts:?}");
    assert!(parts.iter().filter(|&&n| n > 0 && n < 1_500).count() >= 2, "{parts:?}");
    assert_eq!(runner.reading(), None, "no bar once it ended");
}
