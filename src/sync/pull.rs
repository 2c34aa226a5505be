//! Reading the central system: the pull of each API (pages in flight, a
//! merge per batch, what a complete scan says of records it did not see),
//! the totals check that spares a full read, and the read-back of records
//! whose updates are due. What each record read means is planned by
//! [`crate::plan`] and applied by the store.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;

use chrono::Utc;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::{Apis, SyncConfig, SyncFailure, SyncReport, cadence, drainer, sign_in_refused};
use crate::plan::Pulled;
use crate::remote::client::{self, Failure, OrganizationsApi, PartnersApi};
use crate::remote::wire::{self, ServerOrganization, ServerPartner};
use crate::store::{Entity, Op, Organizations, Partners, Store, StoreError};

pub(super) enum ReadBack {
    Store(StoreError),
    Failed(Failure),
}

impl From<StoreError> for ReadBack {
    fn from(e: StoreError) -> Self {
        ReadBack::Store(e)
    }
}

/// The most updates read back before one run's push: past this many, the
/// rest wait for a full read (which reads them all at once, far cheaper).
const READ_BACK_AT_MOST: usize = 2_000;

/// Reads back by id the records whose updates are due (an update is a whole
/// record: a change made on the server since the last read must be merged
/// into it first, or it would be overwritten) and merges them as a pull
/// would: a field changed on both sides becomes a question, not a loss.
/// Partners go 50 to a request (`GET /partners?partner_ids=`, documented);
/// organizations one by one (`GET /organizations/{id}`).
pub(super) async fn read_back(
    store: &mut Store,
    config: &SyncConfig,
    apis: &Apis,
    api: Entity,
    report: &mut SyncReport,
) -> Result<(), ReadBack> {
    let due = store.outbox().due(Utc::now(), READ_BACK_AT_MOST, &[], &[], config.settle())?;
    let updates = due.iter().filter(|d| d.entry.entity == api);
    match api {
        Entity::Partner => {
            let Some(partners) = &apis.partners else { return Ok(()) };
            let mut by_org: HashMap<Option<Uuid>, Vec<Uuid>> = HashMap::new();
            for d in updates.filter(|d| d.entry.op == Op::Update || (d.entry.op == Op::Create && d.server_id.is_some()))
            {
                if let Some(id) = d.server_id {
                    by_org.entry(d.target_org_id).or_default().push(id);
                }
            }
            for (local_org, ids) in by_org {
                let target = local_org.unwrap_or(partners.config().requester_org_id);
                let found = partners.by_ids(target, &ids).await.map_err(ReadBack::Failed)?;
                let decoded = decode_partners(&found);
                for pulled in store.pull_page_adopting::<Partners>(local_org, &decoded.good, false)? {
                    count(report, pulled);
                }
            }
        }
        Entity::Organization => {
            let Some(organizations) = &apis.organizations else { return Ok(()) };
            let keys: Vec<Uuid> = updates.filter(|d| d.entry.op == Op::Update).map(|d| d.entry.record_key).collect();
            for key in keys {
                if let Some(found) = organizations.get(&key.to_string()).await.map_err(ReadBack::Failed)? {
                    for pulled in store.pull_page::<Organizations>(None, &[found])? {
                        count(report, pulled);
                    }
                }
            }
        }
    }
    Ok(())
}

