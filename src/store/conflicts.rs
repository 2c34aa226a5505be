//! The user's questions: a field changed here and on the server, a create
//! that may already be on the server under another id, a record deleted there
//! while it changed here. Each is a row of `conflicts` with its kind; the
//! answers are planned by [`crate::plan::settle`] and applied here.

use std::ops::{Deref, DerefMut};

use rusqlite::{Transaction, params};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::outbox::{self, Entity, Op};
use super::record::{Located, Record, for_entity};
use super::{Result, Store, now_text};
use crate::merge::FieldConflict;
use crate::model::SyncState;
use crate::plan::{self, ConflictKind, Resolution};
use crate::remote::wire::{self, ServerPartner, ServerRecord};

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
        .map(|c| (c.kind == ConflictKind::PossibleDuplicate).then(|| R::Server::read(&c.remote).ok()).flatten())
        .collect();
    let answers: Vec<plan::Answered> = open
        .iter()
        .zip(&candidates)
        .map(|(c, candidate)| plan::Answered {
            id: c.id,
            kind: c.kind,
            field: c.field.clone(),
            remote: c.remote.clone(),
            candidate: candidate.as_ref().map(ServerRecord::field_map),
            resolution: choice(&c.field),
        })
        .collect();
    let plan = plan::settle(&super::sync::local::<R>(tx, key)?, &answers);
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
            super::sync::record_merge::<R>(tx, key, &adoption.merge)?;
        }
    }
    if plan.send_as_new {
        tx.execute(
            "UPDATE outbox SET attempts = 0, last_error = NULL WHERE entity = ?1 AND record_key = ?2 AND op = 'create'",
            params![entity.as_str(), key_text],
        )?;
    }
    if plan.delete_here {
        super::sync::set_deleted(tx, entity, key, true)?;
        tx.execute("DELETE FROM outbox WHERE entity = ?1 AND record_key = ?2", params![entity.as_str(), key_text])?;
    }
    if let Some((fields, send)) = &plan.write {
        R::write_fields(tx, key, fields)?;
        if *send {
            outbox::enqueue(tx, entity, key, Op::Update, &R::body(key, fields).to_string())?;
        }
    }
    for &(answer, remove) in &plan.extras {
        // The extra server record is a partner of its own here (stored now,
        // unless an earlier version stored it): kept, or deleted, there too.
        let Ok(server) = R::Server::read(&open[answer].remote) else { continue };
        let extra = match R::locate(tx, &server)? {
            Located::Stored(extra) => extra,
            Located::New(key_there) => R::insert_pulled(tx, R::scope_of(tx, key)?, key_there, &server)?,
            Located::Unusable => continue,
        };
        if remove {
            super::record::queue_delete::<R>(tx, extra)?;
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

/// Asks whether `server`, a second server record of the stored `of`, should
/// stay. The pair is shown side by side: the stored partner's server record
/// and the extra one. The stored record is not held up meanwhile.
pub(super) fn ask_about_twin<R: Record>(tx: &Transaction<'_>, of: Uuid, server: &R::Server) -> Result<()> {
    let extra = R::server_json(server);
    let id = extra.get("id").and_then(Value::as_str).unwrap_or_default().to_string();
    let mut linked = R::fields(tx, of)?;
    let linked_id: Option<String> = tx
        .prepare_cached(&format!("SELECT {} FROM {} WHERE key = ?1", R::SERVER_ID, R::ENTITY.table()))?
        .query_row([of.to_string()], |r| r.get(0))?;
    linked.insert("id".into(), linked_id.map(Value::String).unwrap_or(Value::Null));
    let question = FieldConflict { field: id, base: Value::Null, local: Value::Object(linked), remote: extra };
    insert_conflict(tx, R::ENTITY, of, ConflictKind::TwinOnServer, &question)
}

/// The name of the marker that the check for twins made by earlier versions ran.
const TWINS_CHECKED: &str = "twins_checked";

/// The user's questions, borrowed from the store: `store.conflicts()` reads
/// them, `store.conflicts_mut()` raises and answers them.
pub struct Conflicts<S> {
    store: S,
}

impl Store {
    pub fn conflicts(&self) -> Conflicts<&Store> {
        Conflicts { store: self }
    }

    pub fn conflicts_mut(&mut self) -> Conflicts<&mut Store> {
        Conflicts { store: self }
    }
}

impl<S: Deref<Target = Store>> Conflicts<S> {
    /// Every open conflict, oldest first.
    pub fn unresolved(&self) -> Result<Vec<Conflict>> {
        let mut stmt = self.store.conn.prepare_cached(
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

    /// Whether [`Conflicts::check_for_twins`] ran on this database (sync runs it once).
    pub fn twins_checked(&self) -> Result<bool> {
        Ok(self.store.conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM settings WHERE name = ?1)",
            [TWINS_CHECKED],
            |r| r.get(0),
        )?)
    }
}

impl<S: DerefMut<Target = Store>> Conflicts<S> {
    /// Applies the user's choice for every open conflict of a record (see
    /// [`plan::settle`]): theirs takes the server's value, mine keeps the
    /// local one and queues it to be sent.
    pub fn resolve(&mut self, entity: Entity, key: Uuid, choice: impl Fn(&str) -> Resolution) -> Result<SyncState> {
        let open: Vec<Conflict> =
            self.unresolved()?.into_iter().filter(|c| c.entity == entity && c.record_key == key).collect();
        let tx = self.store.write()?;
        for_entity!(entity, R => settle::<R>(&tx, key, &open, choice)?);
        let state = outbox::refresh_sync_state(&tx, entity, key)?;
        tx.commit()?;
        Ok(state)
    }

    /// A partner create whose outcome is unknown, and a server record that may
    /// be it but differs: the user decides whether it is the same partner.
    pub fn flag_possible_duplicate(&mut self, seq: i64, key: Uuid, candidate: &ServerPartner) -> Result<()> {
        let tx = self.store.write()?;
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

    /// Finds pairs of live partners that earlier versions stored twice (the
    /// same six fields, each linked to its own server record) and asks about
    /// each pair once, as a pull asks about a twin it meets. Returns how many
    /// questions it raised.
    pub fn check_for_twins(&mut self) -> Result<usize> {
        let tx = self.store.write()?;
        let pairs: Vec<(String, String)> = tx
            .prepare(
                "SELECT a.key, b.key FROM partners a
                 JOIN partners b ON b.email = a.email COLLATE NOCASE AND b.rowid > a.rowid
                 WHERE a.deleted_at IS NULL AND b.deleted_at IS NULL
                   AND a.server_id IS NOT NULL AND b.server_id IS NOT NULL AND a.server_id <> b.server_id
                   AND a.company_name = b.company_name AND a.sales_amount = b.sales_amount
                   AND a.partner_type = b.partner_type AND a.frequency = b.frequency
                   AND a.payment_terms = b.payment_terms AND a.target_org_id IS b.target_org_id
                   AND NOT EXISTS (SELECT 1 FROM conflicts c WHERE c.entity = 'partner' AND c.record_key = a.key
                                     AND c.kind = 'twin_on_server' AND c.field = b.server_id)
                 ORDER BY a.rowid, b.rowid",
            )?
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<_>>()?;
        for (kept, extra) in &pairs {
            let parse = |k: &String| Uuid::parse_str(k).map_err(|e| super::StoreError::Damaged(e.to_string()));
            let extra = <super::Partners as Record>::get(&tx, parse(extra)?)?.expect("found above");
            let server = ServerPartner {
                id: extra.server.id.expect("linked"),
                fields: extra.fields,
                created_at: extra.server.created_at,
                updated_at: extra.server.updated_at,
                invitation_status: None,
                guest_organization_id: None,
            };
            ask_about_twin::<super::Partners>(&tx, parse(kept)?, &server)?;
        }
        tx.execute(
            "INSERT INTO settings (name, value) VALUES (?1, 'true') ON CONFLICT (name) DO NOTHING",
            [TWINS_CHECKED],
        )?;
        tx.commit()?;
        Ok(pairs.len())
    }
}

pub(super) fn set_in_conflict(tx: &Transaction<'_>, entity: Entity, key: Uuid) -> Result<()> {
    tx.execute(&format!("UPDATE {} SET sync_state = 'conflict' WHERE key = ?1", entity.table()), [key.to_string()])?;
    Ok(())
}

pub(super) fn insert_conflict(
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
