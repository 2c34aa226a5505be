//! Organization records and their contacts (stored in their own table, in order).

use rusqlite::{Connection, OptionalExtension, ToSql, Transaction, params, params_from_iter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::outbox::{self, Entity, Op};
use super::record::{Located, Record};
use super::selection::{Filter, Selection};
use super::{Page, Result, Store, StoreError, json_at, opt_time, parse_text, parse_time, time_text, uuid_at};
use crate::model::{
    Contact, Location, OrgType, Organization, OrganizationDraft, OrganizationFields, OrganizationServerFields,
    SyncState,
};
use crate::plan::Fields;
use crate::remote::wire::{self, ServerOrganization};
use serde_json::Value;

/// Filters and page for an organization list (sorted by name).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrganizationQuery {
    /// Type-ahead text matched against name, billing email and city.
    pub search: Option<String>,
    pub org_type: Option<OrgType>,
    pub country: Option<String>,
    pub sync_state: Option<SyncState>,
    #[serde(flatten)]
    pub paging: super::Paging,
}

const COLUMNS: &str = "o.rowid, o.key, o.name, o.org_type, o.address, o.address2, o.city, o.province, o.postal, \
     o.country, o.phone, o.billing_email, o.office_id, o.linked_to, o.description, o.latitude, o.longitude, \
     o.server_created_at, o.server_updated_at, o.sync_state, o.sync_error, o.created_at, o.updated_at, o.deleted_at";

/// An organization row without its contacts, and the rowid to fetch them by.
fn org_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<(i64, Organization)> {
    let location = match (row.get::<_, Option<f64>>(15)?, row.get::<_, Option<f64>>(16)?) {
        (Some(latitude), Some(longitude)) => Some(Location { latitude, longitude }),
        _ => None,
    };
    let org = Organization {
        key: uuid_at(row, 1)?,
        fields: OrganizationFields {
            name: row.get(2)?,
            org_type: serde_json::from_value(serde_json::Value::String(row.get(3)?))
                .map_err(|e| rusqlite::Error::FromSqlConversionFailure(3, rusqlite::types::Type::Text, Box::new(e)))?,
            address: row.get(4)?,
            address2: row.get(5)?,
            city: row.get(6)?,
            province: row.get(7)?,
            postal: row.get(8)?,
            country: row.get(9)?,
            phone: row.get(10)?,
            billing_email: row.get(11)?,
            office_id: row.get(12)?,
            linked_to: row.get(13)?,
            description: row.get(14)?,
            location,
            contacts: Vec::new(),
        },
        server: OrganizationServerFields { created_at: opt_time(row, 17)?, updated_at: opt_time(row, 18)? },
        sync_state: parse_text(row, 19)?,
        sync_error: json_at(row, 20)?,
        created_locally_at: parse_time(21, &row.get::<_, String>(21)?)?,
        updated_locally_at: parse_time(22, &row.get::<_, String>(22)?)?,
        deleted_at: opt_time(row, 23)?,
    };
    Ok((row.get(0)?, org))
}

