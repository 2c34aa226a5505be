//! The pull and conflict paths as they were before the planner
//! (`crate::plan`), kept verbatim for the differential test only.

#![allow(clippy::all)]

use rusqlite::{OptionalExtension, Transaction, params};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::merge::{FieldConflict, merge};
use crate::model::{OrganizationFields, PartnerFields, SyncState};
use crate::remote::wire::{ServerOrganization, ServerPartner};
use crate::store::outbox::{self, Entity, Op};
use crate::store::partners::ServerColumns;
use crate::store::{Conflict, ConflictKind, Pulled, Resolution, Result, Store, StoreError, time_text};

fn now_text() -> String {
    time_text(&crate::store::now())
}

fn to_map<T: serde::Serialize>(value: &T) -> Map<String, Value> {
    match serde_json::to_value(value) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

fn org_map(fields: &OrganizationFields) -> Map<String, Value> {
    match crate::remote::wire::organization_body(None, fields) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn partner_map(fields: &PartnerFields) -> Map<String, Value> {
    to_map(fields)
}

fn opt_time_text(t: Option<chrono::DateTime<chrono::Utc>>) -> Option<String> {
    t.as_ref().map(time_text)
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
    let local = partner_map(&crate::store::partners::fields_of(tx, key)?);
    let m = merge(&base, &local, &remote);
    let fields: PartnerFields =
        serde_json::from_value(Value::Object(m.merged.clone())).map_err(|e| StoreError::Damaged(e.to_string()))?;
    crate::store::partners::set_fields(tx, key, &fields)?;
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
                let local = partner_map(&crate::store::partners::fields_of(tx, key)?);
                let base = merge_base(tx, Entity::Partner, key, base, &remote)?;
                let m = merge(&base, &local, &remote);
                let fields: PartnerFields = serde_json::from_value(Value::Object(m.merged.clone()))
                    .map_err(|e| StoreError::Damaged(e.to_string()))?;
                crate::store::partners::set_fields(tx, key, &fields)?;
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
    crate::store::partners::insert_synced(tx, &server.fields, org, &server_columns(server), &now_text())?;
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
            crate::store::organizations::insert_synced(tx, key, &server.fields, &now_text())?;
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
                let local = crate::store::organizations::fields_of(tx, key)?;
                let base = merge_base(tx, Entity::Organization, key, base, &remote)?;
                let m = merge(&base, &org_map(&local), &remote);
                let mut fields: OrganizationFields = serde_json::from_value(Value::Object(m.merged.clone()))
                    .map_err(|e| StoreError::Damaged(e.to_string()))?;
                fields.linked_to = server.fields.linked_to.clone();
                crate::store::organizations::set_fields(tx, key, &fields)?;
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

/// What to do with a server partner no local record is linked to, when a
/// local create with the same email was attempted (so may have arrived):
/// adopt it if it is exactly what that create sent; otherwise leave it to the
/// push, which reconciles that create (it is never stored as a second record).
enum Unlinked {
    Adopt(i64, Uuid),
    LeaveToPush,
    New,
}

/// Merges one page of a pull of `org`'s partners, in one transaction.
pub fn pull_partners(store: &mut Store, org: Option<Uuid>, page: &[ServerPartner]) -> Result<Vec<Pulled>> {
    let tx = store.write()?;
    let outcomes = crate::store::search::with_partner_index_deferred(&tx, || {
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
pub fn pull_organizations(store: &mut Store, page: &[ServerOrganization]) -> Result<Vec<Pulled>> {
    let tx = store.write()?;
    let outcomes = page.iter().map(|server| pull_organization(&tx, server)).collect::<Result<Vec<_>>>()?;
    tx.commit()?;
    Ok(outcomes)
}

/// The server no longer has this record (confirmed by a direct lookup):
/// delete it here too, unless it holds changes not yet sent, which become
/// a question for the user instead of being lost.
pub fn deleted_remotely(store: &mut Store, entity: Entity, key: Uuid) -> Result<bool> {
    let tx = store.write()?;
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

/// Applies the user's choice for every open conflict of a record: theirs
/// takes the server's value, mine keeps the local one and queues it to be sent.
pub fn resolve_conflicts(
    store: &mut Store,
    entity: Entity,
    key: Uuid,
    choice: impl Fn(&str) -> Resolution,
) -> Result<SyncState> {
    let open: Vec<Conflict> =
        store.conflicts()?.into_iter().filter(|c| c.entity == entity && c.record_key == key).collect();
    let tx = store.write()?;
    let mut fields = match entity {
        Entity::Partner => partner_map(&crate::store::partners::fields_of(&tx, key)?),
        Entity::Organization => org_map(&crate::store::organizations::fields_of(&tx, key)?),
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
                    fields = partner_map(&crate::store::partners::fields_of(&tx, key)?);
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
                crate::store::partners::set_fields(&tx, key, &f)?;
                Value::Object(fields.clone())
            }
            Entity::Organization => {
                let f: OrganizationFields = serde_json::from_value(Value::Object(fields.clone()))
                    .map_err(|e| StoreError::Damaged(e.to_string()))?;
                crate::store::organizations::set_fields(&tx, key, &f)?;
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
