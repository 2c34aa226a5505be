//! The local SQLite store: one file, WAL mode, foreign keys on, schema from
//! `migrations/` applied at open. Every change writes the record and its
//! outbox entry in one transaction.
//!
//! One file per table or job: `partners.rs`, `organizations.rs` (records,
//! lists, search through `search.rs`), `outbox.rs` (the queue and its states),
//! `conflicts.rs` (the user's questions), `access.rs` (what the central system
//! refused), `settings.rs`; `record.rs` is what sync needs of a record kind,
//! written once for both; `sync.rs` applies the steps [`crate::plan`] decides.
//! The store knows nothing of HTTP or of the sync engine.
//!
//! The records' own operations are `Store`'s methods. The tables beside them
//! are reached through a borrowed handle, so each says what it holds:
//! `store.outbox()` / `store.outbox_mut()` ([`Outbox`]: what waits, retry,
//! hold, discard), `store.conflicts()` ([`Conflicts`]) and `store.access()`
//! ([`Access`]: sign-in pauses, read-only organizations). The plain one reads;
//! the `_mut` one also writes, so a read never needs the store mutably.

mod access;
mod columns;
mod conflicts;
mod duplicates;
mod organizations;
mod outbox;
mod partners;
mod record;
mod search;
mod selection;
mod settings;
mod sync;

use std::path::{Path, PathBuf};
use std::sync::LazyLock;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, Utc};
use rusqlite::{Connection, ErrorCode, OpenFlags, TransactionBehavior};
use rusqlite_migration::{M, Migrations};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

pub use crate::plan::{ConflictKind, Pulled, Resolution};
pub use access::{Access, ReadOnlyOrganization, SignInPause, list_name};
pub use columns::PartnerColumn;
pub use conflicts::{Conflict, Conflicts};
pub use duplicates::PossibleDuplicate;
pub use organizations::OrganizationQuery;
pub use organizations::Organizations;
pub use outbox::Due;
pub use outbox::{Entity, Op, Outbox, OutboxCounts, OutboxEntry, OutboxFilter, OutboxState};
pub use partners::Partners;
pub use partners::{OrganizationFilter, PartnerQuery, PartnerSort, SEARCH_COUNT_CAP};
pub use record::Record;
/// The search-index deferral's SQL, which the benchmark's schema floor runs as the store does.
#[cfg(feature = "bench")]
pub use search::{DEFER_PARTNER_INDEX, INDEX_DEFERRED_PARTNERS};

use crate::validate::ValidationReport;

/// The schema, one numbered file per version, embedded in the binary.
const MIGRATION_SQL: &[&str] = &[
    include_str!("../../migrations/0001_initial.sql"),
    include_str!("../../migrations/0002_settings.sql"),
    include_str!("../../migrations/0003_sync.sql"),
    include_str!("../../migrations/0004_search_prefixes.sql"),
    include_str!("../../migrations/0005_deferred_search_index.sql"),
    include_str!("../../migrations/0006_lighter_partner_indexes.sql"),
    include_str!("../../migrations/0007_retry_times_as_integers.sql"),
    include_str!("../../migrations/0008_conflict_kinds.sql"),
    include_str!("../../migrations/0009_attempt_start.sql"),
    include_str!("../../migrations/0010_twin_question.sql"),
    include_str!("../../migrations/0011_attempt_start_by_the_server.sql"),
    include_str!("../../migrations/0012_fields_as_created.sql"),
    include_str!("../../migrations/0013_unsettled_writes.sql"),
    include_str!("../../migrations/0014_access.sql"),
];

static MIGRATIONS: LazyLock<Migrations<'static>> =
    LazyLock::new(|| Migrations::new(MIGRATION_SQL.iter().map(|sql| M::up(sql)).collect()));

/// The SQL of every migration, in order (tests build broken upgrades from it).
#[doc(hidden)]
pub fn migration_sql() -> &'static [&'static str] {
    MIGRATION_SQL
}

/// The schema version this build writes: one version per migration.
pub const SCHEMA_VERSION: usize = MIGRATION_SQL.len();

