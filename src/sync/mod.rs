//! Sync with the central APIs: push the outbox, then pull and merge.
//!
//! Push sends each record's changes in order, one request at a time per
//! record and up to [`SyncConfig::concurrency`] records at once. Every attempt
//! is counted in the store before its request goes out, so after a crash or a
//! lost answer the next attempt knows the change may have arrived and
//! reconciles first: a partner create searches the server by email and adopts
//! an exact match; an organization create looks its own id up. A server that
//! ignores `Idempotency-Key` therefore still gets no duplicates.
//!
//! The store is used from this task only; requests run on spawned tasks that
//! never touch it.

pub mod client;
pub mod merge;
pub mod wire;

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use uuid::Uuid;

use crate::model::SyncError;
use crate::store::{Due, Entity, Op, Pulled, Store, StoreError};
use client::{Failure, OrganizationsApi, OrganizationsConfig, PartnersApi, PartnersConfig};
use wire::{ServerOrganization, ServerPartner};

/// Backoff for transient failures: exponential from `base`, capped, with jitter.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    pub base: Duration,
    pub cap: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy { base: Duration::from_secs(2), cap: Duration::from_secs(300) }
    }
}

impl RetryPolicy {
    /// The wait before attempt `attempts + 1`: base·2^(attempts-1), capped, then
    /// a random 50–100% of it (so many clients do not retry in step), and never
    /// less than the server's `Retry-After`.
    pub fn delay(&self, attempts: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self.base.saturating_mul(1u32 << attempts.saturating_sub(1).min(16)).min(self.cap);
        let jittered = exp.mul_f64(0.5 + fastrand::f64() * 0.5);
        jittered.max(retry_after.unwrap_or_default())
    }
}

#[derive(Debug, Clone)]
pub struct SyncConfig {
    pub partners: Option<PartnersConfig>,
    pub organizations: Option<OrganizationsConfig>,
    /// Requests in flight at once (never two for the same record).
    pub concurrency: usize,
    pub retry: RetryPolicy,
    /// How long one run keeps waiting for changes whose retry time has not come.
    pub wait_for_retries: Duration,
    /// Pull after pushing.
    pub pull: bool,
    /// Per-request timeout (an answer that never comes counts as a lost answer).
    pub request_timeout: Duration,
    /// The most records one pull reads from one list.
    pub max_pull_records: usize,
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            partners: None,
            organizations: None,
            concurrency: 16,
            retry: RetryPolicy::default(),
            wait_for_retries: Duration::from_secs(30),
            pull: true,
            request_timeout: Duration::from_secs(30),
            max_pull_records: 2_000_000,
        }
    }
}

/// What one run did; also the progress report while it runs.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct SyncReport {
    /// Changes the server took.
    pub sent: u64,
    /// Creates found already on the server (an earlier answer was lost) and linked, not sent again.
    pub adopted: u64,
    pub rejected: u64,
    /// Changes kept locally because the server does not offer the operation they need.
    pub held: u64,
    /// Attempts that failed for a passing reason and will be retried.
    pub retried: u64,
    pub conflicts: u64,
    pub pulled_new: u64,
    pub pulled_updated: u64,
    pub deleted_remotely: u64,
    /// Changes still waiting when the run ended.
    pub pending: u64,
    /// APIs paused until their credentials change, with the reason.
    pub needs_sign_in: Vec<String>,
    /// Why a pull could not complete, if it could not.
    pub errors: Vec<String>,
    /// Records from the central system that were not valid and were left out.
    pub invalid_from_server: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SyncFailure {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "Sync is not set up: enter the partners or organizations API in Settings (or the PARTNERBOOK_* variables)."
    )]
    NotConfigured,
    #[error("{0}")]
    BadAddress(String),
}

/// What a request task found out.
enum Done {
    Partner(Option<ServerPartner>),
    /// A partner create that may have arrived earlier: these server records carry its email.
    PartnerCandidates(Vec<ServerPartner>),
    Organization(Option<ServerOrganization>),
}

