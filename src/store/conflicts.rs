//! The user's questions: a field changed here and on the server, a create
//! that may already be on the server under another id, a record deleted there
//! while it changed here. Each is a row of `conflicts` with its kind; the
//! answers are planned by [`crate::plan::settle`] and applied here.

use rusqlite::{Transaction, params};
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use super::outbox::{self, Entity, Op};
use super::record::{Record, for_entity};
use super::{Result, Store, now_text};
use crate::merge::FieldConflict;
use crate::model::SyncState;
use crate::plan::{self, ConflictKind, Resolution};
use crate::remote::wire::{self, ServerPartner};

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

impl Store {
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
