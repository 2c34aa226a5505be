//! A sync run as a user starts it: its runtime, one at a time per app, the
//! schedule of reads ([`Cadence`]), the last result, and the sentence that sums it up.

use std::path::Path;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use crate::error::{ErrorBody, ErrorKind};
use crate::store::{Entity, Store};
use crate::sync::cadence::{Cadence, CadencePolicy, Read};
use crate::sync::{SyncConfig, SyncFailure, SyncReport, access, sync_once};

/// The runtime a sync runs on. Two workers: requests keep going while the
/// calling thread writes to the database (measured in BENCHMARKS.md: the
/// pull's merges follow each other without waiting on the network).
pub fn sync_runtime() -> Result<tokio::runtime::Runtime, ErrorBody> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| ErrorBody::new(ErrorKind::Internal, format!("Sync cannot start: {e}")))
}

/// How the last sync went, for a status bar.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LastSync {
    pub last_success: Option<chrono::DateTime<chrono::Utc>>,
    /// When the central system was last read, in full or by its totals:
    /// "checked with the central system 12 minutes ago".
    pub last_checked: Option<chrono::DateTime<chrono::Utc>>,
    pub message: String,
    pub report: Option<SyncReport>,
}

/// Runs syncs one at a time and keeps the last result. One per app: the
/// window's timer, its Sync button and a save that triggers a push all go
/// through it, so a second start while one runs returns the last result.
#[derive(Debug)]
pub struct SyncRunner {
    running: AtomicBool,
    last: Mutex<LastSync>,
    cadence: Mutex<Cadence>,
    /// The running sync's report as it grows (the status bar's "Syncing… 120 received").
    live: Mutex<Option<SyncReport>>,
}

impl Default for SyncRunner {
    fn default() -> Self {
        SyncRunner::with_policy(CadencePolicy::default())
    }
}

/// What happened to start a run, for [`SyncRunner::tick_blocking`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Deserialize)]
pub struct Occasion {
    /// The window has the focus (the user is here).
    #[serde(default)]
    pub focused: bool,
    /// A record was saved: its change goes now.
    #[serde(default)]
    pub saved: bool,
}

impl SyncRunner {
    /// A runner whose reads follow `policy`; the first tick reads in full.
    pub fn with_policy(policy: CadencePolicy) -> SyncRunner {
        SyncRunner {
            running: AtomicBool::new(false),
            last: Mutex::default(),
            cadence: Mutex::new(Cadence::new(policy, chrono::Utc::now())),
            live: Mutex::default(),
        }
    }

    fn cadence(&self) -> std::sync::MutexGuard<'_, Cadence> {
        self.cadence.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The network went away or came back (a full read follows once it has stayed back).
    pub fn network_changed(&self, online: bool) {
        match online {
            true => self.cadence().network_back(chrono::Utc::now()),
            false => self.cadence().network_lost(),
        }
    }

    /// The window's timer, a save, or focus: runs what the schedule says is
    /// due now (the push at once after a save; a read only when due), or
    /// nothing, and returns the last result either way.
    pub fn tick_blocking(&self, db: &Path, config: &SyncConfig, occasion: Occasion) -> LastSync {
        let now = chrono::Utc::now();
        let due = {
            let mut cadence = self.cadence();
            cadence.focus(occasion.focused, now);
            if occasion.saved {
                cadence.saved();
                cadence.activity(now);
            }
            cadence.due(now)
        };
        match due {
            (false, Read::Nothing) => self.last(),
            // Nobody waits on a scheduled read: its pages go a few at a time.
            (_, read) => self.run_reading(db, &SyncConfig { pages_in_flight: 2, ..config.clone() }, read),
        }
    }