struct Apis {
    partners: Option<Arc<PartnersApi>>,
    organizations: Option<Arc<OrganizationsApi>>,
}

/// Runs one sync: pushes every change that is due (waiting up to
/// `wait_for_retries` for ones backing off), then pulls. `progress` sees the
/// report as it grows.
pub async fn sync_once(
    store: &mut Store,
    config: &SyncConfig,
    mut progress: impl FnMut(&SyncReport),
) -> Result<SyncReport, SyncFailure> {
    if config.partners.is_none() && config.organizations.is_none() {
        return Err(SyncFailure::NotConfigured);
    }
    let http = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(config.request_timeout)
        .pool_max_idle_per_host(config.concurrency.max(1))
        .user_agent(concat!("Partnerbook/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with these options always builds");
    let apis = Apis {
        partners: config.partners.clone().map(|c| Arc::new(PartnersApi::new(http.clone(), c))),
        organizations: config.organizations.clone().map(|c| Arc::new(OrganizationsApi::new(http, c))),
    };
    store.relax_sync_durability(true)?;
    let outcome = run(store, config, &apis, &mut progress).await;
    store.relax_sync_durability(false)?;
    outcome
}

async fn run(
    store: &mut Store,
    config: &SyncConfig,
    apis: &Apis,
    progress: &mut impl FnMut(&SyncReport),
) -> Result<SyncReport, SyncFailure> {
    let mut report = SyncReport::default();
    // An API not configured is as good as paused: its changes wait.
    let mut paused: Vec<Entity> = Vec::new();
    if apis.partners.is_none() {
        paused.push(Entity::Partner);
    }
    if apis.organizations.is_none() {
        paused.push(Entity::Organization);
    }
    if config.partners.as_ref().is_some_and(|p| p.assumed_ops) {
        store.release_holds(Entity::Partner)?;
    }
    // Pull first: an update is a whole-record PUT, so remote changes must be
    // merged into it before it is sent, or they would be overwritten.
    if config.pull {
        pull(store, apis, &paused, &mut report, progress).await?;
    }
    push(store, config, apis, &mut paused, &mut report, progress).await?;
    report.pending = store.outbox_summary()?.0;
    progress(&report);
    Ok(report)
}

async fn pull(
    store: &mut Store,
    apis: &Apis,
    paused: &[Entity],
    report: &mut SyncReport,
    progress: &mut impl FnMut(&SyncReport),
) -> Result<(), SyncFailure> {
    if let Some(api) = &apis.partners
        && !paused.contains(&Entity::Partner)
    {
        store.set_bulk_writes(true)?;
        let pulled = pull_partners(store, api, report, progress).await;
        store.set_bulk_writes(false)?;
        pulled?;
    }
    if let Some(api) = &apis.organizations
        && !paused.contains(&Entity::Organization)
    {
        pull_organizations(store, api, report, progress).await?;
    }
    Ok(())
}

async fn push(
    store: &mut Store,
    config: &SyncConfig,
    apis: &Apis,
    paused: &mut Vec<Entity>,
    report: &mut SyncReport,
    progress: &mut impl FnMut(&SyncReport),
) -> Result<(), SyncFailure> {
    let deadline = tokio::time::Instant::now() + config.wait_for_retries;
    let concurrency = config.concurrency.max(1);
    let mut tasks: JoinSet<(Due, Result<Done, Failure>)> = JoinSet::new();
    let mut in_flight: HashSet<(Entity, Uuid)> = HashSet::new();
    // Partner creates whose reconciliation found nothing to adopt: send them now.
    let mut reconciled: HashSet<i64> = HashSet::new();
    let mut queue: std::collections::VecDeque<Due> = Default::default();
    loop {
        // Fill the free slots, the oldest change of each record first.
        let mut batch: Vec<(Due, bool)> = Vec::new();
        let mut claimed: HashSet<(Entity, Uuid)> = HashSet::new();
        while tasks.len() + batch.len() < concurrency {
            if queue.is_empty() {
                let fresh = store.due_changes(Utc::now(), concurrency * 8, paused)?;
                queue.extend(fresh.into_iter().filter(|d| {
                    let id = (d.entry.entity, d.entry.record_key);
                    !in_flight.contains(&id) && !claimed.contains(&id)
                }));
                if queue.is_empty() {
                    break;
                }
            }
            let Some(due) = queue.pop_front() else { break };
            let id = (due.entry.entity, due.entry.record_key);
            if in_flight.contains(&id) || claimed.contains(&id) || paused.contains(&id.0) {
                continue;
            }
            claimed.insert(id);
            let reconcile = due.entry.attempts > 0 && !reconciled.contains(&due.entry.seq);
            batch.push((due, reconcile));
        }
        if !batch.is_empty() {
            // Counted as attempted (durably) before any of them leaves; re-read as they are now.
            let seqs: Vec<i64> = batch.iter().map(|(d, _)| d.entry.seq).collect();
            let fresh = store.begin_attempts(&seqs)?;
            for ((due, reconcile), entry) in batch.into_iter().zip(fresh) {
                let Some(entry) = entry else { continue };
                let due = Due { entry, ..due };
                in_flight.insert((due.entry.entity, due.entry.record_key));
                let (partners, organizations) = (apis.partners.clone(), apis.organizations.clone());
                tasks.spawn(async move {
                    let outcome = match due.entry.entity {
                        Entity::Partner => push_partner(partners.as_deref(), &due, reconcile).await,
                        Entity::Organization => push_organization(organizations.as_deref(), &due).await,
                    };
                    (due, outcome)
                });
            }
        }
        let Some(joined) = tasks.join_next().await else {
            // Nothing in flight: wait for the next retry if it comes in time.
            match store.next_retry_at(Utc::now(), paused)? {
                Some(at) => {
                    let wait = (at - Utc::now()).to_std().unwrap_or_default();
                    if tokio::time::Instant::now() + wait > deadline {
                        return Ok(());
                    }
                    tokio::time::sleep(wait + Duration::from_millis(5)).await;
                    continue;
                }
                _ => return Ok(()),
            }
        };
        let (due, outcome) = joined.expect("push tasks do not panic");
        in_flight.remove(&(due.entry.entity, due.entry.record_key));
        settle(store, config, &due, outcome, paused, &mut reconciled, report)?;
        progress(report);
    }
}

/// Writes down what became of one attempt.
fn settle(
    store: &mut Store,
    config: &SyncConfig,
    due: &Due,
    outcome: Result<Done, Failure>,
    paused: &mut Vec<Entity>,
    reconciled: &mut HashSet<i64>,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    let e = &due.entry;
    match outcome {
        Ok(Done::Partner(server)) => {
            store.partner_change_done(e.seq, e.record_key, server.as_ref())?;
            report.sent += 1;
        }
        Ok(Done::Organization(server)) => {
            store.organization_change_done(e.seq, e.record_key, server.as_ref())?;
            report.sent += 1;
        }
        Ok(Done::PartnerCandidates(candidates)) => {
            let ours: Option<crate::PartnerFields> = serde_json::from_value(e.payload.clone()).ok();
            let mut free = Vec::new();
            for c in candidates {
                if store.partner_key_for_server_id(c.id)?.is_none() {
                    free.push(c);
                }
            }
            if let Some(same) = free.iter().find(|c| Some(&c.fields) == ours.as_ref()) {
                store.partner_change_done(e.seq, e.record_key, Some(same))?;
                report.adopted += 1;
            } else if let Some(similar) = free.first() {
                store.flag_possible_duplicate(e.seq, e.record_key, similar)?;
                report.conflicts += 1;
            } else {
                // Nothing there: the earlier attempt did not arrive. Send it now.
                reconciled.insert(e.seq);
                store.retry_change_at(e.seq, None, "Checked: not on the server yet")?;
            }
        }
        Err(Failure::Transient { message, retry_after }) => {
            let at = Utc::now() + config.retry.delay(e.attempts, retry_after);
            store.retry_change_at(e.seq, Some(at), &format!("Will retry: {message}"))?;
            report.retried += 1;
        }
        Err(Failure::SignIn(reason)) => {
            if !paused.contains(&e.entity) {
                paused.push(e.entity);
                report.needs_sign_in.push(reason.clone());
            }
            store.retry_change_at(e.seq, None, &reason)?;
        }
        Err(Failure::Rejected(error)) => {
            store.reject_change(e.seq, e.entity, e.record_key, &error)?;
            report.rejected += 1;
        }
        Err(Failure::Unsupported) => {
            let what = match e.op {
                Op::Delete => "deletes",
                _ => "changes to",
            };
            let reason = format!(
                "The server does not accept {what} existing partners yet. The change is kept here and will be \
                 sent when it does; nothing else is held up."
            );
            store.hold_change(e.seq, e.entity, e.record_key, &reason)?;
            report.held += 1;
        }
        Err(Failure::NotFound) => {
            // The record is gone from the server while it changed here: ask the user.
            let error = SyncError {
                message: "This record was deleted on the server by someone else. Delete it here too, or save it \
                          as a new record."
                    .into(),
                fields: vec![],
            };
            store.reject_change(e.seq, e.entity, e.record_key, &error)?;
            report.rejected += 1;
        }
    }
    Ok(())
}

async fn push_partner(api: Option<&PartnersApi>, due: &Due, reconcile: bool) -> Result<Done, Failure> {
    let api = api.ok_or_else(|| Failure::SignIn("The partners API is not set up.".into()))?;
    let e = &due.entry;
    let key = e.idempotency_key();
    let target = due.target_org_id.unwrap_or(api.config().requester_org_id);
    match (e.op, due.server_id) {
        (Op::Create, None) => {
            if reconcile {
                let email = e.payload.get("email").and_then(Value::as_str).unwrap_or_default();
                let found = api.find_by_email(email).await?;
                if !found.is_empty() {
                    return Ok(Done::PartnerCandidates(found));
                }
            }
            api.create(&e.payload, &key).await.map(|p| Done::Partner(Some(p)))
        }
        // Created already (adopted or sent earlier): what is left is an update.
        (Op::Create | Op::Update, Some(id)) => match api.update(id, &e.payload, target, &key).await {
            Ok(p) => Ok(Done::Partner(Some(p))),
            Err(Failure::NotFound) => gone_or_unsupported(api, target, id).await,
            Err(f) => Err(f),
        },
        (Op::Update, None) => Err(Failure::transient("waiting for the partner to be created first")),
        (Op::Delete, None) => Ok(Done::Partner(None)),
        (Op::Delete, Some(id)) => match api.delete(id, target, &key).await {
            Ok(()) => Ok(Done::Partner(None)),
            Err(Failure::NotFound) => match gone_or_unsupported(api, target, id).await {
                Err(Failure::NotFound) => Ok(Done::Partner(None)), // already gone: done
                other => other,
            },
            Err(f) => Err(f),
        },
    }
}

/// A 404 on `/partners/{id}` means either the partner is gone or the server
/// has no such route: the documented list by id tells which.
async fn gone_or_unsupported(api: &PartnersApi, target: Uuid, id: Uuid) -> Result<Done, Failure> {
    if api.existing(target, &[id]).await?.contains(&id) { Err(Failure::Unsupported) } else { Err(Failure::NotFound) }
}

async fn push_organization(api: Option<&OrganizationsApi>, due: &Due) -> Result<Done, Failure> {
    let api = api.ok_or_else(|| Failure::SignIn("The organizations API is not set up.".into()))?;
    let e = &due.entry;
    let id = e.record_key.to_string();
    let key = e.idempotency_key();
    match e.op {
        Op::Create => {
            // The id is ours: look it up first when an earlier attempt may have arrived.
            if e.attempts > 1 {
                if let Some(existing) = api.get(&id).await? {
                    return finish_org_create(api, &id, existing, &e.payload, &key).await;
                }
            }
            match api.create(&e.payload, &key).await {
                Ok(o) => Ok(Done::Organization(Some(o))),
                // Refused as a duplicate id: it is there already (our earlier attempt); make it match.
                Err(Failure::Rejected(error)) => match api.get(&id).await? {
                    Some(existing) => finish_org_create(api, &id, existing, &e.payload, &key).await,
                    None => Err(Failure::Rejected(error)),
                },
                Err(f) => Err(f),
            }
        }
        Op::Update => api.update(&id, &e.payload, &key).await.map(|o| Done::Organization(Some(o))),
        Op::Delete => api.delete(&id, &key).await.map(|()| Done::Organization(None)),
    }
}

async fn finish_org_create(
    api: &OrganizationsApi,
    id: &str,
    existing: ServerOrganization,
    payload: &Value,
    key: &str,
) -> Result<Done, Failure> {
    let mut wanted = payload.clone();
    if let Some(map) = wanted.as_object_mut() {
        map.remove("id");
    }
    if Value::Object(crate::store::sync_org_map(&existing.fields)) == wanted {
        Ok(Done::Organization(Some(existing)))
    } else {
        api.update(id, payload, key).await.map(|o| Done::Organization(Some(o)))
    }
}

/// Pages through every organization's partners the user may read, merging each;
/// a record missing from a complete scan is checked directly before it is deleted here.
async fn pull_partners(
    store: &mut Store,
    api: &Arc<PartnersApi>,
    report: &mut SyncReport,
    progress: &mut impl FnMut(&SyncReport),
) -> Result<(), SyncFailure> {
    let own = api.config().requester_org_id;
    let mut orgs = vec![own];
    orgs.extend(api.config().target_org_ids.iter().copied().filter(|t| *t != own));
    let stopped = |f: Failure| format!("Reading partners stopped part-way ({f:?}); will try again.");
    for org in orgs {
        // Own partners are stored without a target organization.
        let local_org = (org != own).then_some(org);
        let mut seen = HashSet::new();
        // The first page says how many there are; a reader then keeps fetching
        // the others while this thread merges whatever has arrived, in one
        // transaction: the slower the merge, the larger (and cheaper) each batch.
        let (first, total) = match api.list(org, &[], 0).await {
            Ok(answer) => answer,
            Err(f) => {
                report.errors.push(stopped(f));
                continue;
            }
        };
        let mut batch: Vec<ServerPartner> = first.iter().filter_map(ServerPartner::from_json).collect();
        let mut pages = read_pages(api.clone(), org, first.len(), total);
        let mut complete = true;
        loop {
            let mut reading = true;
            while reading && batch.len() < MERGE_AT_MOST {
                match pages.try_recv() {
                    Ok(Ok(items)) => batch.extend(items),
                    Ok(Err(f)) => {
                        report.errors.push(stopped(f));
                        (complete, reading) = (false, false);
                    }
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => reading = false,
                }
            }
            if batch.is_empty() && reading {
                // Nothing to merge yet: wait for the next page.
                match pages.recv().await {
                    Some(Ok(items)) => batch.extend(items),
                    Some(Err(f)) => {
                        report.errors.push(stopped(f));
                        complete = false;
                        break;
                    }
                    None => break,
                }
                continue;
            }
            if !batch.is_empty() {
                seen.extend(batch.iter().map(|p| p.id));
                for pulled in store.pull_partners(local_org, &batch)? {
                    count(report, pulled);
                }
                batch.clear();
                progress(report);
            }
            if !reading {
                break;
            }
        }
        if !complete {
            continue;
        }
        let missing = store.server_ids_not_seen(local_org, &seen)?;
        if missing.is_empty() {
            continue;
        }
        let ids: Vec<Uuid> = missing.iter().map(|(_, id)| *id).collect();
        let Ok(still_there) = api.existing(org, &ids).await else { continue };
        let by_id: HashMap<Uuid, Uuid> = missing.into_iter().map(|(k, id)| (id, k)).collect();
        for (id, key) in by_id {
            if !still_there.contains(&id) && store.deleted_remotely(Entity::Partner, key)? {
                report.deleted_remotely += 1;
            }
        }
    }
    Ok(())
}

/// Pages requested at once while a pull reads the partner list.
const PAGES_IN_FLIGHT: usize = 8;
/// The most pulled partners merged in one transaction.
const MERGE_AT_MOST: usize = 5_000;

/// Fetches the partner pages after the first (`from` records, of `total`),
/// [`PAGES_IN_FLIGHT`] at a time, and hands each over as it arrives (in any
/// order: each record merges on its own). Stops after a failure, or when the
/// receiver is dropped; at most 64 pages wait unmerged.
fn read_pages(
    api: Arc<PartnersApi>,
    org: Uuid,
    from: usize,
    total: usize,
) -> mpsc::Receiver<client::Answer<Vec<ServerPartner>>> {
    let (pages, received) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut offsets = (from..total).step_by(client::PAGE.max(1));
        let mut requests = JoinSet::new();
        loop {
            while requests.len() < PAGES_IN_FLIGHT
                && let Some(at) = offsets.next()
            {
                let api = api.clone();
                // Decoded here, beside the merge rather than before it.
                requests.spawn(async move {
                    let (items, _) = api.list(org, &[], at).await?;
                    Ok(items.iter().filter_map(ServerPartner::from_json).collect())
                });
            }
            let Some(done) = requests.join_next().await else { break };
            let answer = done.unwrap_or_else(|e| Err(Failure::transient(format!("a page request stopped: {e}"))));
            let failed = answer.is_err();
            if pages.send(answer).await.is_err() || failed {
                break;
            }
        }
    });
    received
}

