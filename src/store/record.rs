//! One abstraction over the two synced tables: what sync needs of a record
//! kind, so that pulling one record, finishing a change, discarding one,
//! linking to the server and answering a conflict are each written once
//! (in `store::sync`), for partners and organizations alike. Each table's
//! file implements it (`Partners` in `partners.rs`, `Organizations` in
//! `organizations.rs`), beside the rest of that table's SQL.
//!
//! Each method is one plain read or write of its table; the choices are
//! made by [`crate::plan`]. The partner-only rule (a pulled partner may be a
//! local create whose answer was lost, found by email) is the
//! [`Record::unconfirmed`] hook, which organizations (whose ids are ours)
//! leave empty.

use rusqlite::{Connection, Transaction, params};
use serde_json::Value;
use uuid::Uuid;

use super::outbox::Entity;
use super::{Result, StoreError, time_text};
use crate::model::Saved;
use crate::plan::{Fields, Twin, Unconfirmed};
use crate::remote::wire::ServerRecord;

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
    /// Its kind; its text ("partner") is the word for one record in messages.
    const ENTITY: Entity;
    /// The column holding the record's id on the server.
    const SERVER_ID: &'static str;
    /// The record as the store hands it out.
    type Stored: Saved<Fields = Self::Fields>;
    /// Its fields, validated.
    type Fields: PartialEq;
    /// The record as the server returns it.
    type Server: ServerRecord;

    /// A stored record, deleted or not.
    #[doc(hidden)]
    fn get(conn: &Connection, key: Uuid) -> Result<Option<Self::Stored>>;
    /// The outbox body of a delete.
    #[doc(hidden)]
    fn delete_body(key: Uuid) -> String;
    /// Writes validated fields, queueing nothing.
    #[doc(hidden)]
    fn set_typed(tx: &Transaction<'_>, key: Uuid, fields: &Self::Fields) -> Result<()>;
    /// The outbox body of a create or update with these fields.
    #[doc(hidden)]
    fn payload(key: Uuid, fields: &Self::Fields) -> String;

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
    /// Stores a record as one's own organization's; whether it was another's.
    fn claim_as_own(_tx: &Transaction<'_>, _key: Uuid) -> Result<bool> {
        Ok(false)
    }

    fn scope_of(_conn: &Connection, _key: Uuid) -> Result<Option<Uuid>> {
        Ok(None)
    }
}

/// Fields from a map (as compared and sent), typed again.
pub(super) fn typed<F: serde::de::DeserializeOwned>(fields: &Fields) -> Result<F> {
    serde_json::from_value(Value::Object(fields.clone())).map_err(|e| StoreError::Damaged(e.to_string()))
}

/// A stored record, deleted or not.
pub(super) fn one<R: Record>(conn: &Connection, key: Uuid) -> Result<R::Stored> {
    R::get(conn, key)?.ok_or_else(|| StoreError::NotFound { kind: R::ENTITY.as_str(), key: key.to_string() })
}

/// A stored record, refusing one that was deleted.
pub(super) fn live<R: Record>(conn: &Connection, key: Uuid) -> Result<R::Stored> {
    let stored = one::<R>(conn, key)?;
    match stored.deleted_at() {
        Some(at) => Err(StoreError::Deleted { kind: R::ENTITY.as_str(), at }),
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
    /// One record, deleted or not: `store.get::<Partners>(key)`.
    pub fn get<R: Record>(&self, key: Uuid) -> Result<R::Stored> {
        one::<R>(&self.conn, key)
    }

    /// A record's full key from the key or a unique prefix of it (at least 4
    /// hex digits), as a person copies it from a list.
    pub fn resolve_key<R: Record>(&self, text: &str) -> Result<Uuid> {
        let kind = R::ENTITY.as_str();
        let text = text.trim().to_lowercase();
        if let Ok(key) = Uuid::parse_str(&text) {
            return Ok(key);
        }
        let not_found = || StoreError::NotFound { kind, key: text.clone() };
        if text.len() < 4 || !text.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
            return Err(not_found());
        }
        let sql =
            format!("SELECT key FROM {} WHERE key >= ?1 AND key < ?1 || 'g' ORDER BY key LIMIT 2", R::ENTITY.table());
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let keys: Vec<String> = stmt.query_map([&text], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
        match keys.as_slice() {
            [one] => Uuid::parse_str(one).map_err(|_| not_found()),
            [] => Err(not_found()),
            _ => Err(StoreError::Ambiguous { kind, key: text }),
        }
    }

    /// Replaces a record's fields with validated ones. Saving unchanged fields
    /// is a no-op: nothing is queued for the server.
    pub(super) fn update<R: Record>(&mut self, key: Uuid, fields: &R::Fields) -> Result<R::Stored> {
        let tx = self.write()?;
        let current = live::<R>(&tx, key)?;
        if current.fields() == fields {
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
    pub fn delete<R: Record>(&mut self, key: Uuid) -> Result<R::Stored> {
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
