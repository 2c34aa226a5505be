//! Sync with the central APIs: pull and merge, then push the outbox.
//!
//! This module does the I/O and the timing: which change goes when, paging,
//! retries, pausing an API whose sign-in is refused. What a pulled record, a
//! record gone from the server or a lost create's candidates mean is decided
//! by [`crate::plan`] (the store applies those steps); every request is made
//! by [`crate::remote::client`].
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

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use uuid::Uuid;

pub mod access;
pub mod cadence;
pub mod drainer;

use crate::model::SyncError;
use crate::plan::{self, Pulled};
use crate::remote::client::{self, Failure, OrganizationsApi, OrganizationsConfig, PartnersApi, PartnersConfig};
use crate::remote::wire::{self, ServerOrganization, ServerPartner};
use crate::store::{Due, Entity, Op, Organizations, Partners, Store, StoreError};

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
    /// less than the server's `Retry-After`, which is itself held to the cap: a
    /// server asking for 10^13 seconds gets the cap, not a queue parked past year 9999.
    pub fn delay(&self, attempts: u32, retry_after: Option<Duration>) -> Duration {
        let exp = self.base.saturating_mul(1u32 << attempts.saturating_sub(1).min(16)).min(self.cap);
        let jittered = exp.mul_f64(0.5 + fastrand::f64() * 0.5);
        jittered.max(retry_after.unwrap_or_default().min(self.cap))
    }

    /// When the next attempt may go: `now` plus [`Self::delay`], computed
    /// without overflow whatever the cap (a `--retry-cap-ms` of 2^64 included).
    pub fn next_attempt_at(
        &self,
        now: chrono::DateTime<Utc>,
        attempts: u32,
        retry_after: Option<Duration>,
    ) -> chrono::DateTime<Utc> {
        let latest = now.checked_add_signed(chrono::Duration::days(366)).unwrap_or(now);
        chrono::Duration::from_std(self.delay(attempts, retry_after))
            .ok()
            .and_then(|d| now.checked_add_signed(d))
            .map_or(latest, |at| at.min(latest))
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
    /// What to read before pushing: every list, only the lists whose totals
    /// moved ([`cadence`] decides which a run does), or nothing.
    pub read: cadence::Read,
    /// Per-request timeout (an answer that never comes counts as a lost answer).
    pub request_timeout: Duration,
    /// The most records one pull reads from one list.
    pub max_pull_records: usize,
    /// Partner pages requested at once while a list is read. A read someone
    /// waits for ("Sync now", the command line) asks 8 at once; the window's
    /// scheduled reads 2, so a scan of 1,000 pages is spread out rather than
    /// a burst on the server.
    pub pages_in_flight: usize,
    /// How long after an attempt began a change whose answer was lost may
    /// still commit on the server; only then does anything of that record go
    /// again (a partner create is first looked for). `None`: twice the
    /// request timeout (see [`Self::settle`]).
    pub settle_window: Option<Duration>,
    /// How long an API paused for a refused sign-in waits before one request
    /// tries the same credentials again ([`access::PROBE_EVERY`]).
    pub sign_in_probe_every: Duration,
}

impl SyncConfig {
    /// The settle window in force. Twice the request timeout by default: the
    /// client gives up on a request after one timeout, and a server (or the
    /// proxy in front of it) that is still working on it then is, as a rule,
    /// bounded by a timeout of the same order (load balancers default to 60 s,
    /// our request timeout to 30 s). A create that lands later than this can
    /// still be sent twice; the next pull then finds the twin and shows it.
    pub fn settle(&self) -> Duration {
        self.settle_window.unwrap_or(self.request_timeout.saturating_mul(2))
    }
}