/// The schema version this build writes, as the migration library counts it
/// (a test holds it equal to [`SCHEMA_VERSION`]).
pub fn schema_version() -> usize {
    let conn = Connection::open_in_memory().expect("an in-memory database always opens");
    migrations_len(&MIGRATIONS, &conn).expect("an empty database has version 0")
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0}")]
    Invalid(#[from] ValidationReport),
    #[error("No {kind} matches {key:?}.")]
    NotFound { kind: &'static str, key: String },
    #[error("{key:?} matches more than one {kind}; type more of its key.")]
    Ambiguous { kind: &'static str, key: String },
    #[error("This {kind} was deleted on {at}; it can no longer be changed.")]
    Deleted { kind: &'static str, at: DateTime<Utc> },
    #[error(
        "{} is not a Partnerbook database, or it is damaged. It was left untouched: \
         move it aside (keep it if it holds data) or choose another file with --db.",
        path.display()
    )]
    NotADatabase { path: PathBuf },
    #[error(
        "{} was written by a newer Partnerbook (schema version {found}; this one knows up to {supported}). \
         Install the newer Partnerbook; the file was left untouched.",
        path.display()
    )]
    TooNew { path: PathBuf, found: usize, supported: usize },
    #[error("Could not update the database {} to this version of Partnerbook; it was left as it was. Cause: {cause}", path.display())]
    Migration { path: PathBuf, cause: String },
    #[error(
        "The database is busy: another Partnerbook window or command is using it. \
         Close it or wait a moment, then try again. Nothing was changed."
    )]
    Locked,
    #[error("Could not create the folder {}: {source}", path.display())]
    CreateDir { path: PathBuf, source: std::io::Error },
    #[error("The database file is damaged ({0}). Nothing was changed; restore it from a backup.")]
    Damaged(String),
    #[error("Database error: {0}")]
    Sqlite(rusqlite::Error),
    /// The record's connected organization refused changes to its partners.
    #[error("This partner cannot be changed here: {reason}")]
    ReadOnly { org_id: Uuid, reason: String },
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked) => StoreError::Locked,
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt) => StoreError::Damaged(e.to_string()),
            _ => StoreError::Sqlite(e),
        }
    }
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// How to open a store; the defaults suit the app and the CLI.
#[derive(Debug, Clone)]
pub struct OpenOptions {
    /// How long a write waits for another process holding the database.
    pub busy_timeout: Duration,
}

impl Default for OpenOptions {
    fn default() -> Self {
        OpenOptions { busy_timeout: Duration::from_secs(5) }
    }
}

/// One page of a list, with the total the filters match.
/// Which page of a list, in which order, and whether deleted records count:
/// the part every list query shares (its fields sit beside the filters on the wire).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Paging {
    pub include_deleted: bool,
    pub descending: bool,
    pub limit: u32,
    pub offset: u64,
}

impl Default for Paging {
    fn default() -> Self {
        Paging { include_deleted: false, descending: false, limit: 100, offset: 0 }
    }
}

impl Paging {
    /// The first `limit` live records, in ascending order.
    pub fn first(limit: u32) -> Paging {
        Paging { limit, ..Paging::default() }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub total: u64,
    /// The query matched more than `total` (a search stops counting at [`partners::SEARCH_COUNT_CAP`] + 1).
    #[serde(default)]
    pub total_capped: bool,
    pub limit: u32,
    pub offset: u64,
}

pub struct Store {
    conn: Connection,
    path: PathBuf,
    /// Sync's bookkeeping commits without waiting for the disk (see `relax_sync_durability`).
    relaxed: bool,
}

impl Store {
    /// Opens (or creates) the database at `path` and brings its schema up to date.
    pub fn open(path: impl AsRef<Path>) -> Result<Store> {
        Self::open_with(path, &OpenOptions::default())
    }

    pub fn open_with(path: impl AsRef<Path>, options: &OpenOptions) -> Result<Store> {
        Self::open_migrating(path.as_ref(), options, &MIGRATIONS)
    }

    /// A private database in memory, for tests and benchmarks.
    pub fn open_in_memory() -> Result<Store> {
        let mut conn = Connection::open_in_memory()?;
        configure(&conn, &OpenOptions::default())?;
        MIGRATIONS
            .to_latest(&mut conn)
            .map_err(|e| StoreError::Migration { path: ":memory:".into(), cause: e.to_string() })?;
        Ok(Store { conn, path: PathBuf::from(":memory:"), relaxed: false })
    }

    /// Opens with an explicit migration list (tests use a broken one to show a
    /// failed upgrade leaves the file as it was).
    #[doc(hidden)]
    pub fn open_migrating(path: &Path, options: &OpenOptions, migrations: &Migrations<'_>) -> Result<Store> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir { path: dir.to_path_buf(), source })?;
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut conn = Connection::open_with_flags(path, flags)?;
        conn.busy_timeout(options.busy_timeout)?;

        // Read before anything writes: a file that is not a database, or one from a
        // newer version, must be refused without a single byte changed.
        let found: usize = match conn.query_row("PRAGMA user_version", [], |r| r.get::<_, i64>(0)) {
            Ok(v) => v as usize,
            Err(e) if matches!(e.sqlite_error_code(), Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)) => {
                return Err(StoreError::NotADatabase { path: path.to_path_buf() });
            }
            Err(e) => return Err(e.into()),
        };
        let supported = migrations_len(migrations, &conn)?;
        if found > supported {
            return Err(StoreError::TooNew { path: path.to_path_buf(), found, supported });
        }
        configure(&conn, options)?;
        migrations.to_latest(&mut conn).map_err(|e| match e {
            rusqlite_migration::Error::RusqliteError { err, .. } if is_busy(&err) => StoreError::Locked,
            e => StoreError::Migration { path: path.to_path_buf(), cause: e.to_string() },
        })?;
        Ok(Store { conn, path: path.to_path_buf(), relaxed: false })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// A write transaction that takes the lock up front, so two processes
    /// never deadlock upgrading read locks.
    fn write(&mut self) -> Result<rusqlite::Transaction<'_>> {
        Ok(self.conn.transaction_with_behavior(TransactionBehavior::Immediate)?)
    }