/// Pulls each API that is not paused (with [`cadence::Read::Totals`], only
/// those whose lists' totals moved); returns the APIs a full read was tried
/// for, and those whose records were all read.
pub(super) async fn pull(
    store: &mut Store,
    config: &SyncConfig,
    apis: &Apis,
    paused: &mut Vec<Entity>,
    report: &mut SyncReport,
    progress: &mut impl FnMut(&SyncReport),
) -> Result<(Vec<Entity>, Vec<Entity>), SyncFailure> {
    let mut read_in_full = Vec::new();
    let mut tried = Vec::new();
    // With totals only, each API's lists are asked for their totals first.
    let wanted = match config.read {
        cadence::Read::Totals => totals_moved(store, config, apis, paused, report).await?,
        _ => vec![Entity::Partner, Entity::Organization],
    };
    if let Some(api) = &apis.partners
        && !paused.contains(&Entity::Partner)
        && wanted.contains(&Entity::Partner)
    {
        tried.push(Entity::Partner);
        report.full_reads += 1;
        store.set_bulk_writes(true)?;
        let pulled = pull_partners(store, api, config, report, progress).await;
        store.set_bulk_writes(false)?;
        match pulled? {
            PullEnd::Read { in_full: true } => read_in_full.push(Entity::Partner),
            PullEnd::Read { in_full: false } => {}
            PullEnd::SignInRefused(reason) => {
                sign_in_refused(store, config, apis, Entity::Partner, &reason, paused, report)?
            }
        }
    }
    if let Some(api) = &apis.organizations
        && !paused.contains(&Entity::Organization)
        && wanted.contains(&Entity::Organization)
    {
        tried.push(Entity::Organization);
        report.full_reads += 1;
        match pull_organizations(store, api, config.max_pull_records, report, progress).await? {
            PullEnd::Read { in_full: true } => read_in_full.push(Entity::Organization),
            PullEnd::Read { in_full: false } => {}
            PullEnd::SignInRefused(reason) => {
                sign_in_refused(store, config, apis, Entity::Organization, &reason, paused, report)?
            }
        }
    }
    Ok((tried, read_in_full))
}

/// The lists of partners read: each organization's id at the server, and as
/// it is stored here (`None`: one's own).
fn partner_lists(api: &PartnersApi) -> Vec<(Uuid, Option<Uuid>)> {
    let own = api.config().requester_org_id;
    let mut lists = vec![(own, None)];
    lists.extend(api.config().target_org_ids.iter().filter(|t| **t != own).map(|t| (*t, Some(*t))));
    lists
}

/// The APIs with a list whose total moved since its last full read, other
/// than by this side's own records (one one-item request per list).
async fn totals_moved(
    store: &mut Store,
    config: &SyncConfig,
    apis: &Apis,
    paused: &mut Vec<Entity>,
    report: &mut SyncReport,
) -> Result<Vec<Entity>, SyncFailure> {
    let mut moved = Vec::new();
    let mut lists: Vec<(Entity, Option<Uuid>, Uuid)> = Vec::new();
    if let Some(api) = apis.partners.as_ref().filter(|_| !paused.contains(&Entity::Partner)) {
        lists.extend(partner_lists(api).into_iter().map(|(org, local)| (Entity::Partner, local, org)));
    }
    if apis.organizations.is_some() && !paused.contains(&Entity::Organization) {
        lists.push((Entity::Organization, None, Uuid::nil()));
    }
    for (entity, local_org, org) in lists {
        if moved.contains(&entity) || paused.contains(&entity) {
            continue;
        }
        report.totals_checked += 1;
        let total = match entity {
            Entity::Partner => apis.partners.as_ref().expect("listed above").total(org).await,
            Entity::Organization => apis.organizations.as_ref().expect("listed above").total().await,
        };
        match total {
            Ok(total) => {
                let name = crate::store::list_name(entity, local_org);
                let now_linked = store.linked_count(entity, local_org)?;
                let moved_here = match store.list_totals(&name)? {
                    None => true,
                    Some((server_then, linked_then)) => total as i64 - server_then != now_linked - linked_then,
                };
                if moved_here {
                    moved.push(entity);
                }
            }
            Err(Failure::SignIn(reason)) => sign_in_refused(store, config, apis, entity, &reason, paused, report)?,
            Err(f) => {
                slowed_down(report, &f);
                report.errors.push(format!("Checking the central system for news failed ({f}); will try again."));
            }
        }
    }
    Ok(moved)
}

