//! What the status bar says: changes waiting, the oldest one's age, the last
//! success, the next retry, questions open, and one sentence.

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::sync::{SyncRunner, is_configured};
use crate::ErrorBody;
use crate::store::Store;
use crate::sync::{SyncConfig, SyncFailure};

#[derive(Debug, Clone, Serialize)]
pub struct Status {
    pub pending_changes: u64,
    pub oldest_pending_change: Option<DateTime<Utc>>,
    pub last_sync_at: Option<DateTime<Utc>>,
    /// When the central system was last read ("checked … ago").
    pub last_checked_at: Option<DateTime<Utc>>,
    pub next_retry_at: Option<DateTime<Utc>>,
    pub sync_configured: bool,
    pub syncing: bool,
    /// The running sync's counts so far ("Syncing… 3 sent, 1200 received").
    pub progress: Option<String>,
    /// How far a running read has got, for a long pull's progress bar.
    pub reading: Option<super::sync::Reading>,
    pub open_conflicts: usize,
    /// APIs paused for a refused sign-in, each as its sentence; kept across
    /// restarts and alike for every process on this database.
    pub needs_sign_in: Vec<String>,
    pub message: String,
}

pub fn status(store: &Store, runner: &SyncRunner, config: &SyncConfig) -> Result<Status, ErrorBody> {
    let (pending_changes, oldest_pending_change) = store.outbox().summary()?;
    let next_retry_at = store.outbox().next_retry_at(Utc::now(), &[], config.settle())?;
    let open_conflicts = store.conflicts().unresolved()?.len();
    let last = runner.last();
    let sync_configured = is_configured(config);
    let needs_sign_in = super::sync::needs_sign_in(store, config)?;
    let message = if let (true, Some(first)) = (sync_configured, needs_sign_in.first()) {
        first.clone()
    } else if sync_configured {
        last.message
    } else {
        format!("{} Every change is kept here meanwhile.", SyncFailure::NotConfigured)
    };
    Ok(Status {
        pending_changes,
        oldest_pending_change,
        last_sync_at: last.last_success,
        last_checked_at: last.last_checked,
        next_retry_at,
        sync_configured,
        syncing: runner.is_running(),
        progress: runner.progress(),
        reading: runner.reading(),
        open_conflicts,
        needs_sign_in,
        message,
    })
}
