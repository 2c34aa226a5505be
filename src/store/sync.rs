//! What sync reads from and writes to the store. Every write is one
//! transaction, so a crash at any point leaves either the old state or the new.

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, Transaction, params};
use serde::Serialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use super::outbox::{self, Entity, Op, OutboxEntry};
use super::partners::ServerColumns;
use super::{Result, Store, StoreError, time_text};
use crate::merge::{FieldConflict, merge};
use crate::model::{OrganizationFields, PartnerFields, SyncError, SyncState};
use crate::remote::wire::{ServerOrganization, ServerPartner};
use crate::text_enum::text_enum;

/// A change ready to send, with what the request needs to know of its record.
#[derive(Debug, Clone)]
pub struct Due {
    pub entry: OutboxEntry,
    /// The partner's id on the server, once it has one.
    pub server_id: Option<Uuid>,
    pub target_org_id: Option<Uuid>,
}

/// What a pull did with one server record.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pulled {
    Unchanged,
    Inserted,
    Updated,
    /// A local partner whose create had an unknown outcome turned out to be this record.
    Adopted,
    Conflict,
    /// A record given up here as deleted on the server is there again, and live here again.
    Restored,
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

/// The user's answer to a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Resolution {
    Mine,
    Theirs,
}

text_enum!(
    /// What a conflict asks the user.
    ConflictKind("conflict kind") {
        /// A field changed here and on the server to different values (`field` names it).
        Field = "field",
        /// A create whose outcome was unknown, and a server record that may be it but differs.
        PossibleDuplicate = "possible_duplicate",
        /// Deleted on the server while it changed here.
        DeletedRemotely = "deleted_remotely",
    }
);

fn now_text() -> String {
    time_text(&super::now())
}

