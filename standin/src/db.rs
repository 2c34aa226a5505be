//! The stand-in's own SQLite file: partners, organizations and stored idempotent answers.
//!
//! One connection behind a std mutex: every operation is a short statement, never held across an
//! `.await`, so handlers and the (sync) library handle can share it without deadlock. The write
//! clock lives under the same lock, so timestamps increase in commit order.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use rusqlite::{Connection, OptionalExtension, Row, params};
use uuid::Uuid;

use crate::Error;
use crate::clock;
use crate::model::organization::{OrgFields, Organization};
use crate::model::partner::{Partner, PartnerFields};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS partners (
    id TEXT PRIMARY KEY,
    org_id TEXT NOT NULL,
    fields TEXT NOT NULL,
    invitation_status TEXT,
    guest_organization_id TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS partners_by_org ON partners (org_id);
CREATE TABLE IF NOT EXISTS organizations (
    id TEXT PRIMARY KEY,
    fields TEXT NOT NULL,
    linked_to TEXT,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency (
    method TEXT NOT NULL,
    path TEXT NOT NULL,
    key TEXT NOT NULL,
    status INTEGER NOT NULL,
    content_type TEXT,
    body BLOB NOT NULL,
    PRIMARY KEY (method, path, key)
);
";

/// A stored answer to a mutating request, replayed for a repeated `Idempotency-Key`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct StoredResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

pub(crate) struct Db {
    inner: Mutex<Inner>,
}

struct Inner {
    conn: Connection,
    /// The last timestamp handed out (see [`clock::tick`]).
    last_micros: i64,
    /// Bumped by every partner write, so a cached list knows it is stale.
    partner_writes: u64,
}

fn json_error(e: serde_json::Error) -> Error {
    Error::Corrupt(e.to_string())
}

fn uuid_column(text: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(text).map_err(|e| Error::Corrupt(format!("bad uuid {text:?}: {e}")))
}

type PartnerColumns = (String, String, String, Option<String>, Option<String>, i64, i64);

fn partner_columns(row: &Row<'_>) -> rusqlite::Result<PartnerColumns> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?, row.get(5)?, row.get(6)?))
}

fn partner_from(columns: PartnerColumns) -> Result<Partner, Error> {
    let (id, org_id, fields, invitation_status, guest, created_at, updated_at) = columns;
    Ok(Partner {
        id: uuid_column(&id)?,
        org_id: uuid_column(&org_id)?,
        fields: serde_json::from_str::<PartnerFields>(&fields).map_err(json_error)?,
        invitation_status,
        guest_organization_id: guest.as_deref().map(uuid_column).transpose()?,
        created_at,
        updated_at,
    })
}

type OrgColumns = (String, String, Option<String>, i64, i64);

fn org_columns(row: &Row<'_>) -> rusqlite::Result<OrgColumns> {
    Ok((row.get(0)?, row.get(1)?, row.get(2)?, row.get(3)?, row.get(4)?))
}

fn org_from(columns: OrgColumns) -> Result<Organization, Error> {
    let (id, fields, linked_to, created_at, updated_at) = columns;
    let fields = serde_json::from_str::<OrgFields>(&fields).map_err(json_error)?;
    Ok(Organization { id, fields, linked_to, created_at, updated_at })
}

const PARTNER_SELECT: &str =
    "SELECT id, org_id, fields, invitation_status, guest_organization_id, created_at, updated_at FROM partners";
const ORG_SELECT: &str = "SELECT id, fields, linked_to, created_at, updated_at FROM organizations";

impl Db {
    pub fn open(path: &Path) -> Result<Self, Error> {
        let conn = Connection::open(path)?;
        conn.execute_batch("PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;")?;
        conn.execute_batch(SCHEMA)?;
        // Continue after the newest stored timestamp, so a reopened file never goes back in time.
        let last_micros: i64 = conn.query_row(
            "SELECT MAX(COALESCE((SELECT MAX(updated_at) FROM partners), 0),
                        COALESCE((SELECT MAX(updated_at) FROM organizations), 0))",
            [],
            |row| row.get(0),
        )?;
        Ok(Self { inner: Mutex::new(Inner { conn, last_micros, partner_writes: 0 }) })
    }

    /// A poisoned lock only means another thread panicked mid-statement; SQLite rolled it back.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Partners of one organization, or of all when `org` is `None`, in no particular order.
    pub fn partners(&self, org: Option<Uuid>) -> Result<Vec<Partner>, Error> {
        let inner = self.lock();
        let columns: Vec<PartnerColumns> = match org {
            Some(org) => {
                let mut stmt = inner.conn.prepare_cached(&format!("{PARTNER_SELECT} WHERE org_id = ?1"))?;
                stmt.query_map([org.to_string()], partner_columns)?.collect::<rusqlite::Result<_>>()?
            }
            None => {
                let mut stmt = inner.conn.prepare_cached(&format!("{PARTNER_SELECT} ORDER BY created_at, id"))?;
                stmt.query_map([], partner_columns)?.collect::<rusqlite::Result<_>>()?
            }
        };
        drop(inner);
        columns.into_iter().map(partner_from).collect()
    }

    pub fn partner(&self, id: Uuid) -> Result<Option<Partner>, Error> {
        let inner = self.lock();
        let columns = inner
            .conn
            .query_row(&format!("{PARTNER_SELECT} WHERE id = ?1"), [id.to_string()], partner_columns)
            .optional()?;
        drop(inner);
        columns.map(partner_from).transpose()
    }

    /// Stores a new partner, setting both timestamps.
    pub fn insert_partner(&self, partner: &mut Partner) -> Result<(), Error> {
        let fields = serde_json::to_string(&partner.fields).map_err(json_error)?;
        let mut inner = self.lock();
        inner.partner_writes += 1;
        let now = clock::tick(&mut inner.last_micros);
        inner.conn.execute(
            "INSERT INTO partners (id, org_id, fields, invitation_status, guest_organization_id, created_at, updated_at)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?6)",
            params![
                partner.id.to_string(),
                partner.org_id.to_string(),
                fields,
                partner.invitation_status,
                partner.guest_organization_id.map(|g| g.to_string()),
                now
            ],
        )?;
        partner.created_at = now;
        partner.updated_at = now;
        Ok(())
    }

    /// Saves an edited partner with a new `updated_at`; false when it was deleted meanwhile.
    pub fn update_partner(&self, partner: &mut Partner) -> Result<bool, Error> {
        let fields = serde_json::to_string(&partner.fields).map_err(json_error)?;
        let mut inner = self.lock();
        inner.partner_writes += 1;
        let now = clock::tick(&mut inner.last_micros);
        let changed = inner.conn.execute(
            "UPDATE partners SET fields = ?2, invitation_status = ?3, guest_organization_id = ?4, updated_at = ?5
             WHERE id = ?1",
            params![
                partner.id.to_string(),
                fields,
                partner.invitation_status,
                partner.guest_organization_id.map(|g| g.to_string()),
                now
            ],
        )?;
        if changed == 1 {
            partner.updated_at = now;
        }
        Ok(changed == 1)
    }

    pub fn delete_partner(&self, id: Uuid) -> Result<bool, Error> {
        let mut inner = self.lock();
        inner.partner_writes += 1;
        Ok(inner.conn.execute("DELETE FROM partners WHERE id = ?1", [id.to_string()])? == 1)
    }

    /// Changes whenever any partner is written.
    pub fn partners_version(&self) -> u64 {
        self.lock().partner_writes
    }

    /// All organizations, oldest first (ties by id), the list endpoint's stable order.
    pub fn organizations(&self) -> Result<Vec<Organization>, Error> {
        let inner = self.lock();
        let mut stmt = inner.conn.prepare_cached(&format!("{ORG_SELECT} ORDER BY created_at, id"))?;
        let columns: Vec<OrgColumns> = stmt.query_map([], org_columns)?.collect::<rusqlite::Result<_>>()?;
        drop(stmt);
        drop(inner);
        columns.into_iter().map(org_from).collect()
    }

    pub fn organization(&self, id: &str) -> Result<Option<Organization>, Error> {
        let inner = self.lock();
        let columns = inner.conn.query_row(&format!("{ORG_SELECT} WHERE id = ?1"), [id], org_columns).optional()?;
        drop(inner);
        columns.map(org_from).transpose()
    }

    /// Stores a new organization; false (and nothing written) when the id is taken.
    pub fn insert_organization(&self, org: &mut Organization) -> Result<bool, Error> {
        let fields = serde_json::to_string(&org.fields).map_err(json_error)?;
        let mut inner = self.lock();
        let now = clock::tick(&mut inner.last_micros);
        let inserted = inner.conn.execute(
            "INSERT INTO organizations (id, fields, linked_to, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?4)
             ON CONFLICT (id) DO NOTHING",
            params![org.id, fields, org.linked_to, now],
        )?;
        if inserted == 1 {
            org.created_at = now;
            org.updated_at = now;
        }
        Ok(inserted == 1)
    }

    /// Saves an edited organization with a new `updatedAt`; false when it is gone.
    pub fn update_organization(&self, org: &mut Organization) -> Result<bool, Error> {
        let fields = serde_json::to_string(&org.fields).map_err(json_error)?;
        let mut inner = self.lock();
        let now = clock::tick(&mut inner.last_micros);
        let changed = inner.conn.execute(
            "UPDATE organizations SET fields = ?2, linked_to = ?3, updated_at = ?4 WHERE id = ?1",
            params![org.id, fields, org.linked_to, now],
        )?;
        if changed == 1 {
            org.updated_at = now;
        }
        Ok(changed == 1)
    }

    pub fn delete_organization(&self, id: &str) -> Result<bool, Error> {
        let inner = self.lock();
        Ok(inner.conn.execute("DELETE FROM organizations WHERE id = ?1", [id])? == 1)
    }

    pub fn stored_response(&self, method: &str, path: &str, key: &str) -> Result<Option<StoredResponse>, Error> {
        let inner = self.lock();
        let response = inner
            .conn
            .query_row(
                "SELECT status, content_type, body FROM idempotency WHERE method = ?1 AND path = ?2 AND key = ?3",
                [method, path, key],
                |row| Ok(StoredResponse { status: row.get(0)?, content_type: row.get(1)?, body: row.get(2)? }),
            )
            .optional()?;
        Ok(response)
    }

    pub fn store_response(&self, method: &str, path: &str, key: &str, response: &StoredResponse) -> Result<(), Error> {
        let inner = self.lock();
        inner.conn.execute(
            "INSERT OR REPLACE INTO idempotency (method, path, key, status, content_type, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![method, path, key, response.status, response.content_type, response.body],
        )?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::model::{organization, partner};

    fn fields() -> PartnerFields {
        partner::validate(&json!({
            "company_name": "Acme", "sales_amount": 1, "partner_type": "supplier",
            "email": "a@acme.com", "frequency": "weekly", "payment_terms": "net 10"
        }))
        .expect("valid")
    }

    #[test]
    fn partner_round_trip_and_strictly_increasing_updates() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = Db::open(&dir.path().join("t.sqlite3")).expect("open");
        let org = Uuid::new_v4();
        let mut p = Partner::new(org, fields());
        db.insert_partner(&mut p).expect("insert");
        let created = p.updated_at;
        assert!(db.update_partner(&mut p).expect("update"));
        assert!(p.updated_at > created);
        assert_eq!(db.partner(p.id).expect("read"), Some(p.clone()));
        assert_eq!(db.partners(Some(org)).expect("list").len(), 1);
        assert!(db.partners(Some(Uuid::new_v4())).expect("list").is_empty());
        assert!(db.delete_partner(p.id).expect("delete"));
        assert!(!db.delete_partner(p.id).expect("delete again"));
    }

    #[test]
    fn duplicate_organization_id_is_refused_and_clock_survives_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("t.sqlite3");
        let body = json!({"id": "o1", "name": "N", "type": "F", "address": "A", "country": "DE", "phone": "1",
                          "contacts": [{"firstName": "F"}]});
        let (id, f) = organization::validate_create(&body).expect("valid");
        let stamp = {
            let db = Db::open(&path).expect("open");
            let mut org = Organization::new(id.clone(), f.clone());
            assert!(db.insert_organization(&mut org).expect("insert"));
            assert!(!db.insert_organization(&mut Organization::new(id.clone(), f.clone())).expect("dup"));
            org.updated_at
        };
        let db = Db::open(&path).expect("reopen");
        let mut org = db.organization(&id).expect("read").expect("present");
        assert!(db.update_organization(&mut org).expect("update"));
        assert!(org.updated_at > stamp);
    }
}
