//! What sync reads from and writes to the store. Every write is one
//! transaction, so a crash at any point leaves either the old state or the new.
//!
//! Nothing here decides: each pulled record, gone record and answered
//! conflict is read into a [`plan::Local`] snapshot, planned by
//! [`crate::plan`], and the step applied with plain writes, all in the
//! transaction that read it (a user's edit can never fall between the plan
//! and its write). Each path is written once for both tables, through [`Record`].

use chrono::{DateTime, Utc};
use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::outbox::{self, Entity, Op, OutboxEntry};
use super::record::{Located, Record, for_entity};
use super::{Result, Store, StoreError, time_text};
use crate::merge::FieldConflict;
use crate::model::{SyncError, SyncState};
use crate::plan::{self, ConflictKind, Fields, Pulled, Queued, Resolution};
use crate::remote::wire::{self, ServerPartner};

/// A change ready to send, with what the request needs to know of its record.
#[derive(Debug, Clone)]
pub struct Due {
    pub entry: OutboxEntry,
    /// The partner's id on the server, once it has one.
    pub server_id: Option<Uuid>,
    pub target_org_id: Option<Uuid>,
}

/// An open question for the user: a field changed on both sides, or a whole-record one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Conflict {
    pub id: i64,
    pub entity: Entity,
    pub record_key: Uuid,
    pub kind: ConflictKind,
    /// The field, for a [`ConflictKind::Field`]; empty for a whole-record question.
    pub field: String,
    pub base: Value,
    pub local: Value,
    pub remote: Value,
    pub detected_at: String,
}

fn now_text() -> String {
    time_text(&super::now())
}

impl Store {
    /// Up to `limit` changes that may be sent now: the oldest waiting change of
    /// each record (never a later one first), not held, not refused, not for a
    /// record in conflict, and not for a backend in `paused`. For a backend in
    /// `stale` (its records were not all pulled this run) updates of records
    /// the server has wait too: sent as whole records, they could overwrite
    /// changes made there that were not merged yet.
    pub fn due_changes(
        &self,
        now: DateTime<Utc>,
        limit: usize,
        paused: &[Entity],
        stale: &[Entity],
    ) -> Result<Vec<Due>> {
        let partners_paused = paused.contains(&Entity::Partner);
        let orgs_paused = paused.contains(&Entity::Organization);
        let partners_stale = stale.contains(&Entity::Partner);
        let orgs_stale = stale.contains(&Entity::Organization);
        let mut stmt = self.conn.prepare_cached(&format!(
            "SELECT {}, p.server_id, p.target_org_id FROM outbox o
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
             ORDER BY o.seq LIMIT ?4",
            outbox::COLUMNS_AS_O
        ))?;
        let due = stmt
            .query_map(
                params![now.timestamp_millis(), partners_paused, orgs_paused, limit as i64, partners_stale, orgs_stale],
                |r| {
                    Ok(Due {
                        entry: outbox::entry_from_row(r)?,
                        server_id: super::opt_uuid(r, 11)?,
                        target_org_id: super::opt_uuid(r, 12)?,
                    })
                },
            )?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(due)
    }

    /// When the next change backing off after a failure becomes due (not
    /// counting backends in `paused`), if one does after `now`.
    pub fn next_retry_at(&self, now: DateTime<Utc>, paused: &[Entity]) -> Result<Option<DateTime<Utc>>> {
        let next: Option<i64> = self.conn.query_row(
            "SELECT min(next_attempt_ms) FROM outbox
             WHERE state = 'pending' AND hold IS NULL AND next_attempt_ms > ?1
               AND NOT (entity = 'partner' AND ?2) AND NOT (entity = 'organization' AND ?3)",
            params![now.timestamp_millis(), paused.contains(&Entity::Partner), paused.contains(&Entity::Organization)],
            |r| r.get(0),
        )?;
        Ok(next.and_then(DateTime::from_timestamp_millis))
    }