fn contacts_of(conn: &Connection, rowid: i64) -> Result<Vec<Contact>> {
    let mut stmt = conn.prepare_cached(
        "SELECT first_name, last_name, email, phone, work_phone FROM contacts WHERE org_rowid = ?1 ORDER BY position",
    )?;
    let rows = stmt.query_map([rowid], |r| {
        Ok(Contact {
            first_name: r.get(0)?,
            last_name: r.get(1)?,
            email: r.get(2)?,
            phone: r.get(3)?,
            work_phone: r.get(4)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn write_contacts(tx: &Transaction<'_>, rowid: i64, contacts: &[Contact]) -> Result<()> {
    tx.prepare_cached("DELETE FROM contacts WHERE org_rowid = ?1")?.execute([rowid])?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO contacts (org_rowid, position, first_name, last_name, email, phone, work_phone)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    for (position, c) in contacts.iter().enumerate() {
        insert.execute(params![rowid, position as i64, c.first_name, c.last_name, c.email, c.phone, c.work_phone])?;
    }
    Ok(())
}

impl ToSql for OrgType {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(self.code().into())
    }
}

/// The 15 columns written from the fields, in table order (`name` .. `longitude`);
/// `coordinates` holds the last two, which the fields keep as one optional location.
fn field_params<'a>(f: &'a OrganizationFields, coordinates: &'a [Option<f64>; 2]) -> [&'a dyn ToSql; 15] {
    [
        &f.name,
        &f.org_type,
        &f.address,
        &f.address2,
        &f.city,
        &f.province,
        &f.postal,
        &f.country,
        &f.phone,
        &f.billing_email,
        &f.office_id,
        &f.linked_to,
        &f.description,
        &coordinates[0],
        &coordinates[1],
    ]
}

fn coordinates(f: &OrganizationFields) -> [Option<f64>; 2] {
    [f.location.map(|l| l.latitude), f.location.map(|l| l.longitude)]
}

impl Store {
    /// Validates and saves a new organization, its contacts and its outbox entry, in one transaction.
    pub fn create_organization(&mut self, draft: &OrganizationDraft) -> Result<Organization> {
        let fields = draft.validate_fields()?;
        let key = Uuid::now_v7();
        let now = time_text(&super::now());
        let tx = self.write()?;
        insert_row(&tx, key, &fields, SyncState::Pending, &now)?;
        outbox::enqueue(&tx, Entity::Organization, key, Op::Create, &Organizations::payload(key, &fields))?;
        let org = Organizations::get(&tx, key)?.expect("inserted above");
        tx.commit()?;
        Ok(org)
    }

    /// Replaces an organization's fields and contacts; unchanged fields are a no-op.
    pub fn update_organization(&mut self, key: Uuid, draft: &OrganizationDraft) -> Result<Organization> {
        self.update::<super::Organizations>(key, &draft.validate_fields()?)
    }

    /// A page of organizations with their contacts, sorted by name.
    pub fn list_organizations(&self, query: &OrganizationQuery) -> Result<Page<Organization>> {
        let (total, _) = self.count_organizations(query)?;
        let mut items = Vec::with_capacity(query.paging.limit as usize);
        self.each_organization(query, Some((query.paging.limit, query.paging.offset)), |org| {
            items.push(org);
            Ok::<_, StoreError>(())
        })?;
        Ok(Page { items, total, total_capped: false, limit: query.paging.limit, offset: query.paging.offset })
    }

    /// How many organizations `query` selects (paging ignored), and the most contacts any of them has.
    pub fn count_organizations(&self, query: &OrganizationQuery) -> Result<(u64, usize)> {
        let selection = selection(query);
        let sql = format!(
            "SELECT count(*), coalesce(max((SELECT count(*) FROM contacts c WHERE c.org_rowid = o.rowid)), 0) {}",
            selection.from_filter
        );
        let (total, most): (i64, i64) =
            self.conn.prepare_cached(&sql)?.query_row(&selection.args()[..], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok((total as u64, most as usize))
    }

    /// Calls `each` with every organization `query` selects (paging ignored), in
    /// list order, one at a time: for exports of any size.
    pub fn for_each_organization<E: From<StoreError>>(
        &self,
        query: &OrganizationQuery,
        each: impl FnMut(Organization) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        self.each_organization(query, None, each)
    }

    fn each_organization<E: From<StoreError>>(
        &self,
        query: &OrganizationQuery,
        page: Option<(u32, u64)>,
        mut each: impl FnMut(Organization) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let selection = selection(query);
        let direction = if query.paging.descending { "DESC" } else { "ASC" };
        let limit = page.map(|(limit, offset)| format!(" LIMIT {limit} OFFSET {offset}")).unwrap_or_default();
        let sql = format!(
            "SELECT {COLUMNS} {} ORDER BY o.name COLLATE NOCASE {direction}, o.rowid {direction}{limit}",
            selection.from_filter
        );
        let mut stmt = self.conn.prepare_cached(&sql).map_err(StoreError::from)?;
        let mut rows = stmt.query(&selection.args()[..]).map_err(StoreError::from)?;
        while let Some(row) = rows.next().map_err(StoreError::from)? {
            let (rowid, mut org) = org_from_row(row).map_err(StoreError::from)?;
            org.fields.contacts = contacts_of(&self.conn, rowid)?;
            each(org)?;
        }
        Ok(())
    }
}

/// What an organization query selects.
fn selection(query: &OrganizationQuery) -> Selection {
    let mut filter = Filter::new("organizations", "o", query.search.as_deref(), &query.paging);
    if let Some(t) = query.org_type {
        filter.holds_with("o.org_type = ?", t.code());
    }
    if let Some(country) = &query.country {
        filter.holds_with("o.country = ?", country.trim().to_uppercase());
    }
    if let Some(state) = query.sync_state {
        filter.holds_with("o.sync_state = ?", state.as_str());
    }
    filter.done()
}

/// Inserts an organization row and its contacts, queueing nothing.
fn insert_row(tx: &Transaction<'_>, key: Uuid, fields: &OrganizationFields, state: SyncState, now: &str) -> Result<()> {
    let (key, coordinates, state) = (key.to_string(), coordinates(fields), state.as_str());
    let values = std::iter::once(&key as &dyn ToSql)
        .chain(field_params(fields, &coordinates))
        .chain([&state as &dyn ToSql, &now]);
    tx.prepare_cached(
        "INSERT INTO organizations (key, name, org_type, address, address2, city, province, postal, country, phone,
                                    billing_email, office_id, linked_to, description, latitude, longitude,
                                    sync_state, created_at, updated_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?18)",
    )?
    .execute(params_from_iter(values))?;
    write_contacts(tx, tx.last_insert_rowid(), &fields.contacts)
}

/// The organizations table (organizations API records).
pub enum Organizations {}

impl Record for Organizations {
    const ENTITY: Entity = Entity::Organization;
    /// An organization's id on the server is the key it was created with here.
    const SERVER_ID: &'static str = "key";
    type Stored = Organization;
    type Fields = OrganizationFields;
    type Server = ServerOrganization;

    /// Writes the fields and contacts, queueing nothing (a pull, or the caller queues).
    fn set_typed(tx: &Transaction<'_>, key: Uuid, fields: &OrganizationFields) -> Result<()> {
        let (key, coordinates) = (key.to_string(), coordinates(fields));
        let values = std::iter::once(&key as &dyn ToSql).chain(field_params(fields, &coordinates));
        let rowid: i64 = tx
            .prepare_cached(
                "UPDATE organizations SET name = ?2, org_type = ?3, address = ?4, address2 = ?5, city = ?6, province = ?7,
                        postal = ?8, country = ?9, phone = ?10, billing_email = ?11, office_id = ?12, linked_to = ?13,
                        description = ?14, latitude = ?15, longitude = ?16
                 WHERE key = ?1 RETURNING rowid",
            )?
            .query_row(params_from_iter(values), |r| r.get(0))?;
        write_contacts(tx, rowid, &fields.contacts)
    }

    fn payload(key: Uuid, fields: &OrganizationFields) -> String {
        wire::organization_body(Some(key), fields).to_string()
    }

    /// With its contacts, in order.
    fn get(conn: &Connection, key: Uuid) -> Result<Option<Organization>> {
        let found = conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM organizations o WHERE o.key = ?1"))?
            .query_row([key.to_string()], org_from_row)
            .optional()?;
        match found {
            Some((rowid, mut org)) => {
                org.fields.contacts = contacts_of(conn, rowid)?;
                Ok(Some(org))
            }
            None => Ok(None),
        }
    }

    fn delete_body(key: Uuid) -> String {
        serde_json::json!({ "id": key }).to_string()
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
        insert_row(tx, key, &s.fields, SyncState::Synced, &super::now_text())?;
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
            super::opt_time_text(s.created_at),
            super::opt_time_text(s.updated_at),
            s.fields.linked_to,
            Value::Object(wire::organization_fields(&s.fields)).to_string(),
        ])?;
        Ok(())
    }

    fn fields(conn: &Connection, key: Uuid) -> Result<Fields> {
        Ok(wire::organization_fields(&super::record::one::<Organizations>(conn, key)?.fields))
    }

    /// The link to another organization is not among the fields compared and
    /// sent: it stays as stored (a pull sets it with the server's link).
    fn write_fields(tx: &Transaction<'_>, key: Uuid, fields: &Fields) -> Result<()> {
        let mut f: OrganizationFields = super::record::typed(fields)?;
        f.linked_to = super::record::one::<Organizations>(tx, key)?.fields.linked_to;
        Self::set_typed(tx, key, &f)
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
