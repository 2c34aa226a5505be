//! The outbox: the durable queue of changes sync sends, in `seq` order per record.
//!
//! Coalescing keeps the queue short without ever changing a request the server
//! may already have seen: only an entry that was never attempted is rewritten in
//! place. A rejected entry is replaced by a new one at a new `seq`, so its
//! `Idempotency-Key` (record key + seq) is never reused for a different body.

use std::ops::{Deref, DerefMut};

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::record::{Record, for_entity};
use super::{
    Page, Result, Store, StoreError, json_at, now_text, opt_millis, parse_text, parse_time, time_text, uuid_at,
};
use crate::model::{SyncError, SyncState};
use crate::plan::Fields;
use crate::text_enum::text_enum;

text_enum!(
    /// What a change is about.
    Entity("entity") { Partner = "partner", Organization = "organization" }
);
text_enum!(
    /// What a change does.
    Op("change") { Create = "create", Update = "update", Delete = "delete" }
);
text_enum!(
    /// A queued change is waiting, or the server refused it.
    OutboxState("outbox state") { Pending = "pending", Rejected = "rejected" }
);

impl Entity {
    pub(crate) fn table(self) -> &'static str {
        match self {
            Entity::Partner => "partners",
            Entity::Organization => "organizations",
        }
    }
}

/// One change waiting to be sent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboxEntry {
    pub seq: i64,
    pub entity: Entity,
    pub record_key: Uuid,
    pub op: Op,
    /// The body as it will be sent (a full snapshot of the record's fields).
    pub payload: serde_json::Value,
    pub state: OutboxState,
    pub attempts: u32,
    pub last_error: Option<String>,
    pub next_attempt_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
}

impl OutboxEntry {
    /// The `Idempotency-Key` header for this change: the same on every retry.
    pub fn idempotency_key(&self) -> String {
        format!("{}-{}", self.record_key, self.seq)
    }
}

pub(crate) const COLUMNS: &str =
    "seq, entity, record_key, op, payload, state, attempts, last_error, next_attempt_ms, created_at, updated_at";

/// [`COLUMNS`] qualified by the alias `o`, for queries that join the outbox with a record table.
pub(crate) const COLUMNS_AS_O: &str = "o.seq, o.entity, o.record_key, o.op, o.payload, o.state, o.attempts, \
     o.last_error, o.next_attempt_ms, o.created_at, o.updated_at";

/// Reads the outbox columns, in [`COLUMNS`] order, from the start of a row.
pub(crate) fn entry_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<OutboxEntry> {
    Ok(OutboxEntry {
        seq: row.get(0)?,
        entity: parse_text(row, 1)?,
        record_key: uuid_at(row, 2)?,
        op: parse_text(row, 3)?,
        payload: json_at(row, 4)?.unwrap_or_default(),
        state: parse_text(row, 5)?,
        attempts: row.get(6)?,
        last_error: row.get(7)?,
        next_attempt_at: opt_millis(row, 8)?,
        created_at: parse_time(9, &row.get::<_, String>(9)?)?,
        updated_at: parse_time(10, &row.get::<_, String>(10)?)?,
    })
}

/// What coalescing did with a new change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Enqueued {
    /// A new entry at this seq.
    Appended(i64),
    /// Folded into the never-sent entry at this seq.
    Merged(i64),
    /// A delete cancelled a never-sent create: nothing is left to send.
    Cancelled,
}

/// Records `op` for a record, coalescing with its latest entry where that is safe.
pub(crate) fn enqueue(tx: &Transaction<'_>, entity: Entity, key: Uuid, op: Op, payload: &str) -> Result<Enqueued> {
    let now = time_text(&super::now());
    let key_text = key.to_string();
    let latest: Option<(i64, Op, u32, OutboxState)> = tx
        .prepare_cached(
            "SELECT seq, op, attempts, state FROM outbox WHERE entity = ?1 AND record_key = ?2 ORDER BY seq DESC LIMIT 1",
        )?
        .query_row(params![entity.as_str(), key_text], |r| {
            Ok((r.get(0)?, parse_text(r, 1)?, r.get(2)?, parse_text(r, 3)?))
        })
        .optional()?;

    let merged_op = |previous: Op| match (previous, op) {
        (Op::Create, Op::Update) => Some(Op::Create),
        (Op::Create, Op::Delete) => None,
        (_, op) => Some(op),
    };
    let append = |op: Op| append(tx, entity, key, op, payload, &now).map(Enqueued::Appended);

    match latest {
        // Never sent: rewrite it in place; its idempotency key was never used.
        Some((seq, previous, 0, OutboxState::Pending)) if previous != Op::Delete => match merged_op(previous) {
            Some(op) => {
                tx.prepare_cached("UPDATE outbox SET op = ?2, payload = ?3, updated_at = ?4 WHERE seq = ?1")?
                    .execute(params![seq, op.as_str(), payload, now])?;
                Ok(Enqueued::Merged(seq))
            }
            None => {
                tx.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?.execute([seq])?;
                Ok(Enqueued::Cancelled)
            }
        },
        // Refused by the server: this change supersedes it, under a new seq.
        Some((seq, previous, _, OutboxState::Rejected)) if previous != Op::Delete => {
            tx.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?.execute([seq])?;
            match merged_op(previous) {
                Some(op) => append(op),
                None => Ok(Enqueued::Cancelled),
            }
        }
        _ => append(op),
    }
}