    /// Counts an attempt at each of these changes before their requests go
    /// out, in one transaction that is always durable (even when sync's other
    /// bookkeeping is relaxed), and returns each change as it is now (the user
    /// may have edited it since it was picked), or `None` if it is gone. A
    /// crash after this leaves the changes marked as possibly sent, so the next
    /// attempt reconciles before sending again.
    pub fn begin_attempts(&mut self, seqs: &[i64]) -> Result<Vec<Option<OutboxEntry>>> {
        let relaxed = self.relaxed;
        if relaxed {
            self.conn.pragma_update(None, "synchronous", "FULL")?;
        }
        let tx = self.write()?;
        let mut entries = Vec::with_capacity(seqs.len());
        for &seq in seqs {
            // One statement claims and reads back: the count returned is the
            // one this claim made, whatever another process claimed before.
            let claimed = tx
                .prepare_cached(&format!(
                    "UPDATE outbox SET attempts = attempts + 1, updated_at = ?2 WHERE seq = ?1 AND state = 'pending'
                     RETURNING {}",
                    outbox::COLUMNS
                ))?
                .query_row(params![seq, now_text()], outbox::entry_from_row)
                .optional()?;
            entries.push(claimed);
        }
        tx.commit()?;
        if relaxed {
            self.conn.pragma_update(None, "synchronous", "NORMAL")?;
        }
        Ok(entries)
    }

    /// Lets sync commit its other bookkeeping (answers received, pulled
    /// records) without waiting for the disk on each commit. Safe because
    /// each is redone if lost: a change whose success was not recorded is
    /// attempted again, and its durable attempt count makes that attempt
    /// reconcile with the server first; a lost pull is pulled again. Commits
    /// survive a crash of the process either way (WAL); only a power cut can
    /// lose the last ones.
    pub fn relax_sync_durability(&mut self, relaxed: bool) -> Result<()> {
        self.conn.pragma_update(None, "synchronous", if relaxed { "NORMAL" } else { "FULL" })?;
        self.relaxed = relaxed;
        Ok(())
    }

    /// A change the server took: the record is linked to what the server
    /// answered (ids, times, and its fields as the new base), and the change
    /// leaves the outbox.
    pub fn change_done<R: Record>(&mut self, seq: i64, key: Uuid, server: Option<&R::Server>) -> Result<()> {
        let tx = self.write()?;
        if let Some(s) = server {
            R::set_server(&tx, key, s)?;
        }
        finish(&tx, seq, R::ENTITY, key)?;
        tx.commit()?;
        Ok(())
    }

    /// Leaves a change for a later attempt, saying why.
    pub fn retry_change_at(&mut self, seq: i64, at: Option<DateTime<Utc>>, error: &str) -> Result<()> {
        self.conn.execute(
            "UPDATE outbox SET next_attempt_ms = ?2, last_error = ?3, updated_at = ?4 WHERE seq = ?1",
            params![seq, at.map(|t| t.timestamp_millis()), error, now_text()],
        )?;
        Ok(())
    }

    /// The server refused a change: the record shows why, other records go on.
    pub fn reject_change(&mut self, seq: i64, entity: Entity, key: Uuid, error: &SyncError) -> Result<()> {
        let tx = self.write()?;
        let text = serde_json::to_string(error).expect("a sync error always serializes");
        tx.execute(
            "UPDATE outbox SET state = 'rejected', last_error = ?2, next_attempt_ms = NULL, updated_at = ?3 WHERE seq = ?1",
            params![seq, error.message, now_text()],
        )?;
        tx.execute(
            &format!("UPDATE {} SET sync_error = ?2 WHERE key = ?1", entity.table()),
            params![key.to_string(), text],
        )?;
        outbox::refresh_sync_state(&tx, entity, key)?;
        tx.commit()?;
        Ok(())
    }