/// A read the server declined (429, 503, a redirect) asks every read to wait:
/// its `Retry-After`, or a minute.
pub(super) fn slowed_down(report: &mut SyncReport, failure: &Failure) {
    if let Failure::Transient { declined: true, retry_after, .. } = failure {
        let secs = retry_after.map_or(60, |d| d.as_secs().max(1));
        report.slow_down_secs = Some(report.slow_down_secs.unwrap_or(0).max(secs));
    }
}

/// How a pull of one API ended.
enum PullEnd {
    /// Whether every list was read to its end.
    Read { in_full: bool },
    /// The API refused the sign-in: it pauses (the reason says why).
    SignInRefused(String),
}

/// Pages through every organization's partners the user may read, merging each;
/// a record missing from a complete scan is checked directly before it is
/// deleted here. Returns whether every list was read to its end.
async fn pull_partners(
    store: &mut Store,
    api: &Arc<PartnersApi>,
    config: &SyncConfig,
    report: &mut SyncReport,
    progress: &mut impl FnMut(&SyncReport),
) -> Result<PullEnd, SyncFailure> {
    let max_records = config.max_pull_records;
    let mut read_in_full = true;
    let stopped = |report: &mut SyncReport, f: Failure| {
        slowed_down(report, &f);
        report.errors.push(format!("Reading partners stopped part-way ({f}); will try again."));
    };
    // Own partners are stored without a target organization.
    for (org, local_org) in partner_lists(api) {
        let mut seen = HashSet::new();
        // The first page says how many there are; a reader then keeps fetching
        // the others while this thread merges whatever has arrived, in one
        // transaction: the slower the merge, the larger (and cheaper) each batch.
        let (first, total) = match api.list(org, &[], 0).await {
            Ok(answer) => answer,
            Err(Failure::SignIn(reason)) => return Ok(PullEnd::SignInRefused(reason)),
            Err(f) => {
                stopped(report, f);
                read_in_full = false;
                continue;
            }
        };
        let mut complete = true;
        if total > max_records {
            report.errors.push(format!(
                "The central system says it holds {total} partners for organization {org}; one pull reads at most \
                 {max_records}, so the list was read in part."
            ));
            complete = false;
        }
        let mut pager = client::Pager::new(max_records);
        pager.repeats(&first);
        let end = if first.len() < client::PAGE { first.len() } else { total.min(max_records) };
        report.to_read += end as u64;
        let mut batch = decode_partners(&first);
        let in_flight = config.pages_in_flight.max(1);
        let mut pages = read_pages(api.clone(), org, first.len()..end, in_flight, pager);
        loop {
            let mut reading = true;
            while reading && batch.good.len() < MERGE_AT_MOST {
                match pages.try_recv() {
                    Ok(Ok(page)) => batch.extend(page),
                    Ok(Err(Failure::SignIn(reason))) => return Ok(PullEnd::SignInRefused(reason)),
                    Ok(Err(f)) => {
                        stopped(report, f);
                        (complete, reading) = (false, false);
                    }
                    Err(mpsc::error::TryRecvError::Empty) => break,
                    Err(mpsc::error::TryRecvError::Disconnected) => reading = false,
                }
            }
            if batch.is_empty() && reading {
                // Nothing to merge yet: wait for the next page.
                match pages.recv().await {
                    Some(Ok(page)) => batch.extend(page),
                    Some(Err(Failure::SignIn(reason))) => return Ok(PullEnd::SignInRefused(reason)),
                    Some(Err(f)) => {
                        stopped(report, f);
                        complete = false;
                        break;
                    }
                    None => break,
                }
                continue;
            }
            if !batch.is_empty() {
                report.read += (batch.good.len() + batch.invalid.len()) as u64;
                seen.extend(batch.good.iter().map(|p| p.id));
                seen.extend(batch.invalid_ids.iter().copied());
                for invalid in batch.invalid.drain(..) {
                    report.left_out(format!("partner {invalid}"));
                }
                // Adopting a lost create is the drainer's to do: for this page's
                // short transaction only, so a long pull keeps no push waiting.
                let lock = drainer::SendingLock::try_take(store.path()).ok().flatten();
                let may_adopt = lock.is_some();
                let pulled = store.pull_page_adopting::<Partners>(local_org, &batch.good, may_adopt)?;
                drop(lock);
                for pulled in pulled {
                    count(report, pulled);
                }
                batch = Decoded::default();
                progress(report);
            }
            if !reading {
                break;
            }
        }
        if !complete {
            read_in_full = false;
            continue;
        }
        let missing = store.server_ids_not_seen(local_org, &seen)?;
        let list = crate::store::list_name(Entity::Partner, local_org);
        if missing.is_empty() {
            store.remember_list_totals(&list, total as i64, store.linked_count(Entity::Partner, local_org)?)?;
            continue;
        }
        let ids: Vec<Uuid> = missing.iter().map(|(_, id)| *id).collect();
        let still_there = match api.existing(org, &ids).await {
            Ok(found) => found,
            Err(f) => {
                report.errors.push(format!(
                    "{} partners were not in the server's list, and checking them failed ({f}); they are kept here.",
                    ids.len()
                ));
                continue;
            }
        };
        let by_id: HashMap<Uuid, Uuid> = missing.into_iter().map(|(k, id)| (id, k)).collect();
        for (id, key) in by_id {
            if !still_there.contains(&id) && store.deleted_remotely(Entity::Partner, key)? {
                report.deleted_remotely += 1;
            }
        }
        store.remember_list_totals(&list, total as i64, store.linked_count(Entity::Partner, local_org)?)?;
    }
    Ok(PullEnd::Read { in_full: read_in_full })
}