/// Appends a change without looking for one to coalesce with: for a record
/// created in this transaction, which cannot have any. Returns its seq.
pub(crate) fn append(tx: &Transaction<'_>, entity: Entity, key: Uuid, op: Op, payload: &str, now: &str) -> Result<i64> {
    tx.prepare_cached(
        "INSERT INTO outbox (entity, record_key, op, payload, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
    )?
    .execute(params![entity.as_str(), key.to_string(), op.as_str(), payload, now])?;
    Ok(tx.last_insert_rowid())
}

/// Sets a record's sync state from what its outbox holds: rejected if any
/// change was refused, pending if any waits, synced if none. A conflict stays
/// a conflict until the user resolves it.
pub(crate) fn refresh_sync_state(tx: &Transaction<'_>, entity: Entity, key: Uuid) -> Result<SyncState> {
    let (rejected, waiting): (i64, i64) = tx
        .prepare_cached(
            "SELECT count(*) FILTER (WHERE state = 'rejected'), count(*) FROM outbox WHERE entity = ?1 AND record_key = ?2",
        )?
        .query_row(params![entity.as_str(), key.to_string()], |r| Ok((r.get(0)?, r.get(1)?)))?;
    let state = match (rejected, waiting) {
        (r, _) if r > 0 => SyncState::Rejected,
        (_, w) if w > 0 => SyncState::Pending,
        _ => SyncState::Synced,
    };
    let sql = format!(
        "UPDATE {} SET sync_state = CASE WHEN sync_state = 'conflict' THEN 'conflict' ELSE ?2 END,
                      sync_error = CASE WHEN ?2 = 'rejected' THEN sync_error ELSE NULL END
         WHERE key = ?1 RETURNING sync_state",
        entity.table()
    );
    let state: String = tx.prepare_cached(&sql)?.query_row(params![key.to_string(), state.as_str()], |r| r.get(0))?;
    Ok(state.parse().unwrap_or(SyncState::Pending))
}

/// A change ready to send, with what the request needs to know of its record.
#[derive(Debug, Clone)]
pub struct Due {
    pub entry: OutboxEntry,
    /// The partner's id on the server, once it has one.
    pub server_id: Option<Uuid>,
    pub target_org_id: Option<Uuid>,
    /// When the last attempt began by the server's clock, if its outcome is
    /// unknown and the server's clock was known then.
    pub settling_since_server: Option<DateTime<Utc>>,
}

/// One change by its seq.
pub(crate) fn entry(conn: &rusqlite::Connection, seq: i64) -> Result<Option<OutboxEntry>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM outbox WHERE seq = ?1"))?
        .query_row([seq], entry_from_row)
        .optional()?)
}

/// A change attempted without a known outcome (`o` the outbox row): the
/// request may still commit on the server, seconds after the client gave up.
/// It goes again only after a settle window: a partner create is then first
/// looked for (the partners API lets the client choose no id, so sending it
/// again blind could make a twin), and an update or delete then cannot be
/// overtaken by its own late copy (which would undo what came after it).
/// An attempt the server answered, or declined, leaves the outbox or clears
/// its start.
pub(crate) const SETTLING: &str = "(o.attempts > 0 AND o.attempted_at_ms IS NOT NULL)";

fn millis(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX / 2)
}

/// The outbox's own operations, borrowed from the store: `store.outbox()`
/// reads, `store.outbox_mut()` also changes what waits and what became of
/// what was sent. The records' own writes queue their changes themselves.
pub struct Outbox<S> {
    store: S,
}

impl Store {
    pub fn outbox(&self) -> Outbox<&Store> {
        Outbox { store: self }
    }