impl Default for SyncConfig {
    fn default() -> Self {
        SyncConfig {
            partners: None,
            organizations: None,
            concurrency: 16,
            retry: RetryPolicy::default(),
            wait_for_retries: Duration::from_secs(30),
            read: cadence::Read::Full,
            request_timeout: Duration::from_secs(30),
            max_pull_records: 2_000_000,
            pages_in_flight: PAGES_IN_FLIGHT,
            settle_window: None,
            sign_in_probe_every: access::PROBE_EVERY,
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
    /// Records given up as deleted on the server that it lists again: live here again.
    pub restored: u64,
    /// Partners stored here under a connected organization that the central
    /// system holds in one's own: moved back (see [`Pulled::MovedToOwn`]).
    pub moved_to_own: u64,
    /// Changes still waiting when the run ended.
    pub pending: u64,
    /// APIs paused until their credentials change, with the reason.
    pub needs_sign_in: Vec<String>,
    /// Why a pull could not complete, if it could not.
    pub errors: Vec<String>,
    /// Records from the central system that were not valid and were left out
    /// (the first [`NAMED_AT_MOST`], each with its id and reasons).
    pub invalid_from_server: Vec<String>,
    /// How many were left out in all.
    pub left_out: u64,
    /// Another process was sending this database's changes, so this run sent
    /// none (it pulled all the same).
    pub sending_elsewhere: bool,
    /// Partners found twice on the central system (a create that landed after
    /// it was sent again): not copied here, asked about on the Sync screen.
    pub twins_on_server: u64,
    /// Every list of every API that is not paused was read to its end.
    pub read_in_full: bool,
    /// Lists checked by their totals only (one request each).
    pub totals_checked: u64,
    /// Records the lists being read hold, as each first page said (at most
    /// the pull's limit): what a long pull's progress bar fills towards.
    pub to_read: u64,
    /// Records of those read so far, valid or not, new, changed or the same.
    pub read: u64,
    /// APIs whose lists a full read was started for.
    pub full_reads: u64,
    /// The server asked to slow down while it was read (429, 503): no read
    /// should go for this many seconds.
    pub slow_down_secs: Option<u64>,
}

impl SyncReport {
    /// Whether the reading brought anything new (what [`cadence`] backs off on).
    pub fn found_news(&self) -> bool {
        self.pulled_new + self.pulled_updated + self.deleted_remotely + self.restored + self.conflicts > 0
    }
}

/// The longest any run waits (for retries, or for another process's push).
const MAX_WAIT: Duration = Duration::from_secs(366 * 24 * 3600);

/// Invalid records named one by one in a report; past that they are counted only.
pub const NAMED_AT_MOST: usize = 100;

impl SyncReport {
    fn left_out(&mut self, what: String) {
        self.left_out += 1;
        if self.invalid_from_server.len() < NAMED_AT_MOST {
            self.invalid_from_server.push(what);
        }
    }

    /// The sentence about the records left out, if any, e.g. "2 records from
    /// the central system were not valid and were left out: partner id …".
    pub fn left_out_sentence(&self) -> Option<String> {
        match self.left_out {
            0 => None,
            1 => Some(format!(
                "1 record from the central system was not valid and was left out: {}.",
                self.invalid_from_server.join("; ")
            )),
            n => {
                let more = n - self.invalid_from_server.len() as u64;
                let tail = if more > 0 { format!("; and {more} more") } else { String::new() };
                Some(format!(
                    "{n} records from the central system were not valid and were left out: {}{tail}.",
                    self.invalid_from_server.join("; ")
                ))
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum SyncFailure {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(
        "Sync is not set up: enter the partners or organizations API in Settings (or the PARTNERBOOK_* variables)."
    )]
    NotConfigured,
    /// An API address breaks the https-only rule (see [`crate::settings::check_base_url`]).
    #[error("{0}")]
    BadAddress(String),
}

/// What a request task found out.
enum Done {
    /// The server's clock says the settle window has not passed since the
    /// last attempt began (this machine's clock jumped): it waits this much more.
    NotSettled(Duration),
    Partner(Option<ServerPartner>),
    /// A partner create that may have arrived earlier: these server records carry its email.
    PartnerCandidates(Vec<ServerPartner>),
    Organization(Option<ServerOrganization>),
}

struct Apis {
    partners: Option<Arc<PartnersApi>>,
    organizations: Option<Arc<OrganizationsApi>>,
    /// The credentials in force, as [`access`] remembers them (keyed by the database's salt).
    partners_credentials: String,
    organizations_credentials: String,
    partners_settings: String,
}

impl Apis {
    fn credentials(&self, api: Entity) -> &str {
        match api {
            Entity::Partner => &self.partners_credentials,
            Entity::Organization => &self.organizations_credentials,
        }
    }
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
    // Checked here too, not only where the address is typed: settings saved by
    // an older build, or a caller of this library, must not bypass the rule.
    let addresses = [
        ("partners", config.partners.as_ref().map(|p| &p.base_url)),
        ("organizations", config.organizations.as_ref().map(|o| &o.base_url)),
    ];
    for (api, url) in addresses {
        if let Some(Err(why)) = url.map(|u| crate::settings::check_base_url(u)) {
            return Err(SyncFailure::BadAddress(format!(
                "The {api} API address in Settings is not allowed: {why}. Nothing was sent."
            )));
        }
    }
    // A timeout past a day is no timeout; far larger ones overflow the timer.
    let timeout = config.request_timeout.min(Duration::from_secs(24 * 3600));
    let http = crate::remote::http_client_with(timeout, config.concurrency.max(1));
    let salt = store.access_mut().credentials_salt()?;
    let apis = Apis {
        partners: config.partners.clone().map(|c| Arc::new(PartnersApi::new(http.clone(), c))),
        organizations: config.organizations.clone().map(|c| Arc::new(OrganizationsApi::new(http, c))),
        partners_credentials: config
            .partners
            .as_ref()
            .map(|c| access::partners_credentials(&salt, c))
            .unwrap_or_default(),
        organizations_credentials: config
            .organizations
            .as_ref()
            .map(|c| access::organizations_credentials(&salt, c))
            .unwrap_or_default(),
        partners_settings: config.partners.as_ref().map(|c| access::partners_settings(&salt, c)).unwrap_or_default(),
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
    check_sign_in_pauses(store, config, apis, &mut paused, &mut report).await?;
    // A connected organization's "no" stands until the settings it answered change.
    for outdated in access::outdated(&store.access().read_only_organizations()?, &apis.partners_settings) {
        store.access_mut().forget_read_only(outdated.org_id)?;
    }
    if config.partners.as_ref().is_some_and(|p| p.assumed_ops) {
        store.outbox_mut().release_holds(Entity::Partner)?;
    }
    // Once per database: twins an earlier version copied into the local list become questions.
    if !store.conflicts().twins_checked()? {
        report.twins_on_server += store.conflicts_mut().check_for_twins()? as u64;
    }
    // Pull first: an update is a whole-record PUT, so remote changes must be
    // merged into it before it is sent, or they would be overwritten. A pull
    // that fails never keeps local changes from going out: its error is
    // reported and the push goes on, but updates of an API whose records were
    // not all read wait for a pull that reads them (creates and deletes go).
    let mut stale: Vec<Entity> = Vec::new();
    let mut fresh: Vec<Entity> = Vec::new();
    if config.read != cadence::Read::Nothing {
        let (tried, read_in_full) = match pull(store, config, apis, &mut paused, &mut report, progress).await {
            Ok(read) => read,
            // The database itself failing is no passing fault of the server's: it stops the run, said aloud.
            Err(SyncFailure::Store(e)) => return Err(SyncFailure::Store(e)),
            Err(e) => {
                report.errors.push(format!("Reading from the central system failed ({e}); will try again."));
                (vec![Entity::Partner, Entity::Organization], Vec::new())
            }
        };
        stale = tried.into_iter().filter(|e| !paused.contains(e) && !read_in_full.contains(e)).collect();
        fresh.clone_from(&read_in_full);
        report.read_in_full = stale.is_empty()
            && [(Entity::Partner, apis.partners.is_some()), (Entity::Organization, apis.organizations.is_some())]
                .iter()
                .all(|(e, configured)| !configured || paused.contains(e) || read_in_full.contains(e));
    }
    // One drainer per database: wait for another process's push to end, up
    // to the time this run would wait for retries.
    let held = match drainer::SendingLock::take_within(store.path(), config.wait_for_retries.min(MAX_WAIT)).await {
        Ok(Some(lock)) => Some(lock),
        Ok(None) => {
            report.sending_elsewhere = true;
            None
        }
        Err(e) => {
            report.errors.push(format!(
                "Could not take the sending lock beside the database ({e}); nothing was sent, will try again."
            ));
            None
        }
    };
    if let Some(_lock) = held {
        // An API not read in full this run: the records about to be updated
        // are read back by id first and merged, as a full read would have.
        for api in [Entity::Partner, Entity::Organization] {
            if fresh.contains(&api) || paused.contains(&api) {
                continue;
            }
            match read_back(store, config, apis, api, &mut report).await {
                Ok(()) => stale.retain(|e| *e != api),
                Err(ReadBack::Store(e)) => return Err(e.into()),
                Err(ReadBack::Failed(Failure::SignIn(reason))) => {
                    sign_in_refused(store, config, apis, api, &reason, &mut paused, &mut report)?
                }
                Err(ReadBack::Failed(f)) => {
                    slowed_down(&mut report, &f);
                    report.errors.push(format!(
                        "Reading back the records about to be updated failed ({f}); their updates wait, \
                         everything else goes."
                    ));
                    if !stale.contains(&api) {
                        stale.push(api);
                    }
                }
            }
        }
        push(store, config, apis, &mut paused, &stale, &mut report, progress).await?;
    }
    report.pending = store.outbox().summary()?.0;
    progress(&report);
    Ok(report)
}

enum ReadBack {
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
async fn read_back(
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
async fn pull(
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
fn slowed_down(report: &mut SyncReport, failure: &Failure) {
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

/// Before any request: an API paused for a refused sign-in stays paused
/// (nothing is sent to it) unless its credentials changed or its probe is due.
async fn check_sign_in_pauses(
    store: &mut Store,
    config: &SyncConfig,
    apis: &Apis,
    paused: &mut Vec<Entity>,
    report: &mut SyncReport,
) -> Result<(), SyncFailure> {
    for api in [Entity::Partner, Entity::Organization] {
        let configured = match api {
            Entity::Partner => apis.partners.is_some(),
            Entity::Organization => apis.organizations.is_some(),
        };
        let pause = store.access().sign_in_pause(api)?;
        let Some(pause) = pause.filter(|_| configured) else { continue };
        let now = Utc::now();
        match access::gate(Some(&pause), apis.credentials(api), now) {
            access::Gate::Open => {}
            access::Gate::CredentialsChanged => {
                store.access_mut().lift_sign_in_pause(api)?;
            }
            access::Gate::Closed => {
                paused.push(api);
                report.needs_sign_in.push(access::needs_sign_in_sentence(&pause, now));
            }
            access::Gate::Probe => match probe(apis, api).await {
                Ok(()) => {
                    store.access_mut().lift_sign_in_pause(api)?;
                }
                Err(Failure::SignIn(reason)) => sign_in_refused(store, config, apis, api, &reason, paused, report)?,
                Err(other) => {
                    // No answer about the credentials: still paused, probed again at the next run.
                    paused.push(api);
                    report.needs_sign_in.push(access::needs_sign_in_sentence(&pause, now));
                    report.errors.push(format!("Trying the sign-in again got no answer ({other}); will try again."));
                }
            },
        }
    }
    Ok(())
}

/// One request that says whether an API's credentials work now.
async fn probe(apis: &Apis, api: Entity) -> Result<(), Failure> {
    match api {
        Entity::Partner => match &apis.partners {
            Some(partners) => partners.sign_in().await,
            None => Ok(()),
        },
        Entity::Organization => match &apis.organizations {
            Some(organizations) => organizations.list(0).await.map(|_| ()),
            None => Ok(()),
        },
    }
}

/// An API refused the sign-in: it pauses until it can work, in this run and
/// every later one ([`access`] says when that is).
fn sign_in_refused(
    store: &mut Store,
    config: &SyncConfig,
    apis: &Apis,
    api: Entity,
    reason: &str,
    paused: &mut Vec<Entity>,
    report: &mut SyncReport,
) -> Result<(), StoreError> {
    let earlier = store.access().sign_in_pause(api)?;
    let now = Utc::now();
    let pause = access::pause(earlier.as_ref(), api, reason, apis.credentials(api), now, config.sign_in_probe_every);
    store.access_mut().pause_sign_in(&pause)?;
    if !paused.contains(&api) {
        paused.push(api);
        report.needs_sign_in.push(access::needs_sign_in_sentence(&pause, now));
    }
    Ok(())
}

async fn push(
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
fn settle(
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

fn count(report: &mut SyncReport, pulled: Pulled) {
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
