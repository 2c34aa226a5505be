//! Sending the outbox: which change goes when (in order per record, up to
//! [`SyncConfig::concurrency`] records at once), the request each change
//! makes, and what becomes of it (sent, declined, refused, held, unknown and
//! left to settle). A create whose answer was lost is looked for before it
//! goes again.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Utc;
use serde_json::Value;
use tokio::task::JoinSet;
use uuid::Uuid;

use super::{Apis, Done, MAX_WAIT, SyncConfig, SyncFailure, SyncReport, sign_in_refused};
use crate::model::SyncError;
use crate::plan;
use crate::remote::client::{Failure, OrganizationsApi, PartnersApi};
use crate::remote::wire::{self, ServerOrganization};
use crate::store::{Due, Entity, Op, Organizations, Partners, Store, StoreError};

pub(super) async fn push(
    store: &mut Store,
    config: &SyncConfig,
    apis: &Apis,
    paused: &mut Vec<Entity>,
    stale: &[Entity],
    report: &mut SyncReport,
    progress: &mut impl FnMut(&SyncReport),
) -> Result<(), SyncFailure> {
    let deadline = tokio::time::Instant::now() + config.wait_for_retries.min(MAX_WAIT);
    let settle_window = config.settle();
    let concurrency = config.concurrency.max(1);
    let mut tasks: JoinSet<(Due, Result<Done, Failure>)> = JoinSet::new();
    let mut in_flight: HashSet<(Entity, Uuid)> = HashSet::new();
    // Partner creates whose reconciliation found nothing to adopt: send them now.
    let mut reconciled: HashSet<i64> = HashSet::new();
    let mut queue: std::collections::VecDeque<Due> = Default::default();
    loop {
        // Fill the free slots, the oldest change of each record first.
        let mut batch: Vec<Due> = Vec::new();
        let mut claimed: HashSet<(Entity, Uuid)> = HashSet::new();
        while tasks.len() + batch.len() < concurrency {
            if queue.is_empty() {
                let fresh = store.outbox().due(Utc::now(), concurrency * 8, paused, stale, settle_window)?;
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
            batch.push(due);
        }
        if !batch.is_empty() {
            // Counted as attempted (durably) before any of them leaves; each
            // comes back as its claim left it. The count the claim returns,
            // not the one read before it, says whether an attempt (this
            // process's or another's) may have gone already.
            let seqs: Vec<i64> = batch.iter().map(|d| d.entry.seq).collect();
            let fresh = store.outbox_mut().begin_attempts_by(&seqs, |entity| match entity {
                Entity::Partner => apis.partners.as_ref().and_then(|a| a.clock.offset()),
                Entity::Organization => apis.organizations.as_ref().and_then(|a| a.clock.offset()),
            })?;
            for (due, entry) in batch.into_iter().zip(fresh) {
                let Some(entry) = entry else { continue };
                let reconcile = entry.attempts > 1 && !reconciled.contains(&entry.seq);
                let due = Due { entry, ..due };
                in_flight.insert((due.entry.entity, due.entry.record_key));
                let (partners, organizations) = (apis.partners.clone(), apis.organizations.clone());
                tasks.spawn(async move {
                    let outcome = match due.entry.entity {
                        Entity::Partner => {
                            let reconcile = reconcile.then_some(settle_window);
                            push_partner(partners.as_deref(), &due, reconcile).await
                        }
                        Entity::Organization => push_organization(organizations.as_deref(), &due).await,
                    };
                    (due, outcome)
                });
            }
        }
        let Some(joined) = tasks.join_next().await else {
            // Nothing in flight: wait for the next retry if it comes in time.
            let next_retry = store.outbox().next_retry_at(Utc::now(), paused, settle_window)?;
            match next_retry {
                Some(at) => {
                    let wait = (at - Utc::now()).to_std().unwrap_or_default();
                    if wait > deadline.saturating_duration_since(tokio::time::Instant::now()) {
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
        settle(store, config, apis, &due, outcome, paused, &mut reconciled, report)?;
        progress(report);
    }
}

/// Writes down what became of one attempt.
#[allow(clippy::too_many_arguments)]
pub(super) fn settle(
    store: &mut Store,
    config: &SyncConfig,
    apis: &Apis,
    due: &Due,
    outcome: Result<Done, Failure>,
    paused: &mut Vec<Entity>,
    reconciled: &mut HashSet<i64>,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    let e = &due.entry;
    match outcome {
        Ok(Done::NotSettled(wait)) => {
            let why = format!(
                "Waiting to confirm with the central system: by its clock the last attempt began less than {} s ago, \
                 and that request may still arrive there (this computer's clock seems to have jumped ahead).",
                config.settle().as_secs().max(1)
            );
            store.outbox_mut().wait_by_the_servers_clock(e.seq, Utc::now() + wait, &why)?;
            report.retried += 1;
        }
        Ok(Done::Partner(server)) => {
            store.change_done::<Partners>(e.seq, e.record_key, server.as_ref())?;
            report.sent += 1;
        }
        Ok(Done::Organization(server)) => {
            store.change_done::<Organizations>(e.seq, e.record_key, server.as_ref())?;
            report.sent += 1;
        }
        Ok(Done::PartnerCandidates(candidates)) => {
            let sent = serde_json::from_value::<crate::PartnerFields>(e.payload.clone()).ok();
            let mut free = Vec::new();
            for c in candidates {
                if store.partner_key_for_server_id(c.id)?.is_none() {
                    free.push(c);
                }
            }
            let found: Vec<_> = free.iter().map(|c| (wire::partner_fields(&c.fields), c.created_at)).collect();
            match plan::reconcile(sent.as_ref().map(wire::partner_fields).as_ref(), e.created_at, &found) {
                plan::Reconcile::Adopt(i) => {
                    store.change_done::<Partners>(e.seq, e.record_key, Some(&free[i]))?;
                    report.adopted += 1;
                }
                plan::Reconcile::Ask(i) => {
                    store.conflicts_mut().flag_possible_duplicate(e.seq, e.record_key, &free[i])?;
                    report.conflicts += 1;
                }
                plan::Reconcile::Send => {
                    // Nothing there a settle window after the attempt: it did not arrive. Send it now.
                    reconciled.insert(e.seq);
                    store.outbox_mut().not_there_after_all(e.seq)?;
                }
            }
        }
        Err(passing @ (Failure::Network(_) | Failure::Transient { .. })) => {
            let (retry_after, declined) = match &passing {
                Failure::Transient { retry_after, declined, .. } => (*retry_after, *declined),
                _ => (None, false),
            };
            let at = config.retry.next_attempt_at(Utc::now(), e.attempts, retry_after);
            if declined {
                store.outbox_mut().declined_at(e.seq, Some(at), &format!("Will retry: {passing}"))?;
            } else {
                // It may have arrived: nothing of this record goes again before the settle window has passed.
                let why = format!(
                    "Waiting to confirm with the central system ({passing}); the request may still arrive there, \
                     so nothing of this record is sent again for {} s.",
                    config.settle().as_secs().max(1)
                );
                store.outbox_mut().retry_at(e.seq, Some(at), &why)?;
                store.outbox_mut().remember_unsettled_write(e.seq)?;
            }
            report.retried += 1;
        }
        Err(Failure::Forbidden(why)) if connected_organization_of(config, due).is_some() => {
            // A write outside one's own organization: that organization's
            // partners stay as they are here, and nothing else waits.
            let org = connected_organization_of(config, due).expect("matched above");
            let reason = format!(
                "Organization {org} does not let you change its partners ({why}). The change is kept here, and \
                 its partners are read-only until your credentials or sync settings change; your own partners \
                 go on syncing meanwhile."
            );
            store.access_mut().mark_read_only(&crate::store::ReadOnlyOrganization {
                org_id: org,
                reason: reason.clone(),
                settings_mac: apis.partners_settings.clone(),
                since: Utc::now(),
            })?;
            store.outbox_mut().hold(e.seq, e.entity, e.record_key, &reason)?;
            report.held += 1;
        }
        Err(Failure::Forbidden(why)) => {
            // One's own organization: a role removed, or a client narrowed. Not
            // read-only for good: the API pauses as for a refused sign-in.
            let reason = match e.entity {
                Entity::Partner => format!(
                    "The server refused a change to your own organization's partners ({why}): your role there \
                     may have changed. Nothing is lost; ask your administrator, then try again."
                ),
                Entity::Organization => format!(
                    "The server refused the API key for this change ({why}). Check it in Settings; nothing is \
                     lost meanwhile."
                ),
            };
            if !paused.contains(&e.entity) {
                paused.push(e.entity);
                report.needs_sign_in.push(reason.clone());
            }
            store.outbox_mut().declined_at(e.seq, None, &reason)?;
        }
        Err(Failure::SignIn(reason)) => {
            sign_in_refused(store, config, apis, e.entity, &reason, paused, report)?;
            store.outbox_mut().declined_at(e.seq, None, &reason)?;
        }
        Err(Failure::Rejected(error)) => {
            store.outbox_mut().reject(e.seq, e.entity, e.record_key, &error)?;
            report.rejected += 1;
        }
        Err(Failure::Unsupported) => {
            let what = match e.op {
                Op::Delete => "deletes of",
                _ => "changes to",
            };
            let records = match e.entity {
                Entity::Partner => "partners",
                Entity::Organization => "organizations",
            };
            let reason = format!(
                "The server does not accept {what} existing {records} yet. The change is kept here and will be \
                 sent when it does; nothing else is held up."
            );
            store.outbox_mut().hold(e.seq, e.entity, e.record_key, &reason)?;
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
            store.outbox_mut().reject(e.seq, e.entity, e.record_key, &error)?;
            report.rejected += 1;
        }
    }
    Ok(())
}

/// The connected organization a partner change is for, if it is not one's own.
fn connected_organization_of(config: &SyncConfig, due: &Due) -> Option<Uuid> {
    let own = config.partners.as_ref().map(|p| p.requester_org_id);
    due.target_org_id.filter(|t| due.entry.entity == Entity::Partner && Some(*t) != own)
}

/// `reconcile`: the create may have arrived earlier; look for it first,
/// once the settle window (this long) has passed by the server's clock too.
async fn push_partner(api: Option<&PartnersApi>, due: &Due, reconcile: Option<Duration>) -> Result<Done, Failure> {
    let api = api.ok_or_else(|| Failure::SignIn("The partners API is not set up.".into()))?;
    let e = &due.entry;
    let key = e.idempotency_key();
    let target = due.target_org_id.unwrap_or(api.config().requester_org_id);
    match (e.op, due.server_id) {
        (Op::Create, None) => {
            if let Some(window) = reconcile {
                let email = e.payload.get("email").and_then(Value::as_str).unwrap_or_default();
                let found = api.find_by_email(email).await?;
                if let Some(wait) = still_settling(due.settling_since_server, api.clock.now(), window) {
                    return Ok(Done::NotSettled(wait));
                }
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

/// `Date` has whole seconds, read once when the attempt began and once now.
const DATE_SLACK: chrono::TimeDelta = chrono::TimeDelta::seconds(2);

/// How much longer the server's clock says an attempt begun at `since` (by
/// that clock) must settle, if it says the window has not passed: this
/// machine's clock may have jumped forward since. `None` when it has passed,
/// or when either time is unknown (then this machine's clock alone decides).
fn still_settling(
    since: Option<chrono::DateTime<Utc>>,
    server_now: Option<chrono::DateTime<Utc>>,
    window: Duration,
) -> Option<Duration> {
    let elapsed = server_now? - since?;
    let window = chrono::TimeDelta::from_std(window).ok()?;
    // A server clock that went back is held to one window more.
    (elapsed + DATE_SLACK < window).then(|| (window - elapsed).min(window).to_std().unwrap_or_default())
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
            if e.attempts > 1
                && let Some(existing) = api.get(&id).await?
            {
                return finish_org_create(api, &id, existing, &e.payload, &key).await;
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
    let wanted = wire::without_id(payload);
    if Value::Object(wire::organization_fields(&existing.fields)) == wanted {
        Ok(Done::Organization(Some(existing)))
    } else {
        api.update(id, payload, key).await.map(|o| Done::Organization(Some(o)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_servers_clock_can_lengthen_the_settle_window_never_shorten_it() {
        let start = chrono::DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let window = Duration::from_secs(60);
        let after = |s: i64| Some(start + chrono::TimeDelta::seconds(s));
        // This machine says the window passed; the server says 10 s did: 50 s more.
        assert_eq!(still_settling(Some(start), after(10), window), Some(Duration::from_secs(50)));
        assert_eq!(still_settling(Some(start), after(60), window), None);
        // Within the Date header's whole seconds, this machine's clock stands.
        assert_eq!(still_settling(Some(start), after(59), window), None);
        // Unknown on either side: this machine's clock alone decides.
        assert_eq!(still_settling(None, after(10), window), None);
        assert_eq!(still_settling(Some(start), None, window), None);
        // A server clock that went back asks one window more, no longer.
        assert_eq!(still_settling(Some(start), after(-30), window), Some(window));
    }
}