fn to_map<T: Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// Organization fields as compared and sent (see [`crate::remote::wire::organization_body`]).
pub(crate) fn org_map(fields: &OrganizationFields) -> Map<String, Value> {
    match crate::remote::wire::organization_body(None, fields) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

pub(crate) fn partner_map(fields: &PartnerFields) -> Map<String, Value> {
    to_map(fields)
}

fn opt_time_text(t: Option<DateTime<Utc>>) -> Option<String> {
    t.as_ref().map(time_text)
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

    /// A partner change the server took: its ids and times are stored, the
    /// fields it holds become the base, and the change leaves the outbox.
    pub fn partner_change_done(&mut self, seq: i64, key: Uuid, server: Option<&ServerPartner>) -> Result<()> {
        let tx = self.write()?;
        if let Some(s) = server {
            set_partner_server(&tx, key, s)?;
        }
        finish(&tx, seq, Entity::Partner, key)?;
        tx.commit()?;
        Ok(())
    }

    /// An organization change the server took (see [`Store::partner_change_done`]).
    pub fn organization_change_done(&mut self, seq: i64, key: Uuid, server: Option<&ServerOrganization>) -> Result<()> {
        let tx = self.write()?;
        if let Some(s) = server {
            set_org_server(&tx, key, s)?;
        }
        finish(&tx, seq, Entity::Organization, key)?;
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
        let local: PartnerFields = super::partners::fields_of(&tx, key)?;
        let mut remote = partner_map(&candidate.fields);
        remote.insert("id".into(), Value::String(candidate.id.to_string()));
        insert_conflict(
            &tx,
            Entity::Partner,
            key,
            ConflictKind::PossibleDuplicate,
            &FieldConflict {
                field: String::new(),
                base: Value::Null,
                local: Value::Object(partner_map(&local)),
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

    /// Merges one page of a pull of `org`'s partners, in one transaction.
    pub fn pull_partners(&mut self, org: Option<Uuid>, page: &[ServerPartner]) -> Result<Vec<Pulled>> {
        let tx = self.write()?;
        let outcomes = super::search::with_partner_index_deferred(&tx, || {
            // Most of a first pull is records never seen here: two questions per
            // batch spare each of them the merge's per-record lookups.
            let mut known = known_server_ids(&tx, page)?;
            let unconfirmed = has_unconfirmed_creates(&tx)?;
            page.iter()
                .map(|server| {
                    // `insert` is false for an id stored already, or seen earlier in this batch.
                    if known.insert(server.id) && !unconfirmed {
                        insert_pulled(&tx, org, server)
                    } else {
                        pull_partner(&tx, org, server)
                    }
                })
                .collect::<Result<Vec<_>>>()
        })?;
        tx.commit()?;
        Ok(outcomes)
    }

    /// Merges one page of a pull of organizations, in one transaction.
    pub fn pull_organizations(&mut self, page: &[ServerOrganization]) -> Result<Vec<Pulled>> {
        let tx = self.write()?;
        let outcomes = page.iter().map(|server| pull_organization(&tx, server)).collect::<Result<Vec<_>>>()?;
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
    /// a question for the user instead of being lost.
    pub fn deleted_remotely(&mut self, entity: Entity, key: Uuid) -> Result<bool> {
        let tx = self.write()?;
        let waiting: i64 = tx.query_row(
            "SELECT count(*) FROM outbox WHERE entity = ?1 AND record_key = ?2",
            params![entity.as_str(), key.to_string()],
            |r| r.get(0),
        )?;
        let deleted = if waiting == 0 {
            tx.execute(
                &format!(
                    "UPDATE {} SET deleted_at = ?2, updated_at = ?2, sync_state = 'synced' WHERE key = ?1",
                    entity.table()
                ),
                params![key.to_string(), now_text()],
            )?;
            true
        } else {
            insert_conflict(
                &tx,
                entity,
                key,
                ConflictKind::DeletedRemotely,
                &FieldConflict { field: String::new(), base: Value::Null, local: Value::Null, remote: Value::Null },
            )?;
            tx.execute(
                &format!("UPDATE {} SET sync_state = 'conflict' WHERE key = ?1", entity.table()),
                [key.to_string()],
            )?;
            false
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

    /// Applies the user's choice for every open conflict of a record: theirs
    /// takes the server's value, mine keeps the local one and queues it to be sent.
    pub fn resolve_conflicts(
        &mut self,
        entity: Entity,
        key: Uuid,
        choice: impl Fn(&str) -> Resolution,
    ) -> Result<SyncState> {
        let open: Vec<Conflict> =
            self.conflicts()?.into_iter().filter(|c| c.entity == entity && c.record_key == key).collect();
        let tx = self.write()?;
        let mut fields = match entity {
            Entity::Partner => partner_map(&super::partners::fields_of(&tx, key)?),
            Entity::Organization => org_map(&super::organizations::fields_of(&tx, key)?),
        };
        let base: Map<String, Value> = tx
            .query_row(&format!("SELECT sync_base FROM {} WHERE key = ?1", entity.table()), [key.to_string()], |r| {
                r.get::<_, Option<String>>(0)
            })?
            .and_then(|b| serde_json::from_str(&b).ok())
            .unwrap_or_default();
        for c in &open {
            let resolution = choice(&c.field);
            match (c.kind, resolution) {
                (ConflictKind::PossibleDuplicate, Resolution::Theirs) => {
                    // The same partner: adopt the server's record, and keep
                    // what changed here since the create was sent (a
                    // three-way merge with the create's body as the base).
                    if let Ok(server) = ServerPartner::from_json(&c.remote) {
                        adopt_as_same_partner(&tx, key, &server)?;
                        fields = partner_map(&super::partners::fields_of(&tx, key)?);
                    }
                }
                // A different partner: send it as new (its earlier attempt created nothing that matches).
                (ConflictKind::PossibleDuplicate, Resolution::Mine) => {
                    tx.execute(
                        "UPDATE outbox SET attempts = 0, last_error = NULL WHERE entity = 'partner' AND record_key = ?1 AND op = 'create'",
                        [key.to_string()],
                    )?;
                }
                (ConflictKind::DeletedRemotely, Resolution::Theirs) => {
                    tx.execute(
                        &format!("UPDATE {} SET deleted_at = ?2 WHERE key = ?1", entity.table()),
                        params![key.to_string(), now_text()],
                    )?;
                    tx.execute(
                        "DELETE FROM outbox WHERE entity = ?1 AND record_key = ?2",
                        params![entity.as_str(), key.to_string()],
                    )?;
                }
                (ConflictKind::DeletedRemotely, Resolution::Mine) => {}
                (ConflictKind::Field, Resolution::Theirs) => {
                    fields.insert(c.field.clone(), c.remote.clone());
                }
                (ConflictKind::Field, Resolution::Mine) => {}
            }
            tx.execute(
                "UPDATE conflicts SET resolved_at = ?2, resolution = ?3 WHERE id = ?1",
                params![
                    c.id,
                    now_text(),
                    serde_json::to_value(resolution).ok().and_then(|v| v.as_str().map(str::to_string))
                ],
            )?;
        }
        let deleted: bool = tx.query_row(
            &format!("SELECT deleted_at IS NOT NULL FROM {} WHERE key = ?1", entity.table()),
            [key.to_string()],
            |r| r.get(0),
        )?;
        if !deleted && !open.iter().any(|c| c.kind == ConflictKind::PossibleDuplicate) {
            let body = match entity {
                Entity::Partner => {
                    let f: PartnerFields = serde_json::from_value(Value::Object(fields.clone()))
                        .map_err(|e| StoreError::Damaged(e.to_string()))?;
                    super::partners::set_fields(&tx, key, &f)?;
                    Value::Object(fields.clone())
                }
                Entity::Organization => {
                    let f: OrganizationFields = serde_json::from_value(Value::Object(fields.clone()))
                        .map_err(|e| StoreError::Damaged(e.to_string()))?;
                    super::organizations::set_fields(&tx, key, &f)?;
                    let mut body = fields.clone();
                    body.insert("id".into(), Value::String(key.to_string()));
                    Value::Object(body)
                }
            };
            // A change still waiting was written before the choice: it is replaced by the chosen values.
            let waiting: i64 = tx.query_row(
                "SELECT count(*) FROM outbox WHERE entity = ?1 AND record_key = ?2 AND op <> 'delete'",
                params![entity.as_str(), key.to_string()],
                |r| r.get(0),
            )?;
            if fields != base || waiting > 0 {
                outbox::enqueue(&tx, entity, key, Op::Update, &body.to_string())?;
            }
        }
        // Settled, unless an adoption above raised a question of its own.
        tx.execute(
            &format!(
                "UPDATE {} SET sync_state = 'pending' WHERE key = ?1 AND sync_state = 'conflict'
                   AND NOT EXISTS (SELECT 1 FROM conflicts WHERE entity = ?2 AND record_key = ?1 AND resolved_at IS NULL)",
                entity.table()
            ),
            params![key.to_string(), entity.as_str()],
        )?;
        let state = outbox::refresh_sync_state(&tx, entity, key)?;
        tx.commit()?;
        Ok(state)
    }
}

/// A partner whose create had an unknown outcome is `server` after all (the
/// user said so). Nothing of it was ever sent but that create (its later
/// changes waited behind it), so the waiting changes are replaced by one
/// update: the server's record with what changed here since the create,
/// merged field by field against the body the create sent. A field changed
/// on both sides becomes a question; a waiting delete still goes.
fn adopt_as_same_partner(tx: &Transaction<'_>, key: Uuid, server: &ServerPartner) -> Result<()> {
    let sent: Option<String> = tx.query_row(
        "SELECT payload FROM outbox WHERE entity = 'partner' AND record_key = ?1 AND op = 'create' ORDER BY seq LIMIT 1",
        [key.to_string()],
        |r| r.get(0),
    ).optional()?;
    let remote = partner_map(&server.fields);
    let base = sent.and_then(|b| serde_json::from_str::<Map<String, Value>>(&b).ok()).unwrap_or_else(|| remote.clone());
    let local = partner_map(&super::partners::fields_of(tx, key)?);
    let m = merge(&base, &local, &remote);
    let fields: PartnerFields =
        serde_json::from_value(Value::Object(m.merged.clone())).map_err(|e| StoreError::Damaged(e.to_string()))?;
    super::partners::set_fields(tx, key, &fields)?;
    set_partner_server(tx, key, server)?;
    tx.execute(
        "DELETE FROM outbox WHERE entity = 'partner' AND record_key = ?1 AND op <> 'delete'",
        [key.to_string()],
    )?;
    let delete_waits: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM outbox WHERE entity = 'partner' AND record_key = ?1)",
        [key.to_string()],
        |r| r.get(0),
    )?;
    if !delete_waits {
        apply_merge(tx, Entity::Partner, key, &m.conflicts, m.ahead_of_remote, &Value::Object(m.merged).to_string())?;
    }
    Ok(())
}

/// Merges one partner from a pull of `org`'s partners.
fn pull_partner(tx: &Transaction<'_>, org: Option<Uuid>, server: &ServerPartner) -> Result<Pulled> {
    let found: Option<(String, Option<String>, String, bool)> = tx
        .prepare_cached("SELECT key, sync_base, sync_state, deleted_at IS NOT NULL FROM partners WHERE server_id = ?1")?
        .query_row([server.id.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let outcome = match found {
        None => match unlinked_partner(tx, server)? {
            Unlinked::Adopt(seq, key) => {
                set_partner_server(tx, key, server)?;
                finish(tx, seq, Entity::Partner, key)?;
                Pulled::Adopted
            }
            Unlinked::LeaveToPush => Pulled::Unchanged,
            Unlinked::New => insert_pulled(tx, org, server)?,
        },
        Some((key, base, state, deleted)) => {
            let key = Uuid::parse_str(&key).map_err(|e| StoreError::Damaged(e.to_string()))?;
            let back = reappeared(tx, Entity::Partner, key, deleted, &state)?;
            let in_conflict = state == "conflict" && back != Reappeared::Restored;
            let remote = partner_map(&server.fields);
            if back == Reappeared::DeleteWaiting {
                Pulled::Unchanged
            } else if in_conflict || unchanged_there(base.as_deref(), &remote) {
                if back == Reappeared::Restored { Pulled::Restored } else { Pulled::Unchanged }
            } else {
                let local = partner_map(&super::partners::fields_of(tx, key)?);
                let base = merge_base(tx, Entity::Partner, key, base, &remote)?;
                let m = merge(&base, &local, &remote);
                let fields: PartnerFields = serde_json::from_value(Value::Object(m.merged.clone()))
                    .map_err(|e| StoreError::Damaged(e.to_string()))?;
                super::partners::set_fields(tx, key, &fields)?;
                set_partner_server(tx, key, server)?;
                apply_merge(
                    tx,
                    Entity::Partner,
                    key,
                    &m.conflicts,
                    m.ahead_of_remote,
                    &Value::Object(m.merged).to_string(),
                )?
            }
        }
    };
    Ok(outcome)
}

/// Stores a partner first seen on the server, linked and synced.
fn insert_pulled(tx: &Transaction<'_>, org: Option<Uuid>, server: &ServerPartner) -> Result<Pulled> {
    super::partners::insert_synced(tx, &server.fields, org, &server_columns(server), &now_text())?;
    Ok(Pulled::Inserted)
}

/// The server ids of `page` that a local partner is linked to already.
fn known_server_ids(tx: &Transaction<'_>, page: &[ServerPartner]) -> Result<std::collections::HashSet<Uuid>> {
    let ids = Value::Array(page.iter().map(|p| Value::String(p.id.to_string())).collect()).to_string();
    let mut stmt =
        tx.prepare_cached("SELECT server_id FROM partners WHERE server_id IN (SELECT value FROM json_each(?1))")?;
    let known = stmt.query_map([ids], |r| r.get::<_, String>(0))?;
    let mut set = std::collections::HashSet::new();
    for id in known {
        set.insert(Uuid::parse_str(&id?).map_err(|e| StoreError::Damaged(e.to_string()))?);
    }
    Ok(set)
}

/// Whether any local partner create was attempted without the server's
/// answer being known (then a pulled record may be that create: see [`Unlinked`]).
fn has_unconfirmed_creates(tx: &Transaction<'_>) -> Result<bool> {
    Ok(tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM outbox o JOIN partners p ON o.entity = 'partner' AND o.record_key = p.key
                            WHERE p.server_id IS NULL AND o.op = 'create' AND o.attempts > 0)",
        )?
        .query_row([], |r| r.get(0))?)
}

/// Merges one organization from a pull.
fn pull_organization(tx: &Transaction<'_>, server: &ServerOrganization) -> Result<Pulled> {
    let Ok(key) = Uuid::parse_str(&server.id) else {
        return Ok(Pulled::Unchanged); // not one of ours and not a key we can store
    };
    let found: Option<(Option<String>, String, bool)> = tx
        .prepare_cached("SELECT sync_base, sync_state, deleted_at IS NOT NULL FROM organizations WHERE key = ?1")?
        .query_row([key.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .optional()?;
    let outcome = match found {
        None => {
            super::organizations::insert_synced(tx, key, &server.fields, &now_text())?;
            set_org_server(tx, key, server)?;
            Pulled::Inserted
        }
        Some((base, state, deleted)) => {
            let back = reappeared(tx, Entity::Organization, key, deleted, &state)?;
            let in_conflict = state == "conflict" && back != Reappeared::Restored;
            let remote = org_map(&server.fields);
            if back == Reappeared::DeleteWaiting {
                Pulled::Unchanged
            } else if in_conflict || unchanged_there(base.as_deref(), &remote) {
                if back == Reappeared::Restored { Pulled::Restored } else { Pulled::Unchanged }
            } else {
                let local = super::organizations::fields_of(tx, key)?;
                let base = merge_base(tx, Entity::Organization, key, base, &remote)?;
                let m = merge(&base, &org_map(&local), &remote);
                let mut fields: OrganizationFields = serde_json::from_value(Value::Object(m.merged.clone()))
                    .map_err(|e| StoreError::Damaged(e.to_string()))?;
                fields.linked_to = server.fields.linked_to.clone();
                super::organizations::set_fields(tx, key, &fields)?;
                set_org_server(tx, key, server)?;
                let mut body = m.merged.clone();
                body.insert("id".into(), Value::String(key.to_string()));
                apply_merge(
                    tx,
                    Entity::Organization,
                    key,
                    &m.conflicts,
                    m.ahead_of_remote,
                    &Value::Object(body).to_string(),
                )?
            }
        }
    };
    Ok(outcome)
}

/// What a pull merges against: the fields last agreed with the server, or
/// the server's record itself when it holds a change whose answer was lost
/// (see [`sent_change_arrived`]), or when nothing was agreed yet.
fn merge_base(
    tx: &Transaction<'_>,
    entity: Entity,
    key: Uuid,
    agreed: Option<String>,
    remote: &Map<String, Value>,
) -> Result<Map<String, Value>> {
    if sent_change_arrived(tx, entity, key, remote)? {
        return Ok(remote.clone());
    }
    Ok(agreed.and_then(|b| serde_json::from_str(&b).ok()).unwrap_or_else(|| remote.clone()))
}

/// Whether the change at the head of this record's queue was attempted and
/// the server now holds exactly its body: the change arrived, its answer was
/// lost. It is done (it leaves the queue) and the server's record becomes
/// the base of the merge. Without this, a second local edit of a field whose
/// first edit arrived unconfirmed was a conflict with itself.
fn sent_change_arrived(tx: &Transaction<'_>, entity: Entity, key: Uuid, remote: &Map<String, Value>) -> Result<bool> {
    let head: Option<(i64, String, u32, String)> = tx
        .prepare_cached(
            "SELECT seq, op, attempts, payload FROM outbox WHERE entity = ?1 AND record_key = ?2 ORDER BY seq LIMIT 1",
        )?
        .query_row(params![entity.as_str(), key.to_string()], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .optional()?;
    let Some((seq, op, attempts, payload)) = head else { return Ok(false) };
    if attempts == 0 || op == Op::Delete.as_str() {
        return Ok(false);
    }
    let sent = serde_json::from_str::<Value>(&payload).map(|p| crate::remote::wire::without_id(&p));
    if sent.ok().as_ref().and_then(Value::as_object) != Some(remote) {
        return Ok(false);
    }
    tx.prepare_cached("DELETE FROM outbox WHERE seq = ?1")?.execute([seq])?;
    Ok(true)
}

/// Whether the server's record is still the one last agreed (its sync base):
/// then the pull has nothing to take. Decided on the fields, not on
/// `updated_at`: stored to the millisecond (and sent by some servers to the
/// second), two edits in one tick look the same, and an update sent after
/// such a skipped merge overwrote the server's change.
fn unchanged_there(base: Option<&str>, remote: &Map<String, Value>) -> bool {
    let remote_text = Value::Object(remote.clone()).to_string();
    base == Some(remote_text.as_str())
}

/// Whether a pulled record had been given up here as deleted on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Reappeared {
    /// It was not.
    No,
    /// Deleted here and that delete still waits to be sent: it stays deleted.
    DeleteWaiting,
    /// It was (deleted, or waiting on the "deleted on the server" question)
    /// and is live again, and is merged as any pulled record.
    Restored,
}

/// A record the server lists is not deleted there, whatever an earlier pull
/// concluded (a scan that skipped it, a lookup that failed): bring it back.
fn reappeared(tx: &Transaction<'_>, entity: Entity, key: Uuid, deleted: bool, state: &str) -> Result<Reappeared> {
    let key_text = key.to_string();
    if deleted {
        let waiting: i64 = tx.query_row(
            "SELECT count(*) FROM outbox WHERE entity = ?1 AND record_key = ?2",
            params![entity.as_str(), key_text],
            |r| r.get(0),
        )?;
        if waiting > 0 {
            return Ok(Reappeared::DeleteWaiting);
        }
        tx.execute(
            &format!("UPDATE {} SET deleted_at = NULL, updated_at = ?2 WHERE key = ?1", entity.table()),
            params![key_text, now_text()],
        )?;
        return Ok(Reappeared::Restored);
    }
    if state != "conflict" {
        return Ok(Reappeared::No);
    }
    // Held on the question "deleted on the server: delete it here too?": the answer is moot now.
    let closed = tx.execute(
        "UPDATE conflicts SET resolved_at = ?3 WHERE entity = ?1 AND record_key = ?2 AND kind = ?4
                                                AND resolved_at IS NULL",
        params![entity.as_str(), key_text, now_text(), ConflictKind::DeletedRemotely.as_str()],
    )?;
    let open: i64 = tx.query_row(
        "SELECT count(*) FROM conflicts WHERE entity = ?1 AND record_key = ?2 AND resolved_at IS NULL",
        params![entity.as_str(), key_text],
        |r| r.get(0),
    )?;
    if closed == 0 || open > 0 {
        return Ok(Reappeared::No);
    }
    tx.execute(&format!("UPDATE {} SET sync_state = 'pending' WHERE key = ?1", entity.table()), [&key_text])?;
    outbox::refresh_sync_state(tx, entity, key)?;
    Ok(Reappeared::Restored)
}

/// Records the conflicts of a merge (the record then waits for the user), or,
/// with none, queues the local changes the server does not have yet.
fn apply_merge(
    tx: &Transaction<'_>,
    entity: Entity,
    key: Uuid,
    conflicts: &[FieldConflict],
    ahead_of_remote: bool,
    body: &str,
) -> Result<Pulled> {
    // Any change still waiting carries a whole-record body written before the
    // remote changes were taken: queue the merged body after (or in place of) it.
    let waiting: i64 = tx.query_row(
        "SELECT count(*) FROM outbox WHERE entity = ?1 AND record_key = ?2 AND op <> 'delete'",
        params![entity.as_str(), key.to_string()],
        |r| r.get(0),
    )?;
    if ahead_of_remote || waiting > 0 {
        outbox::enqueue(tx, entity, key, Op::Update, body)?;
    }
    if conflicts.is_empty() {
        outbox::refresh_sync_state(tx, entity, key)?;
        return Ok(Pulled::Updated);
    }
    for c in conflicts {
        insert_conflict(tx, entity, key, ConflictKind::Field, c)?;
    }
    tx.execute(&format!("UPDATE {} SET sync_state = 'conflict' WHERE key = ?1", entity.table()), [key.to_string()])?;
    Ok(Pulled::Conflict)
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

fn server_columns(s: &ServerPartner) -> ServerColumns<'_> {
    ServerColumns {
        id: s.id.to_string(),
        created_at: opt_time_text(s.created_at),
        updated_at: opt_time_text(s.updated_at),
        invitation_status: s.invitation_status.as_deref().filter(|v| matches!(*v, "invited" | "accepted")),
        guest_organization_id: s.guest_organization_id.map(|g| g.to_string()),
        sync_base: Value::Object(partner_map(&s.fields)).to_string(),
    }
}

fn set_partner_server(tx: &Transaction<'_>, key: Uuid, s: &ServerPartner) -> Result<()> {
    let c = server_columns(s);
    tx.prepare_cached(
        "UPDATE partners SET server_id = ?2, server_created_at = ?3, server_updated_at = ?4, invitation_status = ?5,
                             guest_organization_id = ?6, sync_base = ?7
         WHERE key = ?1",
    )?
    .execute(params![
        key.to_string(),
        c.id,
        c.created_at,
        c.updated_at,
        c.invitation_status,
        c.guest_organization_id,
        c.sync_base
    ])?;
    Ok(())
}

fn set_org_server(tx: &Transaction<'_>, key: Uuid, s: &ServerOrganization) -> Result<()> {
    tx.prepare_cached(
        "UPDATE organizations SET server_created_at = ?2, server_updated_at = ?3, linked_to = ?4, sync_base = ?5 WHERE key = ?1",
    )?
    .execute(params![
        key.to_string(),
        opt_time_text(s.created_at),
        opt_time_text(s.updated_at),
        s.fields.linked_to,
        Value::Object(org_map(&s.fields)).to_string(),
    ])?;
    Ok(())
}

/// What to do with a server partner no local record is linked to, when a
/// local create with the same email was attempted (so may have arrived):
/// adopt it if it is exactly what that create sent; otherwise leave it to the
/// push, which reconciles that create (it is never stored as a second record).
enum Unlinked {
    Adopt(i64, Uuid),
    LeaveToPush,
    New,
}

fn unlinked_partner(tx: &Transaction<'_>, server: &ServerPartner) -> Result<Unlinked> {
    let mut stmt = tx.prepare_cached(
        "SELECT o.seq, p.key, o.payload FROM partners p JOIN outbox o ON o.entity = 'partner' AND o.record_key = p.key
         WHERE p.server_id IS NULL AND o.op = 'create' AND o.attempts > 0 AND p.email = ?1 COLLATE NOCASE
         ORDER BY o.seq",
    )?;
    let rows: Vec<(i64, String, String)> = stmt
        .query_map([&server.fields.email], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    if rows.is_empty() {
        return Ok(Unlinked::New);
    }
    for (seq, key, payload) in rows {
        let sent: Option<PartnerFields> = serde_json::from_str(&payload).ok();
        if sent.as_ref() == Some(&server.fields)
            && let Ok(key) = Uuid::parse_str(&key)
        {
            return Ok(Unlinked::Adopt(seq, key));
        }
    }
    Ok(Unlinked::LeaveToPush)
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
                match entity {
                    Entity::Partner => {
                        let f: PartnerFields =
                            serde_json::from_value(base).map_err(|e| StoreError::Damaged(e.to_string()))?;
                        super::partners::set_fields(&tx, key, &f)?;
                    }
                    Entity::Organization => {
                        let mut f: OrganizationFields =
                            serde_json::from_value(base).map_err(|e| StoreError::Damaged(e.to_string()))?;
                        f.linked_to = super::organizations::fields_of(&tx, key)?.linked_to;
                        super::organizations::set_fields(&tx, key, &f)?;
                    }
                }
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
