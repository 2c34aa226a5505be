//! One abstraction over the two synced tables: what sync needs of a record
//! kind, so that pulling one record, finishing a change, discarding one,
//! linking to the server and answering a conflict are each written once
//! (in `store::sync`), for partners and organizations alike.
//!
//! Each method is one plain read or write of its table; the choices are
//! made by [`crate::plan`]. The partner-only rule (a pulled partner may be a
//! local create whose answer was lost, found by email) is the
//! [`Record::unconfirmed`] hook, which organizations (whose ids are ours)
//! leave empty.

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde_json::Value;
use uuid::Uuid;

use super::outbox::Entity;
use super::partners::ServerColumns;
use super::{Result, StoreError, time_text};
use crate::model::{OrganizationFields, PartnerFields};
use crate::plan::{Fields, Twin, Unconfirmed};
use crate::remote::wire::{self, ServerOrganization, ServerPartner};

/// Where a server record belongs here.
#[doc(hidden)]
pub enum Located {
    /// This stored record is linked to it.
    Stored(Uuid),
    /// Not stored yet; a new record takes this key if the kind has one (an organization's id is its key).
    New(Option<Uuid>),
    /// It cannot be stored (an organization whose id is not a key of ours).
    Unusable,
}

pub trait Record {
    const ENTITY: Entity;
    /// The word for one record in messages ("partner").
    const NOUN: &'static str;
    /// The column holding the record's id on the server.
    const SERVER_ID: &'static str;
    /// The record as the store hands it out.
    type Stored;
    /// Its fields, validated.
    type Fields: PartialEq;
    /// The record as the server returns it.
    type Server;