    /// While on, the write-ahead log is copied into the database every 256 MB
    /// instead of every 4 MB. Each copy writes and syncs the pages again, and
    /// one per merged batch was a third of a first pull's time. Turning it off
    /// restores the default and copies what was written.
    pub fn set_bulk_writes(&mut self, on: bool) -> Result<()> {
        if on {
            self.conn.execute_batch("PRAGMA wal_autocheckpoint = 65536")?;
        } else {
            self.conn.execute_batch("PRAGMA wal_autocheckpoint = 1000")?;
            self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        }
        Ok(())
    }

    /// Partners and organizations that are not deleted.
    pub fn record_counts(&self) -> Result<(u64, u64)> {
        let (p, o): (i64, i64) = self.conn.query_row(
            "SELECT (SELECT count(*) FROM partners WHERE deleted_at IS NULL),
                    (SELECT count(*) FROM organizations WHERE deleted_at IS NULL)",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((p as u64, o as u64))
    }

    /// Direct access for tools that need plain SQL (benchmarks, diagnostics).
    #[doc(hidden)]
    pub fn connection(&self) -> &Connection {
        &self.conn
    }
}

fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(e.sqlite_error_code(), Some(ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

/// The newest version `migrations` defines: pending count plus the file's own version
/// (rusqlite_migration exposes no length directly).
fn migrations_len(migrations: &Migrations<'_>, conn: &Connection) -> Result<usize> {
    let found: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
    let pending = migrations
        .pending_migrations(conn)
        .map_err(|e| StoreError::Migration { path: PathBuf::new(), cause: e.to_string() })?;
    Ok((found + i64::from(pending)).max(0) as usize)
}

fn configure(conn: &Connection, options: &OpenOptions) -> Result<()> {
    conn.busy_timeout(options.busy_timeout)?;
    // WAL: readers never block the writer. FULL: a commit survives power loss,
    // which is the promise "saved at once" makes.
    let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") && !mode.eq_ignore_ascii_case("memory") {
        tracing::warn!(mode, "could not switch the database to WAL mode");
    }
    // temp_store MEMORY: every INSERT that fires a trigger keeps a statement
    // journal; on disk that cost a write(2) per page and a quarter of an import.
    // journal_size_limit: after a large write the log file shrinks back to 64 MB.
    conn.execute_batch(
        "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;
         PRAGMA journal_size_limit = 67108864;",
    )?;
    Ok(())
}

/// Now, to the millisecond (what we store).
pub(crate) fn now() -> DateTime<Utc> {
    let t = Utc::now();
    DateTime::from_timestamp_millis(t.timestamp_millis()).unwrap_or(t)
}

/// Now, as stored.
pub(crate) fn now_text() -> String {
    time_text(&now())
}

pub(crate) fn time_text(t: &DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub(crate) fn opt_time_text(t: Option<DateTime<Utc>>) -> Option<String> {
    t.as_ref().map(time_text)
}

fn conversion_error(index: usize, e: impl std::error::Error + Send + Sync + 'static) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(index, rusqlite::types::Type::Text, Box::new(e))
}

pub(crate) fn parse_time(index: usize, text: &str) -> rusqlite::Result<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text).map(|t| t.with_timezone(&Utc)).map_err(|e| conversion_error(index, e))
}

/// A time stored as milliseconds since 1970; one out of chrono's range reads as `None`.
pub(crate) fn opt_millis(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    Ok(row.get::<_, Option<i64>>(index)?.and_then(DateTime::from_timestamp_millis))
}

pub(crate) fn opt_time(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Option<DateTime<Utc>>> {
    row.get::<_, Option<String>>(index)?.map(|t| parse_time(index, &t)).transpose()
}

pub(crate) fn uuid_at(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Uuid> {
    Uuid::parse_str(&row.get::<_, String>(index)?).map_err(|e| conversion_error(index, e))
}

pub(crate) fn opt_uuid(row: &rusqlite::Row<'_>, index: usize) -> rusqlite::Result<Option<Uuid>> {
    row.get::<_, Option<String>>(index)?
        .map(|t| Uuid::parse_str(&t).map_err(|e| conversion_error(index, e)))
        .transpose()
}

pub(crate) fn parse_text<T: std::str::FromStr<Err = String>>(
    row: &rusqlite::Row<'_>,
    index: usize,
) -> rusqlite::Result<T> {
    let text: String = row.get(index)?;
    text.parse::<T>().map_err(|e| conversion_error(index, std::io::Error::other(e)))
}

pub(crate) fn json_at<T: serde::de::DeserializeOwned>(
    row: &rusqlite::Row<'_>,
    index: usize,
) -> rusqlite::Result<Option<T>> {
    row.get::<_, Option<String>>(index)?
        .map(|t| serde_json::from_str(&t).map_err(|e| conversion_error(index, e)))
        .transpose()
}