    /// The server does not offer what this change needs: it waits, with the reason shown.
    pub fn hold_change(&mut self, seq: i64, entity: Entity, key: Uuid, reason: &str) -> Result<()> {
        let tx = self.write()?;
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

    /// Lets held changes of `entity` go again (the server now offers what they need).
    pub fn release_holds(&mut self, entity: Entity) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE outbox SET hold = NULL, last_error = NULL WHERE entity = ?1 AND hold IS NOT NULL",
            [entity.as_str()],
        )?)
    }

    /// The local partner linked to a server id, if any.
    pub fn partner_key_for_server_id(&self, id: Uuid) -> Result<Option<Uuid>> {
        let key: Option<String> = self
            .conn
            .prepare_cached("SELECT key FROM partners WHERE server_id = ?1")?
            .query_row([id.to_string()], |r| r.get(0))
            .optional()?;
        Ok(key.and_then(|k| Uuid::parse_str(&k).ok()))
    }

    /// A partner create whose outcome is unknown, and a server record that may
    /// be it but differs: the user decides whether it is the same partner.
    pub fn flag_possible_duplicate(&mut self, seq: i64, key: Uuid, candidate: &ServerPartner) -> Result<()> {
        let tx = self.write()?;
        let local = super::Partners::fields(&tx, key)?;
        let mut remote = wire::partner_fields(&candidate.fields);
        remote.insert("id".into(), Value::String(candidate.id.to_string()));
        insert_conflict(
            &tx,
            Entity::Partner,
            key,
            ConflictKind::PossibleDuplicate,
            &FieldConflict {
                field: String::new(),
                base: Value::Null,
                local: Value::Object(local),
                remote: Value::Object(remote),
            },
        )?;
        tx.execute(
            "UPDATE outbox SET last_error = ?2 WHERE seq = ?1",
            params![seq, "Possible duplicate on the server"],
        )?;
        tx.execute("UPDATE partners SET sync_state = 'conflict' WHERE key = ?1", [key.to_string()])?;
        tx.commit()?;
        Ok(())
    }

    /// Merges one page of a pull in one transaction; `scope` is the
    /// organization whose partners these are (`None`: the user's own).
    pub fn pull_page<R: Record>(&mut self, scope: Option<Uuid>, page: &[R::Server]) -> Result<Vec<Pulled>> {
        let tx = self.write()?;
        let outcomes = super::search::with_partner_index_deferred(&tx, || {
            let surely_new = R::surely_new(&tx, page)?;
            page.iter()
                .zip(surely_new)
                .map(|(server, new)| {
                    if new {
                        R::insert_pulled(&tx, scope, None, server)?;
                        Ok(Pulled::Inserted)
                    } else {
                        pull_one::<R>(&tx, scope, server)
                    }
                })
                .collect::<Result<Vec<_>>>()
        })?;
        tx.commit()?;
        Ok(outcomes)
    }

    /// Local records linked to the server (synced at least once) that a complete scan did not see.
    pub fn server_ids_not_seen(
        &self,
        org: Option<Uuid>,
        seen: &std::collections::HashSet<Uuid>,
    ) -> Result<Vec<(Uuid, Uuid)>> {
        // After a pull, most partners are linked: one pass over the table beats a
        // lookup of each row through the server-id index (`+` keeps it out),
        // 50 ms against 350 ms for 100,000 partners.
        let mut stmt = self.conn.prepare(
            "SELECT key, server_id FROM partners WHERE +server_id IS NOT NULL AND deleted_at IS NULL
                 AND target_org_id IS ?1",
        )?;
        let mut rows = stmt.query([org.map(|o| o.to_string())])?;
        let mut missing = Vec::new();
        while let Some(row) = rows.next()? {
            let Ok(id) = Uuid::parse_str(&row.get::<_, String>(1)?) else { continue };
            if !seen.contains(&id)
                && let Ok(key) = Uuid::parse_str(&row.get::<_, String>(0)?)
            {
                missing.push((key, id));
            }
        }
        Ok(missing)
    }

    /// Organizations synced at least once that a complete scan did not see.
    pub fn organizations_not_seen(&self, seen: &std::collections::HashSet<String>) -> Result<Vec<Uuid>> {
        let mut stmt =
            self.conn.prepare("SELECT key FROM organizations WHERE sync_base IS NOT NULL AND deleted_at IS NULL")?;
        let keys: Vec<String> = stmt.query_map([], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        Ok(keys.into_iter().filter(|k| !seen.contains(k)).filter_map(|k| Uuid::parse_str(&k).ok()).collect())
    }

    /// The server no longer has this record (confirmed by a direct lookup):
    /// delete it here too, unless it holds changes not yet sent, which become
    /// a question for the user instead of being lost. Returns whether it was deleted.
    pub fn deleted_remotely(&mut self, entity: Entity, key: Uuid) -> Result<bool> {
        let tx = self.write()?;
        let local = for_entity!(entity, R => local::<R>(&tx, key)?);
        let deleted = match plan::gone(&local) {
            plan::Gone::Delete => {
                tx.execute(
                    &format!(
                        "UPDATE {} SET deleted_at = ?2, updated_at = ?2, sync_state = 'synced' WHERE key = ?1",
                        entity.table()
                    ),
                    params![key.to_string(), now_text()],
                )?;
                true
            }
            plan::Gone::Ask => {
                let question =
                    FieldConflict { field: String::new(), base: Value::Null, local: Value::Null, remote: Value::Null };
                insert_conflict(&tx, entity, key, ConflictKind::DeletedRemotely, &question)?;
                set_in_conflict(&tx, entity, key)?;
                false
            }
        };
        tx.commit()?;
        Ok(deleted)
    }

    /// Every open conflict, oldest first.
    pub fn conflicts(&self) -> Result<Vec<Conflict>> {
        let mut stmt = self.conn.prepare_cached(
            "SELECT id, entity, record_key, field, base_value, local_value, remote_value, detected_at, kind
             FROM conflicts WHERE resolved_at IS NULL ORDER BY id",
        )?;
        let json = |t: Option<String>| t.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or(Value::Null);
        let rows = stmt.query_map([], |r| {
            Ok(Conflict {
                id: r.get(0)?,
                entity: super::parse_text(r, 1)?,
                record_key: super::uuid_at(r, 2)?,
                kind: super::parse_text(r, 8)?,
                field: r.get(3)?,
                base: json(r.get(4)?),
                local: json(r.get(5)?),
                remote: json(r.get(6)?),
                detected_at: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// Applies the user's choice for every open conflict of a record (see
    /// [`plan::settle`]): theirs takes the server's value, mine keeps the
    /// local one and queues it to be sent.
    pub fn resolve_conflicts(
        &mut self,
        entity: Entity,
        key: Uuid,
        choice: impl Fn(&str) -> Resolution,
    ) -> Result<SyncState> {
        let open: Vec<Conflict> =
            self.conflicts()?.into_iter().filter(|c| c.entity == entity && c.record_key == key).collect();
        let tx = self.write()?;
        for_entity!(entity, R => settle::<R>(&tx, key, &open, choice)?);
        let state = outbox::refresh_sync_state(&tx, entity, key)?;
        tx.commit()?;
        Ok(state)
    }
}

/// What is known here of one stored record, for the planner.
fn local<R: Record>(conn: &Connection, key: Uuid) -> Result<plan::Local> {
    let key_text = key.to_string();
    let (agreed, state, deleted): (Option<String>, String, bool) = conn
        .prepare_cached(&format!(
            "SELECT sync_base, sync_state, deleted_at IS NOT NULL FROM {} WHERE key = ?1",
            R::ENTITY.table()
        ))?
        .query_row([&key_text], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
    let queue = conn
        .prepare_cached(
            "SELECT seq, op, attempts, payload FROM outbox WHERE entity = ?1 AND record_key = ?2 ORDER BY seq",
        )?
        .query_map(params![R::ENTITY.as_str(), key_text], |r| {
            let body = serde_json::from_str::<Value>(&r.get::<_, String>(3)?).ok();
            Ok(Queued {
                seq: r.get(0)?,
                op: super::parse_text(r, 1)?,
                attempts: r.get(2)?,
                body: body.map(|b| wire::without_id(&b)).and_then(|b| b.as_object().cloned()),
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let open = conn
        .prepare_cached(
            "SELECT kind FROM conflicts WHERE entity = ?1 AND record_key = ?2 AND resolved_at IS NULL ORDER BY id",
        )?
        .query_map(params![R::ENTITY.as_str(), key_text], |r| super::parse_text(r, 0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(plan::Local {
        fields: R::fields(conn, key)?,
        agreed: agreed.and_then(|b| serde_json::from_str(&b).ok()),
        in_conflict: state == SyncState::Conflict.as_str(),
        deleted,
        queue,
        open,
    })
}

/// Merges one server record into the store.
fn pull_one<R: Record>(tx: &Transaction<'_>, scope: Option<Uuid>, server: &R::Server) -> Result<Pulled> {
    let remote = R::remote_fields(server);
    let key = match R::locate(tx, server)? {
        Located::Unusable => return Ok(Pulled::Unchanged),
        Located::Stored(key) => key,
        Located::New(key) => {
            return match plan::unlinked(&R::unconfirmed(tx, server)?, &remote) {
                plan::Unlinked::Insert => {
                    R::insert_pulled(tx, scope, key, server)?;
                    Ok(Pulled::Inserted)
                }
                plan::Unlinked::Adopt { seq, key } => {
                    R::set_server(tx, key, server)?;
                    finish(tx, seq, R::ENTITY, key)?;
                    Ok(Pulled::Adopted)
                }
                plan::Unlinked::LeaveToPush => Ok(Pulled::Unchanged),
            };
        }
    };
    let step = plan::pull(&local::<R>(tx, key)?, &remote);
    let (entity, key_text) = (R::ENTITY, key.to_string());
    if step.close_deleted_question {
        tx.execute(
            "UPDATE conflicts SET resolved_at = ?3 WHERE entity = ?1 AND record_key = ?2 AND kind = ?4
                                                    AND resolved_at IS NULL",
            params![entity.as_str(), key_text, now_text(), ConflictKind::DeletedRemotely.as_str()],
        )?;
    }
    if step.undelete {
        tx.execute(
            &format!("UPDATE {} SET deleted_at = NULL, updated_at = ?2 WHERE key = ?1", entity.table()),
            params![key_text, now_text()],
        )?;
    }
    if step.reopen {
        tx.execute(&format!("UPDATE {} SET sync_state = 'pending' WHERE key = ?1", entity.table()), [&key_text])?;
        outbox::refresh_sync_state(tx, entity, key)?;
    }
    if let Some(seq) = step.arrived {
        tx.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?.execute([seq])?;
    }
    if let Some(merged) = &step.merge {
        R::write_fields(tx, key, &merged.fields)?;
        R::set_server(tx, key, server)?;
        record_merge::<R>(tx, key, merged)?;
    }
    Ok(step.outcome())
}

/// Queues what a merge leaves to send, and its questions (the record then waits for the user).
fn record_merge<R: Record>(tx: &Transaction<'_>, key: Uuid, merged: &plan::Merged) -> Result<()> {
    if merged.send {
        outbox::enqueue(tx, R::ENTITY, key, Op::Update, &R::body(key, &merged.fields).to_string())?;
    }
    if merged.conflicts.is_empty() {
        outbox::refresh_sync_state(tx, R::ENTITY, key)?;
        return Ok(());
    }
    for c in &merged.conflicts {
        insert_conflict(tx, R::ENTITY, key, ConflictKind::Field, c)?;
    }
    set_in_conflict(tx, R::ENTITY, key)
}

/// Applies the user's answers to a record's open conflicts.
fn settle<R: Record>(
    tx: &Transaction<'_>,
    key: Uuid,
    open: &[Conflict],
    choice: impl Fn(&str) -> Resolution,
) -> Result<()> {
    let (entity, key_text) = (R::ENTITY, key.to_string());
    let candidates: Vec<Option<R::Server>> = open
        .iter()
        .map(|c| (c.kind == ConflictKind::PossibleDuplicate).then(|| R::read_server(&c.remote)).flatten())
        .collect();
    let answers: Vec<plan::Answered> = open
        .iter()
        .zip(&candidates)
        .map(|(c, candidate)| plan::Answered {
            id: c.id,
            kind: c.kind,
            field: c.field.clone(),
            remote: c.remote.clone(),
            candidate: candidate.as_ref().map(R::remote_fields),
            resolution: choice(&c.field),
        })
        .collect();
    let plan = plan::settle(&local::<R>(tx, key)?, &answers);
    for a in &answers {
        let resolution = serde_json::to_value(a.resolution).ok().and_then(|v| v.as_str().map(str::to_string));
        tx.execute(
            "UPDATE conflicts SET resolved_at = ?2, resolution = ?3 WHERE id = ?1",
            params![a.id, now_text(), resolution],
        )?;
    }
    if let Some(adoption) = &plan.adopt
        && let Some(server) = &candidates[adoption.answer]
    {
        R::write_fields(tx, key, &adoption.merge.fields)?;
        R::set_server(tx, key, server)?;
        tx.execute(
            "DELETE FROM outbox WHERE entity = ?1 AND record_key = ?2 AND op <> 'delete'",
            params![entity.as_str(), key_text],
        )?;
        if !adoption.delete_waits {
            record_merge::<R>(tx, key, &adoption.merge)?;
        }
    }
    if plan.send_as_new {
        tx.execute(
            "UPDATE outbox SET attempts = 0, last_error = NULL WHERE entity = ?1 AND record_key = ?2 AND op = 'create'",
            params![entity.as_str(), key_text],
        )?;
    }
    if plan.delete_here {
        tx.execute(
            &format!("UPDATE {} SET deleted_at = ?2 WHERE key = ?1", entity.table()),
            params![key_text, now_text()],
        )?;
        tx.execute("DELETE FROM outbox WHERE entity = ?1 AND record_key = ?2", params![entity.as_str(), key_text])?;
    }
    if let Some((fields, send)) = &plan.write {
        R::write_fields(tx, key, fields)?;
        if *send {
            outbox::enqueue(tx, entity, key, Op::Update, &R::body(key, fields).to_string())?;
        }
    }
    // Settled, unless an adoption above raised a question of its own.
    tx.execute(
        &format!(
            "UPDATE {} SET sync_state = 'pending' WHERE key = ?1 AND sync_state = 'conflict'
               AND NOT EXISTS (SELECT 1 FROM conflicts WHERE entity = ?2 AND record_key = ?1 AND resolved_at IS NULL)",
            entity.table()
        ),
        params![key_text, entity.as_str()],
    )?;
    Ok(())
}

fn set_in_conflict(tx: &Transaction<'_>, entity: Entity, key: Uuid) -> Result<()> {
    tx.execute(&format!("UPDATE {} SET sync_state = 'conflict' WHERE key = ?1", entity.table()), [key.to_string()])?;
    Ok(())
}

fn insert_conflict(
    tx: &Transaction<'_>,
    entity: Entity,
    key: Uuid,
    kind: ConflictKind,
    c: &FieldConflict,
) -> Result<()> {
    tx.prepare_cached(
        "INSERT INTO conflicts (entity, record_key, kind, field, base_value, local_value, remote_value, detected_at)
         VALUES (?1, ?2, ?8, ?3, ?4, ?5, ?6, ?7)",
    )?
    .execute(params![
        entity.as_str(),
        key.to_string(),
        c.field,
        c.base.to_string(),
        c.local.to_string(),
        c.remote.to_string(),
        now_text(),
        kind.as_str()
    ])?;
    Ok(())
}

/// Removes a sent change and sets the record's state from what is left.
fn finish(tx: &Transaction<'_>, seq: i64, entity: Entity, key: Uuid) -> Result<()> {
    tx.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?.execute([seq])?;
    outbox::refresh_sync_state(tx, entity, key)?;
    Ok(())
}

impl Store {
    /// Sends a change again as it is: a refused or held one goes back in the queue, due now.
    pub fn retry_change(&mut self, seq: i64) -> Result<OutboxEntry> {
        let tx = self.write()?;
        let entry =
            outbox::entry(&tx, seq)?.ok_or_else(|| StoreError::NotFound { kind: "change", key: seq.to_string() })?;
        tx.execute(
            "UPDATE outbox SET state = 'pending', hold = NULL, next_attempt_ms = NULL, last_error = NULL WHERE seq = ?1",
            [seq],
        )?;
        tx.execute(
            &format!("UPDATE {} SET sync_error = NULL WHERE key = ?1", entry.entity.table()),
            [entry.record_key.to_string()],
        )?;
        outbox::refresh_sync_state(&tx, entry.entity, entry.record_key)?;
        let entry = outbox::entry(&tx, seq)?.expect("updated above");
        tx.commit()?;
        Ok(entry)
    }

    /// Gives up a change that has not reached the server: the record goes back
    /// to what the server holds (a record the server never had is removed here).
    /// Later changes of the same record stay queued.
    pub fn discard_change(&mut self, seq: i64) -> Result<()> {
        let tx = self.write()?;
        let entry =
            outbox::entry(&tx, seq)?.ok_or_else(|| StoreError::NotFound { kind: "change", key: seq.to_string() })?;
        let (entity, key) = (entry.entity, entry.record_key);
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
        outbox::refresh_sync_state(&tx, entity, key)?;
        tx.commit()?;
        Ok(())
    }
}