async fn pull_organizations(
    store: &mut Store,
    api: &OrganizationsApi,
    report: &mut SyncReport,
    progress: &mut impl FnMut(&SyncReport),
) -> Result<(), SyncFailure> {
    let mut seen = HashSet::new();
    let mut offset = 0;
    loop {
        match api.list(offset).await {
            Ok((items, total)) => {
                let page: Vec<ServerOrganization> = items.iter().filter_map(ServerOrganization::from_json).collect();
                seen.extend(page.iter().map(|o| o.id.clone()));
                for pulled in store.pull_organizations(&page)? {
                    count(report, pulled);
                }
                offset += items.len();
                progress(report);
                if items.is_empty() || offset >= total {
                    break;
                }
            }
            Err(f) => {
                report.errors.push(format!("Reading organizations stopped part-way ({f:?}); will try again."));
                return Ok(());
            }
        }
    }
    for key in store.organizations_not_seen(&seen)? {
        // Confirm with a direct lookup: paging can skip a row while the server changes.
        if let Ok(None) = api.get(&key.to_string()).await
            && store.deleted_remotely(Entity::Organization, key)?
        {
            report.deleted_remotely += 1;
        }
    }
    Ok(())
}

fn count(report: &mut SyncReport, pulled: Pulled) {
    match pulled {
        Pulled::Inserted => report.pulled_new += 1,
        Pulled::Updated => report.pulled_updated += 1,
        Pulled::Adopted => report.adopted += 1,
        Pulled::Conflict => report.conflicts += 1,
        Pulled::Unchanged => {}
    }
}