/// One page (or several) of a partner list, checked: the valid records, and
/// the ones left out with why (their ids still count as seen, so a record
/// that turned invalid on the server is kept here as it was, not deleted).
#[derive(Default)]
struct Decoded {
    good: Vec<ServerPartner>,
    invalid: Vec<wire::Invalid>,
    invalid_ids: Vec<Uuid>,
}

impl Decoded {
    fn extend(&mut self, other: Decoded) {
        self.good.extend(other.good);
        self.invalid.extend(other.invalid);
        self.invalid_ids.extend(other.invalid_ids);
    }

    fn is_empty(&self) -> bool {
        self.good.is_empty() && self.invalid.is_empty()
    }
}

fn decode_partners(items: &[Value]) -> Decoded {
    let mut page = Decoded::default();
    for item in items {
        match ServerPartner::from_json(item) {
            Ok(p) => page.good.push(p),
            Err(invalid) => {
                page.invalid_ids.extend(item.get("id").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok()));
                page.invalid.push(invalid);
            }
        }
    }
    page
}

/// Pages requested at once while a pull someone waits for reads the partner list.
pub const PAGES_IN_FLIGHT: usize = 8;
/// The most pulled partners merged in one transaction.
const MERGE_AT_MOST: usize = 5_000;

/// Fetches the partner pages at the offsets in `range`, `in_flight` at a
/// time, and hands each over as it arrives (in any
/// order: each record merges on its own). Asks for no more after a short
/// page (the list ended early); stops after a failure, after a page that
/// repeats one already read (`pager` knows them), or when the receiver is
/// dropped; at most 64 pages wait unmerged.
fn read_pages(
    api: Arc<PartnersApi>,
    org: Uuid,
    range: std::ops::Range<usize>,
    in_flight: usize,
    mut pager: client::Pager,
) -> mpsc::Receiver<client::Answer<Decoded>> {
    let (pages, received) = mpsc::channel(64);
    tokio::spawn(async move {
        let mut offsets = range.step_by(client::PAGE.max(1));
        let mut requests = JoinSet::new();
        let mut ended = false;
        loop {
            while !ended
                && requests.len() < in_flight
                && let Some(at) = offsets.next()
            {
                let api = api.clone();
                requests.spawn(async move { api.list(org, &[], at).await.map(|(items, _)| items) });
            }
            let Some(done) = requests.join_next().await else { break };
            let answer = done.unwrap_or_else(|e| Err(Failure::transient(format!("a page request stopped: {e}"))));
            let answer = match answer {
                Ok(items) if pager.repeats(&items) => {
                    Err(Failure::transient("the server sent the same page twice, so the list was read in part"))
                }
                Ok(items) => {
                    ended |= items.len() < client::PAGE;
                    // Decoded here, beside the merge rather than before it.
                    Ok(decode_partners(&items))
                }
                Err(f) => Err(f),
            };
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
    max_records: usize,
    report: &mut SyncReport,
    progress: &mut impl FnMut(&SyncReport),
) -> Result<PullEnd, SyncFailure> {
    let mut seen = HashSet::new();
    let mut offset = 0;
    let mut first_total = None;
    let mut pager = client::Pager::new(max_records);
    loop {
        let (items, total) = match api.list(offset).await {
            Ok(answer) => {
                if first_total.is_none() {
                    report.to_read += answer.1.min(max_records).max(answer.0.len()) as u64;
                }
                first_total.get_or_insert(answer.1);
                answer
            }
            Err(Failure::SignIn(reason)) => return Ok(PullEnd::SignInRefused(reason)),
            Err(f) => {
                slowed_down(report, &f);
                report.errors.push(format!("Reading organizations stopped part-way ({f}); will try again."));
                return Ok(PullEnd::Read { in_full: false });
            }
        };
        report.read += items.len() as u64;
        let mut page = Vec::with_capacity(items.len());
        for item in &items {
            match ServerOrganization::from_json(item) {
                Ok(o) => page.push(o),
                Err(invalid) => {
                    seen.extend(item.get("id").and_then(Value::as_str).map(str::to_string));
                    report.left_out(format!("organization {invalid}"));
                }
            }
        }
        seen.extend(page.iter().map(|o| o.id.clone()));
        for pulled in store.pull_page::<Organizations>(None, &page)? {
            count(report, pulled);
        }
        progress(report);
        match pager.page(&items, total) {
            client::Paging::More(next) => offset = next,
            client::Paging::Done => break,
            client::Paging::Cut(why) => {
                report.errors.push(format!("Reading organizations stopped: {why}; the list was read in part."));
                return Ok(PullEnd::Read { in_full: false });
            }
        }
    }
    for key in store.organizations_not_seen(&seen)? {
        // Confirm with a direct lookup: paging can skip a row while the server
        // changes, and only a plain "not found" deletes anything here.
        match api.gone(&key.to_string()).await {
            Ok(true) => {
                if store.deleted_remotely(Entity::Organization, key)? {
                    report.deleted_remotely += 1;
                }
            }
            Ok(false) => {}
            Err(f) => report.errors.push(format!(
                "Organization {key} was not in the server's list, and looking it up failed ({f}); it is kept here."
            )),
        }
    }
    let total = first_total.unwrap_or_default() as i64;
    store.remember_list_totals(
        &crate::store::list_name(Entity::Organization, None),
        total,
        store.linked_count(Entity::Organization, None)?,
    )?;
    Ok(PullEnd::Read { in_full: true })
}

pub(super) fn count(report: &mut SyncReport, pulled: Pulled) {
    match pulled {
        Pulled::Inserted => report.pulled_new += 1,
        Pulled::Updated => report.pulled_updated += 1,
        Pulled::Adopted => report.adopted += 1,
        Pulled::Conflict => report.conflicts += 1,
        Pulled::Restored => report.restored += 1,
        Pulled::Twin => report.twins_on_server += 1,
        Pulled::MovedToOwn => report.moved_to_own += 1,
        Pulled::Unchanged => {}
    }
}