    pub fn outbox_mut(&mut self) -> Outbox<&mut Store> {
        Outbox { store: self }
    }
}

/// What waits and which change may go when.
impl<S: Deref<Target = Store>> Outbox<S> {
    /// Every waiting change, oldest first.
    pub fn all(&self) -> Result<Vec<OutboxEntry>> {
        let mut stmt = self.store.conn.prepare_cached(&format!("SELECT {COLUMNS} FROM outbox ORDER BY seq"))?;
        let rows = stmt.query_map([], entry_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The waiting changes of one record, oldest first.
    pub fn of(&self, entity: Entity, key: Uuid) -> Result<Vec<OutboxEntry>> {
        let mut stmt = self.store.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE entity = ?1 AND record_key = ?2 ORDER BY seq"
        ))?;
        let rows = stmt.query_map(params![entity.as_str(), key.to_string()], entry_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Count of changes not yet on the central API, and when the oldest was made.
    pub fn summary(&self) -> Result<(u64, Option<DateTime<Utc>>)> {
        let (count, oldest): (i64, Option<String>) =
            self.store
                .conn
                .query_row("SELECT count(*), min(created_at) FROM outbox", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok((count as u64, oldest.map(|t| parse_time(1, &t)).transpose()?))
    }

    /// Up to `limit` changes that may be sent now: the oldest waiting change of
    /// each record (never a later one first), not held, not refused, not for a
    /// record in conflict, and not for a backend in `paused`. For a backend in
    /// `stale` (its records were not all pulled this run) updates of records
    /// the server has wait too: sent as whole records, they could overwrite
    /// changes made there that were not merged yet. A change whose last
    /// attempt's outcome is unknown waits until `settle`
    /// has passed since that attempt began (see `SETTLING`).
    pub fn due(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        paused: &[Entity],
        stale: &[Entity],
        settle: std::time::Duration,
    ) -> Result<Vec<Due>> {
        let partners_paused = paused.contains(&Entity::Partner);
        let orgs_paused = paused.contains(&Entity::Organization);
        let partners_stale = stale.contains(&Entity::Partner);
        let orgs_stale = stale.contains(&Entity::Organization);
        let mut stmt = self.store.conn.prepare_cached(&format!(
            "SELECT {}, p.server_id, p.target_org_id,
                    CASE WHEN {SETTLING} THEN o.attempt_server_ms END
             FROM outbox o
             LEFT JOIN partners p ON o.entity = 'partner' AND p.key = o.record_key
             LEFT JOIN organizations g ON o.entity = 'organization' AND g.key = o.record_key
             WHERE o.state = 'pending' AND o.hold IS NULL
               AND (o.next_attempt_ms IS NULL OR o.next_attempt_ms <= ?1)
               AND NOT EXISTS (SELECT 1 FROM outbox e WHERE e.entity = o.entity AND e.record_key = o.record_key
                                                         AND e.seq < o.seq)
               AND coalesce(p.sync_state, g.sync_state, '') <> 'conflict'
               AND NOT (o.entity = 'partner' AND ?2) AND NOT (o.entity = 'organization' AND ?3)
               AND NOT (o.entity = 'partner' AND ?5 AND o.op <> 'delete' AND p.server_id IS NOT NULL)
               AND NOT (o.entity = 'organization' AND ?6 AND o.op = 'update')
               AND NOT ({SETTLING} AND o.attempted_at_ms + ?7 > ?1)
             ORDER BY o.seq LIMIT ?4",
            COLUMNS_AS_O
        ))?;
        let due = stmt
            .query_map(
                params![
                    now.timestamp_millis(),
                    partners_paused,
                    orgs_paused,
                    limit as i64,
                    partners_stale,
                    orgs_stale,
                    millis(settle)
                ],
                |r| {
                    Ok(Due {
                        entry: entry_from_row(r)?,
                        server_id: super::opt_uuid(r, 11)?,
                        target_org_id: super::opt_uuid(r, 12)?,
                        settling_since_server: opt_millis(r, 13)?,
                    })
                },
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(due)
    }

    /// When the next change backing off after a failure, or settling (see
    /// [`Outbox::due`]), becomes due (not counting backends in
    /// `paused`), if one does after `now`.
    pub fn next_retry_at(
        &self,
        now: DateTime<Utc>,
        paused: &[Entity],
        settle: std::time::Duration,
    ) -> Result<Option<DateTime<Utc>>> {
        let next: Option<i64> = self
            .store
            .conn
            .prepare_cached(&format!(
                "SELECT min(at) FROM (
                 SELECT max(coalesce(o.next_attempt_ms, 0),
                            CASE WHEN {SETTLING} THEN o.attempted_at_ms + ?4 ELSE 0 END) AS at
                 FROM outbox o
                 WHERE o.state = 'pending' AND o.hold IS NULL
                   AND NOT (o.entity = 'partner' AND ?2) AND NOT (o.entity = 'organization' AND ?3))
             WHERE at > ?1"
            ))?
            .query_row(
                params![
                    now.timestamp_millis(),
                    paused.contains(&Entity::Partner),
                    paused.contains(&Entity::Organization),
                    millis(settle)
                ],
                |r| r.get(0),
            )?;
        Ok(next.and_then(DateTime::from_timestamp_millis))
    }

    /// One page of the waiting changes, oldest first: the Sync screen reads
    /// them as it scrolls (100,000 after a large import), never all at once.
    pub fn page(&self, filter: Option<OutboxFilter>, limit: u32, offset: u64) -> Result<Page<OutboxEntry>> {
        let condition = filter.map_or("1", OutboxFilter::condition);
        let limit = limit.clamp(1, 1_000);
        let mut stmt = self.store.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE {condition} ORDER BY seq LIMIT ?1 OFFSET ?2"
        ))?;
        let offset_sql = i64::try_from(offset).unwrap_or(i64::MAX);
        let items =
            stmt.query_map(params![limit, offset_sql], entry_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        let total: i64 =
            self.store.conn.query_row(&format!("SELECT count(*) FROM outbox WHERE {condition}"), [], |r| r.get(0))?;
        Ok(Page { items, total: total as u64, total_capped: false, limit, offset })
    }

    pub fn counts(&self) -> Result<OutboxCounts> {
        Ok(self.store.conn.query_row(
            "SELECT count(*),
                    count(*) FILTER (WHERE state = 'pending' AND hold IS NULL),
                    count(*) FILTER (WHERE state = 'rejected'),
                    count(*) FILTER (WHERE state = 'pending' AND hold IS NOT NULL)
             FROM outbox",
            [],
            |r| {
                let n = |i| r.get::<_, i64>(i).map(|v| v as u64);
                Ok(OutboxCounts { all: n(0)?, waiting: n(1)?, refused: n(2)?, held: n(3)? })
            },
        )?)
    }
}

/// What became of a change that went, and the user's retry and discard:
/// the outbox's own states.
impl<S: DerefMut<Target = Store>> Outbox<S> {
    /// Counts an attempt at each of these changes before their requests go
    /// out, in one transaction that is always durable (even when sync's other
    /// bookkeeping is relaxed), and returns each change as it is now (the user
    /// may have edited it since it was picked), or `None` if it is gone. A
    /// crash after this leaves the changes marked as possibly sent, so the next
    /// attempt reconciles before sending again.
    pub fn begin_attempts(&mut self, seqs: &[i64]) -> Result<Vec<Option<OutboxEntry>>> {
        self.begin_attempts_by(seqs, |_| None)
    }

    /// [`Outbox::begin_attempts`], storing each attempt's start by its
    /// server's clock too (`server_offset`: server time minus local time, if known).
    pub fn begin_attempts_by(
        &mut self,
        seqs: &[i64],
        server_offset: impl Fn(Entity) -> Option<chrono::TimeDelta>,
    ) -> Result<Vec<Option<OutboxEntry>>> {
        let relaxed = self.store.relaxed;
        if relaxed {
            self.store.conn.pragma_update(None, "synchronous", "FULL")?;
        }
        let now_ms = super::now().timestamp_millis();
        let partners_offset = server_offset(Entity::Partner).map(|o| o.num_milliseconds());
        let orgs_offset = server_offset(Entity::Organization).map(|o| o.num_milliseconds());
        let tx = self.store.write()?;
        let mut entries = Vec::with_capacity(seqs.len());
        for &seq in seqs {
            // One statement claims and reads back: the count returned is the
            // one this claim made, whatever another process claimed before.
            let claimed = tx
                .prepare_cached(&format!(
                    "UPDATE outbox SET attempts = attempts + 1, updated_at = ?2, attempted_at_ms = ?3,
                                       attempt_server_ms = ?3 + CASE entity WHEN 'partner' THEN ?4 ELSE ?5 END
                     WHERE seq = ?1 AND state = 'pending'
                     RETURNING {}",
                    COLUMNS
                ))?
                .query_row(params![seq, now_text(), now_ms, partners_offset, orgs_offset], entry_from_row)
                .optional()?;
            entries.push(claimed);
        }
        tx.commit()?;
        if relaxed {
            self.store.conn.pragma_update(None, "synchronous", "NORMAL")?;
        }
        Ok(entries)
    }

    /// Leaves a change the server declined (a redirect, 429, 503, refused
    /// credentials) for a later attempt: the attempt cannot land later, so the
    /// change does not settle.
    pub fn declined_at(&mut self, seq: i64, at: Option<DateTime<Utc>>, error: &str) -> Result<()> {
        self.store.conn.execute(
            "UPDATE outbox SET next_attempt_ms = ?2, last_error = ?3, updated_at = ?4, attempted_at_ms = NULL,
                               attempt_server_ms = NULL
             WHERE seq = ?1",
            params![seq, at.map(|t| t.timestamp_millis()), error, now_text()],
        )?;
        Ok(())
    }

    /// Remembers the body of an update whose answer was lost: it may still
    /// land later (see [`crate::plan::LATE_WRITE_HORIZON`]). Forgets those older.
    pub fn remember_unsettled_write(&mut self, seq: i64) -> Result<()> {
        let now_ms = super::now().timestamp_millis();
        let tx = self.store.write()?;
        tx.prepare_cached("DELETE FROM unsettled_writes WHERE sent_at_ms < ?1")?
            .execute([now_ms - crate::plan::LATE_WRITE_HORIZON.num_milliseconds()])?;
        tx.prepare_cached(
            "INSERT INTO unsettled_writes (entity, record_key, payload, sent_at_ms)
             SELECT entity, record_key, payload, coalesce(attempted_at_ms, ?2) FROM outbox WHERE seq = ?1 AND op = 'update'",
        )?
        .execute(params![seq, now_ms])?;
        tx.commit()?;
        Ok(())
    }

    /// Leaves a change for a later attempt, saying why.
    pub fn retry_at(&mut self, seq: i64, at: Option<DateTime<Utc>>, error: &str) -> Result<()> {
        self.store.conn.execute(
            "UPDATE outbox SET next_attempt_ms = ?2, last_error = ?3, updated_at = ?4 WHERE seq = ?1",
            params![seq, at.map(|t| t.timestamp_millis()), error, now_text()],
        )?;
        Ok(())
    }

    /// Leaves a change settling until `at`, because the server's clock says
    /// its window has not passed. Once only: the next check goes by this
    /// machine's clock alone (its start by the server's is forgotten), so a
    /// server whose clock stands still cannot hold a change back for ever.
    pub fn wait_by_the_servers_clock(&mut self, seq: i64, at: DateTime<Utc>, error: &str) -> Result<()> {
        self.store.conn.execute(
            "UPDATE outbox SET next_attempt_ms = ?2, last_error = ?3, updated_at = ?4, attempt_server_ms = NULL
             WHERE seq = ?1",
            params![seq, at.timestamp_millis(), error, now_text()],
        )?;
        Ok(())
    }

    /// A create whose outcome was unknown is not on the server, checked after
    /// its settle window: it goes again now (the check itself sent nothing).
    pub fn not_there_after_all(&mut self, seq: i64) -> Result<()> {
        // Like a declined attempt: nothing of it can land later, and it is due now.
        self.declined_at(seq, None, "Checked: not on the central system yet; sending it again.")
    }

    /// The server refused a change: the record shows why, other records go on.
    pub fn reject(&mut self, seq: i64, entity: Entity, key: Uuid, error: &SyncError) -> Result<()> {
        let tx = self.store.write()?;
        let text = serde_json::to_string(error).expect("a sync error always serializes");
        tx.execute(
            "UPDATE outbox SET state = 'rejected', last_error = ?2, next_attempt_ms = NULL, updated_at = ?3 WHERE seq = ?1",
            params![seq, error.message, now_text()],
        )?;
        tx.execute(
            &format!("UPDATE {} SET sync_error = ?2 WHERE key = ?1", entity.table()),
            params![key.to_string(), text],
        )?;
        refresh_sync_state(&tx, entity, key)?;
        tx.commit()?;
        Ok(())
    }

    /// The server does not offer what this change needs: it waits, with the reason shown.
    pub fn hold(&mut self, seq: i64, entity: Entity, key: Uuid, reason: &str) -> Result<()> {
        let tx = self.store.write()?;
        tx.execute(
            "UPDATE outbox SET hold = ?2, last_error = ?2, updated_at = ?3 WHERE seq = ?1",
            params![seq, reason, now_text()],
        )?;
        let error = SyncError { message: reason.to_string(), fields: vec![] };
        tx.execute(
            &format!("UPDATE {} SET sync_error = ?2 WHERE key = ?1", entity.table()),
            params![key.to_string(), serde_json::to_string(&error).expect("serializes")],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// Lets held changes of `entity` go again (the server now offers what
    /// they need), except those of partners whose connected organization
    /// refused writes: those wait until it is no longer read-only.
    pub fn release_holds(&mut self, entity: Entity) -> Result<usize> {
        Ok(self.store.conn.execute(
            "UPDATE outbox SET hold = NULL, last_error = NULL
             WHERE entity = ?1 AND hold IS NOT NULL
               AND NOT EXISTS (SELECT 1 FROM partners p JOIN read_only_organizations r ON r.org_id = p.target_org_id
                               WHERE ?1 = 'partner' AND p.key = outbox.record_key)",
            [entity.as_str()],
        )?)
    }

    /// Sends a change again as it is: a refused or held one goes back in the queue, due now.
    pub fn retry(&mut self, seq: i64) -> Result<OutboxEntry> {
        let tx = self.store.write()?;
        let change = entry(&tx, seq)?.ok_or_else(|| StoreError::NotFound { kind: "change", key: seq.to_string() })?;
        tx.execute(
            "UPDATE outbox SET state = 'pending', hold = NULL, next_attempt_ms = NULL, last_error = NULL WHERE seq = ?1",
            [seq],
        )?;
        tx.execute(
            &format!("UPDATE {} SET sync_error = NULL WHERE key = ?1", change.entity.table()),
            [change.record_key.to_string()],
        )?;
        refresh_sync_state(&tx, change.entity, change.record_key)?;
        let change = entry(&tx, seq)?.expect("updated above");
        tx.commit()?;
        Ok(change)
    }

    /// Gives up a change that has not reached the server: the record goes back
    /// to what the server holds (a record the server never had is removed here).
    /// Later changes of the same record stay queued.
    pub fn discard(&mut self, seq: i64) -> Result<()> {
        let tx = self.store.write()?;
        let change = entry(&tx, seq)?.ok_or_else(|| StoreError::NotFound { kind: "change", key: seq.to_string() })?;
        let (entity, key) = (change.entity, change.record_key);
        tx.execute("DELETE FROM outbox WHERE seq = ?1", [seq])?;
        let base: Option<String> = tx.query_row(
            &format!("SELECT sync_base FROM {} WHERE key = ?1", entity.table()),
            [key.to_string()],
            |r| r.get(0),
        )?;
        match base.and_then(|b| serde_json::from_str::<Value>(&b).ok()) {
            None => {
                // Never on the server: nothing to go back to.
                tx.execute(
                    &format!("UPDATE {} SET deleted_at = coalesce(deleted_at, ?2) WHERE key = ?1", entity.table()),
                    params![key.to_string(), now_text()],
                )?;
                tx.execute(
                    "DELETE FROM outbox WHERE entity = ?1 AND record_key = ?2",
                    params![entity.as_str(), key.to_string()],
                )?;
            }
            Some(base) => {
                let base: Fields = base.as_object().cloned().unwrap_or_default();
                for_entity!(entity, R => R::write_fields(&tx, key, &base)?);
                tx.execute(
                    &format!("UPDATE {} SET deleted_at = NULL, sync_error = NULL WHERE key = ?1", entity.table()),
                    [key.to_string()],
                )?;
            }
        }
        refresh_sync_state(&tx, entity, key)?;
        tx.commit()?;
        Ok(())
    }
}

/// Which waiting changes the Sync screen lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OutboxFilter {
    /// Going to be sent (not refused, not held).
    Waiting,
    /// Refused by the central system: the user's to fix, retry or discard.
    Refused,
    /// Kept here until the server accepts them (an operation it lacks, a read-only organization).
    Held,
}

impl OutboxFilter {
    fn condition(self) -> &'static str {
        match self {
            OutboxFilter::Waiting => "state = 'pending' AND hold IS NULL",
            OutboxFilter::Refused => "state = 'rejected'",
            OutboxFilter::Held => "state = 'pending' AND hold IS NOT NULL",
        }
    }
}

/// How many changes each filter holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutboxCounts {
    pub all: u64,
    pub waiting: u64,
    pub refused: u64,
    pub held: u64,
}