    /// A stored record, deleted or not.
    #[doc(hidden)]
    fn get(conn: &Connection, key: Uuid) -> Result<Option<Self::Stored>>;
    #[doc(hidden)]
    fn deleted_at(stored: &Self::Stored) -> Option<chrono::DateTime<chrono::Utc>>;
    /// The outbox body of a delete.
    #[doc(hidden)]
    fn delete_body(key: Uuid) -> String;
    #[doc(hidden)]
    fn stored_fields(stored: &Self::Stored) -> &Self::Fields;
    /// Writes validated fields, queueing nothing.
    #[doc(hidden)]
    fn set_typed(tx: &Transaction<'_>, key: Uuid, fields: &Self::Fields) -> Result<()>;
    /// The outbox body of a create or update with these fields.
    #[doc(hidden)]
    fn payload(key: Uuid, fields: &Self::Fields) -> String;

    /// The server record's fields as compared and sent.
    fn remote_fields(server: &Self::Server) -> Fields;
    /// A server record kept as JSON (a question's candidate), read back.
    fn read_server(value: &Value) -> Option<Self::Server>;
    /// The stored record a server record is linked to, if any.
    #[doc(hidden)]
    fn locate(conn: &Connection, server: &Self::Server) -> Result<Located>;
    /// Of a page, the records certainly new here, which need no per-record lookup.
    #[doc(hidden)]
    fn surely_new(_tx: &Transaction<'_>, page: &[Self::Server]) -> Result<Vec<bool>> {
        Ok(vec![false; page.len()])
    }
    /// Stores a record first seen on the server, linked and synced, and
    /// returns its key; `scope` is the organization a partner was pulled for
    /// (`None`: the user's own), `key` the one [`Record::locate`] gave, if any.
    #[doc(hidden)]
    fn insert_pulled(
        tx: &Transaction<'_>,
        scope: Option<Uuid>,
        key: Option<Uuid>,
        server: &Self::Server,
    ) -> Result<Uuid>;
    /// Links the record to the server's: ids, times, and the fields it holds as the sync base.
    #[doc(hidden)]
    fn set_server(tx: &Transaction<'_>, key: Uuid, server: &Self::Server) -> Result<()>;
    /// The stored record's fields as compared and sent.
    #[doc(hidden)]
    fn fields(conn: &Connection, key: Uuid) -> Result<Fields>;
    /// Writes fields from a map, keeping what the map does not carry.
    #[doc(hidden)]
    fn write_fields(tx: &Transaction<'_>, key: Uuid, fields: &Fields) -> Result<()>;
    /// The outbox body of an update with these fields.
    #[doc(hidden)]
    fn body(key: Uuid, fields: &Fields) -> Value;
    /// Local creates attempted without a known outcome that may be this server record.
    #[doc(hidden)]
    fn unconfirmed(_tx: &Transaction<'_>, _server: &Self::Server) -> Result<Vec<Unconfirmed<Uuid>>> {
        Ok(Vec::new())
    }
    /// Stored records linked to another server record with exactly these fields.
    #[doc(hidden)]
    fn twins(_tx: &Transaction<'_>, _server: &Self::Server) -> Result<Vec<Twin<Uuid>>> {
        Ok(Vec::new())
    }
    /// The server record as kept in a question (with its id and times).
    #[doc(hidden)]
    fn server_json(server: &Self::Server) -> Value;
    /// The scope a record was pulled for (a partner's target organization).
    #[doc(hidden)]
    fn scope_of(_conn: &Connection, _key: Uuid) -> Result<Option<Uuid>> {
        Ok(None)
    }
}

/// The partners table (partners API records).
pub enum Partners {}
/// The organizations table (organizations API records).
pub enum Organizations {}

fn damaged(e: serde_json::Error) -> StoreError {
    StoreError::Damaged(e.to_string())
}

fn opt_time_text(t: Option<chrono::DateTime<chrono::Utc>>) -> Option<String> {
    t.as_ref().map(time_text)
}

fn server_columns(s: &ServerPartner) -> ServerColumns<'_> {
    ServerColumns {
        id: s.id.to_string(),
        created_at: opt_time_text(s.created_at),
        updated_at: opt_time_text(s.updated_at),
        invitation_status: s.invitation_status.as_deref().filter(|v| matches!(*v, "invited" | "accepted")),
        guest_organization_id: s.guest_organization_id.map(|g| g.to_string()),
        sync_base: Value::Object(wire::partner_fields(&s.fields)).to_string(),
    }
}

impl Record for Partners {
    const ENTITY: Entity = Entity::Partner;
    const NOUN: &'static str = "partner";
    const SERVER_ID: &'static str = "server_id";
    type Stored = crate::model::Partner;
    type Fields = PartnerFields;
    type Server = ServerPartner;

    fn stored_fields(stored: &Self::Stored) -> &PartnerFields {
        &stored.fields
    }

    fn set_typed(tx: &Transaction<'_>, key: Uuid, fields: &PartnerFields) -> Result<()> {
        super::partners::set_fields(tx, key, fields)
    }

    fn payload(_key: Uuid, fields: &PartnerFields) -> String {
        super::partners::payload(fields)
    }

    fn get(conn: &Connection, key: Uuid) -> Result<Option<Self::Stored>> {
        super::partners::get(conn, key)
    }

    fn deleted_at(stored: &Self::Stored) -> Option<chrono::DateTime<chrono::Utc>> {
        stored.deleted_at
    }

    /// A partner's delete carries no body (the path names the partner).
    fn delete_body(_key: Uuid) -> String {
        "{}".into()
    }

    fn remote_fields(server: &ServerPartner) -> Fields {
        wire::partner_fields(&server.fields)
    }

    fn read_server(value: &Value) -> Option<ServerPartner> {
        ServerPartner::from_json(value).ok()
    }

    fn locate(conn: &Connection, server: &ServerPartner) -> Result<Located> {
        let key: Option<String> = conn
            .prepare_cached("SELECT key FROM partners WHERE server_id = ?1")?
            .query_row([server.id.to_string()], |r| r.get(0))
            .optional()?;
        match key {
            Some(k) => Ok(Located::Stored(Uuid::parse_str(&k).map_err(|e| StoreError::Damaged(e.to_string()))?)),
            None => Ok(Located::New(None)),
        }
    }

    /// Most of a first pull is records never seen here: three questions per
    /// page spare each of them the merge's per-record lookups. A record whose
    /// email a stored partner has may be its twin there, and takes the slow path.
    fn surely_new(tx: &Transaction<'_>, page: &[ServerPartner]) -> Result<Vec<bool>> {
        if has_unconfirmed_creates(tx)? {
            return Ok(vec![false; page.len()]);
        }
        let mut known = known_server_ids(tx, page)?;
        let emails = known_emails(tx, page)?;
        // `insert` is false for an id stored already, or seen earlier in this page.
        Ok(page.iter().map(|p| known.insert(p.id) && !emails.contains(&p.fields.email.to_lowercase())).collect())
    }

    fn insert_pulled(tx: &Transaction<'_>, scope: Option<Uuid>, _key: Option<Uuid>, s: &ServerPartner) -> Result<Uuid> {
        super::partners::insert_synced(tx, &s.fields, scope, &server_columns(s), &time_text(&super::now()))
    }

    fn set_server(tx: &Transaction<'_>, key: Uuid, s: &ServerPartner) -> Result<()> {
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

    fn fields(conn: &Connection, key: Uuid) -> Result<Fields> {
        Ok(wire::partner_fields(&super::partners::fields_of(conn, key)?))
    }

    fn write_fields(tx: &Transaction<'_>, key: Uuid, fields: &Fields) -> Result<()> {
        let f: PartnerFields = serde_json::from_value(Value::Object(fields.clone())).map_err(damaged)?;
        super::partners::set_fields(tx, key, &f)
    }

    fn body(_key: Uuid, fields: &Fields) -> Value {
        Value::Object(fields.clone())
    }

    /// Live partners with this email, linked to another server record, whose
    /// six fields (now, or as last agreed) equal this one's.
    fn twins(tx: &Transaction<'_>, server: &ServerPartner) -> Result<Vec<Twin<Uuid>>> {
        let id = server.id.to_string();
        let remote = Value::Object(wire::partner_fields(&server.fields));
        let mut stmt = tx.prepare_cached(
            "SELECT p.key, p.sync_base,
                    EXISTS (SELECT 1 FROM conflicts c WHERE c.entity = 'partner' AND c.record_key = p.key
                                                        AND c.kind = 'twin_on_server' AND c.field = ?2)
             FROM partners p
             WHERE p.email = ?1 COLLATE NOCASE AND p.server_id IS NOT NULL AND p.server_id <> ?2
               AND p.deleted_at IS NULL
             ORDER BY p.rowid",
        )?;
        let rows: Vec<(String, Option<String>, bool)> = stmt
            .query_map(params![server.fields.email, id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        let mut twins = Vec::new();
        for (key, agreed, asked) in rows {
            let key = Uuid::parse_str(&key).map_err(|e| StoreError::Damaged(e.to_string()))?;
            let agreed = agreed.and_then(|a| serde_json::from_str::<Value>(&a).ok());
            let now = Value::Object(Self::fields(tx, key)?);
            if now == remote || agreed.as_ref() == Some(&remote) {
                twins.push(Twin { key, asked });
            }
        }
        Ok(twins)
    }

    fn server_json(s: &ServerPartner) -> Value {
        let mut record = wire::partner_fields(&s.fields);
        record.insert("id".into(), Value::String(s.id.to_string()));
        record.insert("created_at".into(), s.created_at.map(|t| Value::String(time_text(&t))).unwrap_or(Value::Null));
        Value::Object(record)
    }

    fn scope_of(conn: &Connection, key: Uuid) -> Result<Option<Uuid>> {
        let scope: Option<String> = conn
            .prepare_cached("SELECT target_org_id FROM partners WHERE key = ?1")?
            .query_row([key.to_string()], |r| r.get(0))?;
        Ok(scope.and_then(|s| Uuid::parse_str(&s).ok()))
    }

    /// Unlinked partners with this email whose create was attempted.
    fn unconfirmed(tx: &Transaction<'_>, server: &ServerPartner) -> Result<Vec<Unconfirmed<Uuid>>> {
        let mut stmt = tx.prepare_cached(
            "SELECT o.seq, p.key, o.payload FROM partners p JOIN outbox o ON o.entity = 'partner' AND o.record_key = p.key
             WHERE p.server_id IS NULL AND o.op = 'create' AND o.attempts > 0 AND p.email = ?1 COLLATE NOCASE
             ORDER BY o.seq",
        )?;
        let rows: Vec<(i64, String, String)> = stmt
            .query_map([&server.fields.email], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(seq, key, payload)| {
                let sent = serde_json::from_str::<PartnerFields>(&payload).ok().map(|f| wire::partner_fields(&f));
                Some(Unconfirmed { seq, key: Uuid::parse_str(&key).ok()?, sent })
            })
            .collect())
    }
}

/// The server ids of `page` that a local partner is linked to already.
fn known_server_ids(tx: &Transaction<'_>, page: &[ServerPartner]) -> Result<HashSet<Uuid>> {
    let ids = Value::Array(page.iter().map(|p| Value::String(p.id.to_string())).collect()).to_string();
    let mut stmt =
        tx.prepare_cached("SELECT server_id FROM partners WHERE server_id IN (SELECT value FROM json_each(?1))")?;
    let known = stmt.query_map([ids], |r| r.get::<_, String>(0))?;
    let mut set = HashSet::new();
    for id in known {
        set.insert(Uuid::parse_str(&id?).map_err(|e| StoreError::Damaged(e.to_string()))?);
    }
    Ok(set)
}

/// Read through the email index (a pull asks it once per page): pinned by a test.
const KNOWN_EMAILS: &str = "SELECT lower(email) FROM partners
     WHERE email COLLATE NOCASE IN (SELECT value FROM json_each(?1)) AND deleted_at IS NULL";

/// The emails of `page` (lower case) that a stored live partner has.
fn known_emails(tx: &Transaction<'_>, page: &[ServerPartner]) -> Result<HashSet<String>> {
    let emails = Value::Array(page.iter().map(|p| Value::String(p.fields.email.to_lowercase())).collect()).to_string();
    let mut stmt = tx.prepare_cached(KNOWN_EMAILS)?;
    let found = stmt.query_map([emails], |r| r.get::<_, String>(0))?;
    Ok(found.collect::<rusqlite::Result<_>>()?)
}

/// Whether any local partner create was attempted without the server's
/// answer being known (then a pulled record may be that create).
fn has_unconfirmed_creates(tx: &Transaction<'_>) -> Result<bool> {
    Ok(tx
        .prepare_cached(
            "SELECT EXISTS (SELECT 1 FROM outbox o JOIN partners p ON o.entity = 'partner' AND o.record_key = p.key
                            WHERE p.server_id IS NULL AND o.op = 'create' AND o.attempts > 0)",
        )?
        .query_row([], |r| r.get(0))?)
}

impl Record for Organizations {
    const ENTITY: Entity = Entity::Organization;
    const NOUN: &'static str = "organization";
    /// An organization's id on the server is the key it was created with here.
    const SERVER_ID: &'static str = "key";
    type Stored = crate::model::Organization;
    type Fields = OrganizationFields;
    type Server = ServerOrganization;

    fn stored_fields(stored: &Self::Stored) -> &OrganizationFields {
        &stored.fields
    }

    fn set_typed(tx: &Transaction<'_>, key: Uuid, fields: &OrganizationFields) -> Result<()> {
        super::organizations::set_fields(tx, key, fields)
    }

    fn payload(key: Uuid, fields: &OrganizationFields) -> String {
        super::organizations::payload(key, fields)
    }

    fn get(conn: &Connection, key: Uuid) -> Result<Option<Self::Stored>> {
        super::organizations::get(conn, key)
    }

    fn deleted_at(stored: &Self::Stored) -> Option<chrono::DateTime<chrono::Utc>> {
        stored.deleted_at
    }

    fn delete_body(key: Uuid) -> String {
        serde_json::json!({ "id": key }).to_string()
    }

    fn remote_fields(server: &ServerOrganization) -> Fields {
        wire::organization_fields(&server.fields)
    }

    fn read_server(value: &Value) -> Option<ServerOrganization> {
        ServerOrganization::from_json(value).ok()
    }

    /// An organization's id is the key it was created with here.
    fn locate(conn: &Connection, server: &ServerOrganization) -> Result<Located> {
        let Ok(key) = Uuid::parse_str(&server.id) else { return Ok(Located::Unusable) };
        let stored: bool = conn
            .prepare_cached("SELECT EXISTS (SELECT 1 FROM organizations WHERE key = ?1)")?
            .query_row([key.to_string()], |r| r.get(0))?;
        Ok(if stored { Located::Stored(key) } else { Located::New(Some(key)) })
    }

    fn insert_pulled(
        tx: &Transaction<'_>,
        _scope: Option<Uuid>,
        key: Option<Uuid>,
        s: &ServerOrganization,
    ) -> Result<Uuid> {
        let key = key.ok_or_else(|| StoreError::Damaged("an organization arrived without a key".into()))?;
        super::organizations::insert_synced(tx, key, &s.fields, &time_text(&super::now()))?;
        Self::set_server(tx, key, s)?;
        Ok(key)
    }

    fn set_server(tx: &Transaction<'_>, key: Uuid, s: &ServerOrganization) -> Result<()> {
        tx.prepare_cached(
            "UPDATE organizations SET server_created_at = ?2, server_updated_at = ?3, linked_to = ?4, sync_base = ?5
             WHERE key = ?1",
        )?
        .execute(params![
            key.to_string(),
            opt_time_text(s.created_at),
            opt_time_text(s.updated_at),
            s.fields.linked_to,
            Value::Object(wire::organization_fields(&s.fields)).to_string(),
        ])?;
        Ok(())
    }

    fn fields(conn: &Connection, key: Uuid) -> Result<Fields> {
        Ok(wire::organization_fields(&super::organizations::fields_of(conn, key)?))
    }

    /// The link to another organization is not among the fields compared and
    /// sent: it stays as stored (a pull sets it with the server's link).
    fn write_fields(tx: &Transaction<'_>, key: Uuid, fields: &Fields) -> Result<()> {
        let mut f: OrganizationFields = serde_json::from_value(Value::Object(fields.clone())).map_err(damaged)?;
        f.linked_to = super::organizations::fields_of(tx, key)?.linked_to;
        super::organizations::set_fields(tx, key, &f)
    }

    fn body(key: Uuid, fields: &Fields) -> Value {
        let mut body = fields.clone();
        body.insert("id".into(), Value::String(key.to_string()));
        Value::Object(body)
    }

    fn server_json(s: &ServerOrganization) -> Value {
        let mut record = wire::organization_fields(&s.fields);
        record.insert("id".into(), Value::String(s.id.clone()));
        Value::Object(record)
    }
}

/// A stored record, deleted or not.
pub(super) fn one<R: Record>(conn: &Connection, key: Uuid) -> Result<R::Stored> {
    R::get(conn, key)?.ok_or_else(|| StoreError::NotFound { kind: R::NOUN, key: key.to_string() })
}

/// A stored record, refusing one that was deleted.
pub(super) fn live<R: Record>(conn: &Connection, key: Uuid) -> Result<R::Stored> {
    let stored = one::<R>(conn, key)?;
    match R::deleted_at(&stored) {
        Some(at) => Err(StoreError::Deleted { kind: R::NOUN, at }),
        None => Ok(stored),
    }
}

/// Marks a record deleted here, as of now, and queues its delete.
pub(super) fn queue_delete<R: Record>(tx: &Transaction<'_>, key: Uuid) -> Result<()> {
    super::sync::set_deleted(tx, R::ENTITY, key, true)?;
    super::outbox::enqueue(tx, R::ENTITY, key, super::Op::Delete, &R::delete_body(key))?;
    super::outbox::refresh_sync_state(tx, R::ENTITY, key)?;
    Ok(())
}

impl super::Store {
    /// Replaces a record's fields with validated ones. Saving unchanged fields
    /// is a no-op: nothing is queued for the server.
    pub(super) fn update<R: Record>(&mut self, key: Uuid, fields: &R::Fields) -> Result<R::Stored> {
        let tx = self.write()?;
        let current = live::<R>(&tx, key)?;
        if R::stored_fields(&current) == fields {
            return Ok(current);
        }
        R::set_typed(&tx, key, fields)?;
        tx.prepare_cached(&format!("UPDATE {} SET updated_at = ?2 WHERE key = ?1", R::ENTITY.table()))?
            .execute(params![key.to_string(), time_text(&super::now())])?;
        super::outbox::enqueue(&tx, R::ENTITY, key, super::Op::Update, &R::payload(key, fields))?;
        super::outbox::refresh_sync_state(&tx, R::ENTITY, key)?;
        let stored = one::<R>(&tx, key)?;
        tx.commit()?;
        Ok(stored)
    }

    /// Marks a record deleted and queues the delete. One never sent is simply
    /// dropped from the queue: the server never hears of it.
    pub(super) fn delete<R: Record>(&mut self, key: Uuid) -> Result<R::Stored> {
        let tx = self.write()?;
        live::<R>(&tx, key)?;
        queue_delete::<R>(&tx, key)?;
        let stored = one::<R>(&tx, key)?;
        tx.commit()?;
        Ok(stored)
    }
}

/// Runs `$body` with `$R` bound to the [`Record`] type of `$entity`.
macro_rules! for_entity {
    ($entity:expr, $R:ident => $body:expr) => {
        match $entity {
            $crate::store::Entity::Partner => {
                type $R = $crate::store::Partners;
                $body
            }
            $crate::store::Entity::Organization => {
                type $R = $crate::store::Organizations;
                $body
            }
        }
    };
}
pub(crate) use for_entity;

#[cfg(test)]
mod tests {
    #[test]
    fn the_emails_of_a_page_are_looked_up_through_the_email_index() {
        let store = super::super::Store::open_in_memory().unwrap();
        let plan: Vec<String> = store
            .connection()
            .prepare(&format!("EXPLAIN QUERY PLAN {}", super::KNOWN_EMAILS))
            .unwrap()
            .query_map(["[\"a@x.example\"]"], |r| r.get::<_, String>(3))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        assert!(plan.iter().any(|step| step.contains("USING INDEX partners_by_email")), "{plan:?}");
    }
}