    /// What the running sync has done so far, as a sentence, if one runs.
    pub fn progress(&self) -> Option<String> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.as_ref().filter(|_| self.is_running()).map(progress_sentence)
    }

    /// How far the running sync's read has got: records read and the total
    /// its lists' first pages announced, once one has (the Sync screen's bar).
    pub fn reading(&self) -> Option<Reading> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        live.as_ref()
            .filter(|r| self.is_running() && r.to_read > 0)
            .map(|r| Reading { read: r.read.min(r.to_read), of: r.to_read })
    }

    pub fn is_running(&self) -> bool {
        self.running.load(Ordering::SeqCst)
    }

    pub fn last(&self) -> LastSync {
        self.last.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// One sync on its own connection to `db`, on the calling thread (it
    /// blocks: call it off a UI thread). Returns at once with the last
    /// result if one is running already.
    ///
    /// This is "Sync now": everything is read in full, whatever the schedule,
    /// unless the server asked to wait (429 `Retry-After`): then it only pushes.
    pub fn run_blocking(&self, db: &Path, config: &SyncConfig) -> LastSync {
        let read = {
            let mut cadence = self.cadence();
            let now = chrono::Utc::now();
            cadence.sync_now();
            cadence.due(now).1
        };
        self.run_reading(db, config, read)
    }

    /// Runs with `read`; a save that arrives meanwhile gets a push right
    /// after (a second caller returns at once with the last result, and its
    /// change must not wait for the next minute's tick).
    fn run_reading(&self, db: &Path, config: &SyncConfig, mut read: Read) -> LastSync {
        loop {
            if self.running.swap(true, Ordering::SeqCst) {
                return self.last();
            }
            let result = loop {
                let result = self.run_once(db, config, read);
                match self.cadence().due(chrono::Utc::now()) {
                    (true, next) => read = next,
                    (false, _) => break result,
                }
            };
            self.running.store(false, Ordering::SeqCst);
            // A save between the last look and the release found the runner busy: look once more.
            match self.cadence().due(chrono::Utc::now()) {
                (true, next) => read = next,
                (false, _) => return result,
            }
        }
    }

    fn run_once(&self, db: &Path, config: &SyncConfig, read: Read) -> LastSync {
        // What is saved or asked for from here on needs a run of its own.
        self.cadence().starting(read);
        let config = SyncConfig { read, ..config.clone() };
        let outcome = sync_runtime().and_then(|runtime| {
            let mut store = Store::open(db).map_err(|e| ErrorBody::from(&e))?;
            let report_progress = |r: &SyncReport| {
                *self.live.lock().unwrap_or_else(|p| p.into_inner()) = Some(r.clone());
            };
            runtime.block_on(sync_once(&mut store, &config, report_progress)).map_err(|e| ErrorBody::from(&e))
        });
        *self.live.lock().unwrap_or_else(|p| p.into_inner()) = None;
        let now = chrono::Utc::now();
        if let Ok(report) = &outcome {
            self.cadence().ran(now, read, report);
        }
        let mut last = self.last.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(report) => {
                if read != Read::Nothing && report.errors.is_empty() && report.needs_sign_in.is_empty() {
                    last.last_checked = Some(now);
                }
                if report.needs_sign_in.is_empty() && report.errors.is_empty() && !report.sending_elsewhere {
                    last.last_success = Some(chrono::Utc::now());
                }
                last.message = summary(&report);
                last.report = Some(report);
            }
            Err(e) => last.message = e.message,
        }
        last.clone()
    }
}

/// "Sync now": refused with `not_configured` when no API is set up (every
/// change is kept meanwhile), else one run through `runner`.
pub fn sync_now(runner: &SyncRunner, db: &Path, config: &SyncConfig) -> Result<LastSync, ErrorBody> {
    if !is_configured(config) {
        return Err((&SyncFailure::NotConfigured).into());
    }
    Ok(runner.run_blocking(db, config))
}

/// Each API paused for a refused sign-in, as the sentence to show ("Needs
/// sign-in: …"), whichever process paused it and whether it happened while
/// sending or reading.
pub fn needs_sign_in(store: &Store, config: &SyncConfig) -> Result<Vec<String>, ErrorBody> {
    let Some(salt) = store.access().existing_credentials_salt()? else { return Ok(Vec::new()) };
    let pauses = store.access().sign_in_pauses()?;
    let now = chrono::Utc::now();
    Ok(access::in_force(&salt, config, &pauses).into_iter().map(|p| access::needs_sign_in_sentence(p, now)).collect())
}

/// "Try again": lifts every sign-in pause, so the next run asks the APIs
/// again (a run that is refused pauses them again). Returns how many were lifted.
pub fn try_again(store: &mut Store) -> Result<usize, ErrorBody> {
    let mut lifted = 0;
    for api in [Entity::Partner, Entity::Organization] {
        lifted += usize::from(store.access_mut().lift_sign_in_pause(api)?);
    }
    Ok(lifted)
}

pub fn is_configured(config: &SyncConfig) -> bool {
    config.partners.is_some() || config.organizations.is_some()
}

