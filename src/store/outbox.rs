//! The outbox: the durable queue of changes sync sends, in `seq` order per record.
//!
//! Coalescing keeps the queue short without ever changing a request the server
//! may already have seen: only an entry that was never attempted is rewritten in
//! place. A rejected entry is replaced by a new one at a new `seq`, so its
//! `Idempotency-Key` (record key + seq) is never reused for a different body.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::{Result, Store, json_at, opt_millis, parse_text, parse_time, time_text, uuid_at};
use crate::model::SyncState;
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

/// One change by its seq.
pub(crate) fn entry(conn: &rusqlite::Connection, seq: i64) -> Result<Option<OutboxEntry>> {
    Ok(conn
        .prepare_cached(&format!("SELECT {COLUMNS} FROM outbox WHERE seq = ?1"))?
        .query_row([seq], entry_from_row)
        .optional()?)
}

impl Store {
    pub fn outbox_entry(&self, seq: i64) -> Result<Option<OutboxEntry>> {
        entry(&self.conn, seq)
    }

    /// Every waiting change, oldest first.
    pub fn outbox(&self) -> Result<Vec<OutboxEntry>> {
        let mut stmt = self.conn.prepare_cached(&format!("SELECT {COLUMNS} FROM outbox ORDER BY seq"))?;
        let rows = stmt.query_map([], entry_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The waiting changes of one record, oldest first.
    pub fn outbox_for(&self, entity: Entity, key: Uuid) -> Result<Vec<OutboxEntry>> {
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {COLUMNS} FROM outbox WHERE entity = ?1 AND record_key = ?2 ORDER BY seq"
        ))?;
        let rows = stmt.query_map(params![entity.as_str(), key.to_string()], entry_from_row)?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Count of changes not yet on the central API, and when the oldest was made.
    pub fn outbox_summary(&self) -> Result<(u64, Option<DateTime<Utc>>)> {
        let (count, oldest): (i64, Option<String>) =
            self.conn.query_row("SELECT count(*), min(created_at) FROM outbox", [], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok((count as u64, oldest.map(|t| parse_time(1, &t)).transpose()?))
    }
}
