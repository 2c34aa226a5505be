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
//!
//! Where each part lives: this file holds the set-up, the report and one
//! run's order of steps (sign-in pauses, pull, read-back, push);
//! `push.rs` sends the outbox and settles each attempt; `pull.rs` reads the
//! lists, the totals and the read-back; `cadence.rs` decides when a list is
//! read and `access.rs` when a pause or a read-only organization stops
//! applying (both pure); `drainer.rs` is the lock that lets one process
//! send at a time.

use std::sync::Arc;
use std::time::Duration;

use chrono::Utc;
use serde::Serialize;

pub mod access;
pub mod cadence;
pub mod drainer;
mod pull;
mod push;

pub use pull::PAGES_IN_FLIGHT;
use pull::{ReadBack, pull, read_back, slowed_down};
use push::push;

use crate::remote::client::{Failure, OrganizationsApi, OrganizationsConfig, PartnersApi, PartnersConfig};
use crate::remote::wire::{ServerOrganization, ServerPartner};
use crate::store::{Entity, Store, StoreError};

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
    /// system holds in one's own: moved back (see [`crate::plan::Pulled::MovedToOwn`]).
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