/// The one sentence a sync run comes to, e.g. "Synced: 3 sent, 2 received."
pub fn summary(r: &SyncReport) -> String {
    let mut sentence = match r.needs_sign_in.first() {
        Some(reason) => reason.clone(),
        None if r.sending_elsewhere => format!("{SENDING_ELSEWHERE} {}", received(r)),
        None => counts(r),
    };
    // A pull that stopped part-way, and records left out, are said too: the
    // push went on, but the list here may be behind the server's.
    for note in r.errors.first().cloned().into_iter().chain(r.left_out_sentence()) {
        sentence.push(' ');
        sentence.push_str(&note);
    }
    sentence
}

/// A running read: `read` of `of` records (never more than `of`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct Reading {
    pub read: u64,
    pub of: u64,
}

/// "Syncing… 3 sent, 1,200 received, 1 to decide": a running sync's counts.
pub fn progress_sentence(r: &SyncReport) -> String {
    let mut parts = vec![format!("{} sent", r.sent + r.adopted)];
    let received = r.pulled_new + r.pulled_updated;
    if received > 0 {
        parts.push(format!("{received} received"));
    }
    if r.conflicts > 0 {
        parts.push(format!("{} to decide", r.conflicts));
    }
    format!("Syncing… {}", parts.join(", "))
}

/// Said when another process holds the database's sending lock.
pub const SENDING_ELSEWHERE: &str =
    "Another Partnerbook is sending this database's changes; they go from there, and nothing was sent from here.";

fn received(r: &SyncReport) -> String {
    format!("{} received.", r.pulled_new + r.pulled_updated)
}

fn counts(r: &SyncReport) -> String {
    let mut parts = vec![format!("Synced: {} sent", r.sent)];
    if r.pulled_new + r.pulled_updated > 0 {
        parts.push(format!("{} received", r.pulled_new + r.pulled_updated));
    }
    if r.rejected > 0 {
        parts.push(format!("{} refused by the server (see the red badges)", r.rejected));
    }
    if r.conflicts > 0 {
        parts.push(format!("{} to decide (changed here and on the server)", r.conflicts));
    }
    if r.held > 0 {
        parts.push(format!("{} kept here until the server accepts them", r.held));
    }
    if r.moved_to_own > 0 {
        parts.push(format!(
            "{} moved back to your own organization, where the central system keeps them",
            r.moved_to_own
        ));
    }
    if r.twins_on_server > 0 {
        parts.push(format!("{} found twice on the central system (see Sync)", r.twins_on_server));
    }
    if r.pending > 0 {
        parts.push(format!("{} still waiting", r.pending));
    }
    parts.join(", ") + "."
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_summary_names_what_needs_the_user() {
        let r = SyncReport { sent: 3, pulled_new: 1, pulled_updated: 1, conflicts: 1, ..Default::default() };
        assert_eq!(summary(&r), "Synced: 3 sent, 2 received, 1 to decide (changed here and on the server).");
        let paused = SyncReport { needs_sign_in: vec!["Check the secret.".into()], ..r.clone() };
        assert_eq!(summary(&paused), "Check the secret.");
        let stopped = SyncReport { errors: vec!["Reading partners stopped part-way.".into()], ..Default::default() };
        assert_eq!(summary(&stopped), "Synced: 0 sent. Reading partners stopped part-way.");
        let elsewhere = SyncReport { sending_elsewhere: true, pulled_new: 2, ..Default::default() };
        assert_eq!(summary(&elsewhere), format!("{SENDING_ELSEWHERE} 2 received."));
    }

    #[test]
    fn a_running_sync_says_its_counts() {
        let r = SyncReport {
            sent: 2,
            adopted: 1,
            pulled_new: 1_000,
            pulled_updated: 200,
            conflicts: 1,
            ..Default::default()
        };
        assert_eq!(progress_sentence(&r), "Syncing… 3 sent, 1200 received, 1 to decide");
        assert_eq!(progress_sentence(&SyncReport::default()), "Syncing… 0 sent");
        // Nothing running, no progress.
        assert_eq!(SyncRunner::default().progress(), None);
    }

    /// A second run while one is going returns the last result at once, not a second sync.
    #[test]
    fn one_run_at_a_time() {
        let runner = SyncRunner::default();
        runner.running.store(true, Ordering::SeqCst);
        let dir = tempfile::tempdir().unwrap();
        let last = runner.run_blocking(&dir.path().join("never-opened.db"), &SyncConfig::default());
        assert_eq!(last.message, "");
        assert!(!dir.path().join("never-opened.db").exists(), "no second run started");
    }
}
