//! Partner records: create, update, soft-delete, get, list and search.

use std::borrow::Borrow;

use std::collections::HashSet;

use rusqlite::{Connection, OptionalExtension, Transaction, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use super::outbox::{self, Entity, Op};
use super::record::{Located, Record};
use super::selection::{Filter, Selection};
use super::{Page, Result, Store, StoreError, json_at, opt_time, opt_uuid, parse_text, parse_time, time_text, uuid_at};
use crate::model::{Partner, PartnerDraft, PartnerFields, PartnerPatch, PartnerServerFields, PartnerType, SyncState};
use crate::plan::{Fields, Twin, Unconfirmed};
use crate::remote::wire::{self, ServerPartner};

/// Above this many matches a search reports "more than" instead of counting them all.
pub const SEARCH_COUNT_CAP: u64 = 10_000;

/// Sort orders for partner lists.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartnerSort {
    #[default]
    CompanyName,
    Email,
    SalesAmount,
    CreatedAt,
    UpdatedAt,
}

impl PartnerSort {
    fn column(self) -> &'static str {
        match self {
            PartnerSort::CompanyName => "p.company_name COLLATE NOCASE",
            PartnerSort::Email => "p.email COLLATE NOCASE",
            PartnerSort::SalesAmount => "p.sales_amount",
            PartnerSort::CreatedAt => "p.created_at",
            PartnerSort::UpdatedAt => "p.updated_at",
        }
    }
}

/// Filters, order and page for a partner list.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PartnerQuery {
    /// Type-ahead text: every word must prefix-match a word of the company name or email.
    pub search: Option<String>,
    pub partner_type: Option<PartnerType>,
    /// One organization's partners only: one's own, or a connected one's.
    pub organization: Option<OrganizationFilter>,
    pub sync_state: Option<SyncState>,
    pub sort: PartnerSort,
    #[serde(flatten)]
    pub paging: super::Paging,
}

/// Whose partners a list shows: `"own"`, or `{"connected": "<id>"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum OrganizationFilter {
    Own,
    Connected(Uuid),
}

const COLUMNS: &str = "p.key, p.target_org_id, p.company_name, p.sales_amount, p.partner_type, p.email, p.frequency, \
     p.payment_terms, p.server_id, p.server_created_at, p.server_updated_at, p.invitation_status, \
     p.guest_organization_id, p.sync_state, p.sync_error, p.created_at, p.updated_at, p.deleted_at";

fn partner_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Partner> {
    let invitation_status = row
        .get::<_, Option<String>>(11)?
        .map(|s| serde_json::from_value(serde_json::Value::String(s)))
        .transpose()
        .map_err(|e| rusqlite::Error::FromSqlConversionFailure(11, rusqlite::types::Type::Text, Box::new(e)))?;
    Ok(Partner {
        key: uuid_at(row, 0)?,
        target_org_id: opt_uuid(row, 1)?,
        fields: PartnerFields {
            company_name: row.get(2)?,
            sales_amount: row.get(3)?,
            partner_type: parse_text(row, 4)?,
            email: row.get(5)?,
            frequency: row.get(6)?,
            payment_terms: row.get(7)?,
        },
        server: PartnerServerFields {
            id: opt_uuid(row, 8)?,
            created_at: opt_time(row, 9)?,
            updated_at: opt_time(row, 10)?,
            invitation_status,
            guest_organization_id: opt_uuid(row, 12)?,
        },
        sync_state: parse_text(row, 13)?,
        sync_error: json_at(row, 14)?,
        created_locally_at: parse_time(15, &row.get::<_, String>(15)?)?,
        updated_locally_at: parse_time(16, &row.get::<_, String>(16)?)?,
        deleted_at: opt_time(row, 17)?,
    })
}

impl Store {
    /// Validates and saves a new partner with its outbox entry, in one transaction.
    pub fn create_partner(&mut self, draft: &PartnerDraft, target_org_id: Option<Uuid>) -> Result<Partner> {
        let fields = draft.validate_fields()?;
        let tx = self.write()?;
        super::search::defer_partner_index(&tx)?;
        let key = insert(&tx, &fields, target_org_id, &time_text(&super::now()))?;
        let partner = Partners::get(&tx, key)?.expect("inserted above");
        tx.commit()?;
        Ok(partner)
    }

    /// Saves many already-validated partners, each with its outbox entry, in one
    /// transaction: all of them or none. Returns their keys in order.
    pub fn create_partners(&mut self, all: &[PartnerFields], target_org_id: Option<Uuid>) -> Result<Vec<Uuid>> {
        self.create_partners_streamed(all, target_org_id, || Ok(()))
    }

    /// Like [`Store::create_partners`], but saves each partner as `all` yields
    /// it (another thread may still be reading and checking the rest), and asks
    /// `ready` before the commit: an error from it, or from saving, leaves
    /// nothing stored.
    pub fn create_partners_streamed<E: From<StoreError>>(
        &mut self,
        all: impl IntoIterator<Item = impl Borrow<PartnerFields>>,
        target_org_id: Option<Uuid>,
        ready: impl FnOnce() -> std::result::Result<(), E>,
    ) -> std::result::Result<Vec<Uuid>, E> {
        let now = time_text(&super::now());
        let tx = self.write()?;
        let keys = super::search::with_partner_index_deferred(&tx, || {
            all.into_iter().map(|fields| insert(&tx, fields.borrow(), target_org_id, &now)).collect::<Result<Vec<_>>>()
        })?;
        ready()?;
        tx.commit().map_err(StoreError::from)?;
        Ok(keys)
    }

    /// Replaces a partner's fields with a validated draft. Saving unchanged
    /// fields is a no-op: nothing is queued for the server.
    pub fn update_partner(&mut self, key: Uuid, draft: &PartnerDraft) -> Result<Partner> {
        self.update::<super::Partners>(key, &draft.validate_fields()?)
    }

    /// Applies a patch (only the given fields change), validating the result.
    pub fn edit_partner(&mut self, key: Uuid, patch: &PartnerPatch) -> Result<Partner> {
        let current = super::record::live::<Partners>(&self.conn, key)?;
        self.update_partner(key, &patch.apply_to(&current.fields))
    }

    /// A page of partners matching `query`, with the total count.
    pub fn list_partners(&self, query: &PartnerQuery) -> Result<Page<Partner>> {
        let selection = self.selection(query)?;
        let (total, total_capped) = if query.search.is_some() {
            // Type-ahead: counting every match of a one-letter prefix among a
            // million partners is not worth the wait; "10,000+" says enough.
            let matches: i64 = self
                .conn
                .prepare_cached(&format!(
                    "SELECT count(*) FROM (SELECT 1 {} LIMIT {})",
                    selection.from_filter,
                    SEARCH_COUNT_CAP + 1
                ))?
                .query_row(&selection.args()[..], |r| r.get(0))?;
            (matches as u64, matches as u64 > SEARCH_COUNT_CAP)
        } else {
            (self.count_partners(query)?, false)
        };
        // A broad search comes in the search index's order (oldest first): sorting
        // every one of its matches would make each keystroke wait; the list says
        // "10,000+" and narrows, sorted, as the user types on.
        let order = if total_capped {
            format!("{} ORDER BY f.rowid", selection.from_filter)
        } else {
            ordered(&selection, query)
        };
        let sql = format!("SELECT {COLUMNS} {order} LIMIT {} OFFSET {}", query.paging.limit, query.paging.offset);
        let mut stmt = self.conn.prepare_cached(&sql)?;
        let items = stmt.query_map(&selection.args()[..], partner_from_row)?.collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(Page { items, total, total_capped, limit: query.paging.limit, offset: query.paging.offset })
    }

    /// How many partners match `query`'s filters (paging ignored).
    pub fn count_partners(&self, query: &PartnerQuery) -> Result<u64> {
        let selection = self.selection(query)?;
        let total: i64 = self
            .conn
            .prepare_cached(&format!("SELECT count(*) {}", selection.from_filter))?
            .query_row(&selection.args()[..], |r| r.get(0))?;
        Ok(total as u64)
    }

    /// Calls `each` for every partner matching `query`'s filters, in its order,
    /// one row at a time (paging ignored): exports never hold the list in memory.
    /// Stops at the first error `each` returns.
    pub fn for_each_partner<E: From<StoreError>>(
        &self,
        query: &PartnerQuery,
        mut each: impl FnMut(Partner) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        self.each_row(query, COLUMNS, |row| each(partner_from_row(row).map_err(StoreError::from)?))
    }

    /// Like [`Store::for_each_partner`], but `each` sees only these columns,
    /// in order, as SQLite holds them: exports decode nothing they do not write.
    pub(crate) fn for_each_partner_values<E: From<StoreError>>(
        &self,
        query: &PartnerQuery,
        columns: &[super::PartnerColumn],
        each: impl FnMut(&rusqlite::Row<'_>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let select: Vec<&str> = columns.iter().map(|c| c.sql()).collect();
        self.each_row(query, &select.join(", "), each)
    }

    fn each_row<E: From<StoreError>>(
        &self,
        query: &PartnerQuery,
        select: &str,
        mut each: impl FnMut(&rusqlite::Row<'_>) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        let selection = self.selection(query)?;
        let sql = format!("SELECT {select} {}", ordered(&selection, query));
        let mut stmt = self.conn.prepare(&sql).map_err(StoreError::from)?;
        let mut rows = stmt.query(&selection.args()[..]).map_err(StoreError::from)?;
        while let Some(row) = rows.next().map_err(StoreError::from)? {
            each(row)?;
        }
        Ok(())
    }
}

impl Store {
    /// What `query` selects; a search first indexes the partners saved since the last one.
    fn selection(&self, query: &PartnerQuery) -> Result<Selection> {
        if query.search.is_some() {
            super::search::catch_up(&self.conn)?;
        }
        Ok(selection_of(query))
    }
}

/// What a partner query selects.
fn selection_of(query: &PartnerQuery) -> Selection {
    let mut filter = Filter::new("partners", "p", query.search.as_deref(), &query.paging);
    if let Some(t) = query.partner_type {
        filter.holds_with("p.partner_type = ?", t.as_str());
    }
    match query.organization {
        Some(OrganizationFilter::Own) => filter.holds("p.target_org_id IS NULL"),
        Some(OrganizationFilter::Connected(org)) => filter.holds_with("p.target_org_id = ?", org.to_string()),
        None => {}
    }
    // How each state is found (migration 0006): most partners are synced, and
    // the name order reaches them soon; a pending one has a change in the
    // outbox; the state index holds the rest, and its own condition,
    // repeated, tells the planner that it applies.
    match query.sync_state {
        Some(SyncState::Synced) => filter.holds("p.sync_state = 'synced'"),
        Some(SyncState::Pending) => filter
            .holds("p.sync_state = 'pending' AND p.key IN (SELECT record_key FROM outbox WHERE entity = 'partner')"),
        Some(state) => {
            filter.holds_with("p.sync_state = ? AND p.sync_state IN ('rejected', 'conflict')", state.as_str())
        }
        None => {}
    }
    filter.done()
}

/// The selection in the query's order.
fn ordered(selection: &Selection, query: &PartnerQuery) -> String {
    let direction = if query.paging.descending { "DESC" } else { "ASC" };
    format!("{} ORDER BY {} {direction}, p.rowid {direction}", selection.from_filter, query.sort.column())
}

/// Inserts one partner and queues its create.
fn insert(
    tx: &rusqlite::Transaction<'_>,
    fields: &PartnerFields,
    target_org_id: Option<Uuid>,
    now: &str,
) -> Result<Uuid> {
    let key = insert_row(tx, fields, target_org_id, SyncState::Pending, None, now)?;
    outbox::append(tx, Entity::Partner, key, Op::Create, &Partners::payload(key, fields), now)?;
    Ok(key)
}

/// What the server says about a partner, as stored in its row.
pub(super) struct ServerColumns<'a> {
    pub id: String,
    pub created_at: Option<String>,
    pub updated_at: Option<String>,
    pub invitation_status: Option<&'a str>,
    pub guest_organization_id: Option<String>,
    /// The fields as last agreed with the server (JSON), for three-way merges.
    pub sync_base: String,
}

/// Inserts the partner row alone (the search index follows by trigger), with
/// its server columns when it came from the server.
fn insert_row(
    tx: &rusqlite::Transaction<'_>,
    fields: &PartnerFields,
    target_org_id: Option<Uuid>,
    state: SyncState,
    server: Option<&ServerColumns<'_>>,
    now: &str,
) -> Result<Uuid> {
    let key = Uuid::now_v7();
    tx.prepare_cached(
        "INSERT INTO partners (key, target_org_id, company_name, sales_amount, partner_type, email, frequency,
                               payment_terms, sync_state, created_at, updated_at, server_id, server_created_at,
                               server_updated_at, invitation_status, guest_organization_id, sync_base)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?10, ?11, ?12, ?13, ?14, ?15, ?16)",
    )?
    .execute(params![
        key.to_string(),
        target_org_id.map(|t| t.to_string()),
        fields.company_name,
        fields.sales_amount,
        fields.partner_type.as_str(),
        fields.email,
        fields.frequency,
        fields.payment_terms,
        state.as_str(),
        now,
        server.map(|s| &s.id),
        server.and_then(|s| s.created_at.as_ref()),
        server.and_then(|s| s.updated_at.as_ref()),
        server.and_then(|s| s.invitation_status),
        server.and_then(|s| s.guest_organization_id.as_ref()),
        server.map(|s| &s.sync_base),
    ])?;
    Ok(key)
}

/// The partners table (partners API records).
pub enum Partners {}

fn server_columns(s: &ServerPartner) -> ServerColumns<'_> {
    ServerColumns {
        id: s.id.to_string(),
        created_at: super::opt_time_text(s.created_at),
        updated_at: super::opt_time_text(s.updated_at),
        invitation_status: s.invitation_status.as_deref().filter(|v| matches!(*v, "invited" | "accepted")),
        guest_organization_id: s.guest_organization_id.map(|g| g.to_string()),
        sync_base: Value::Object(wire::partner_fields(&s.fields)).to_string(),
    }
}

impl Record for Partners {
    const ENTITY: Entity = Entity::Partner;
    const SERVER_ID: &'static str = "server_id";
    type Stored = Partner;
    type Fields = PartnerFields;
    type Server = ServerPartner;

    /// Writes the six fields, queueing nothing (a pull, or the caller queues).
    fn set_typed(tx: &Transaction<'_>, key: Uuid, f: &PartnerFields) -> Result<()> {
        tx.prepare_cached(
            "UPDATE partners SET company_name = ?2, sales_amount = ?3, partner_type = ?4, email = ?5, frequency = ?6,
                                 payment_terms = ?7
             WHERE key = ?1",
        )?
        .execute(params![
            key.to_string(),
            f.company_name,
            f.sales_amount,
            f.partner_type.as_str(),
            f.email,
            f.frequency,
            f.payment_terms
        ])?;
        Ok(())
    }

    fn payload(_key: Uuid, fields: &PartnerFields) -> String {
        serde_json::to_string(fields).expect("partner fields always serialize")
    }

    fn get(conn: &Connection, key: Uuid) -> Result<Option<Partner>> {
        Ok(conn
            .prepare_cached(&format!("SELECT {COLUMNS} FROM partners p WHERE p.key = ?1"))?
            .query_row([key.to_string()], partner_from_row)
            .optional()?)
    }

    /// A partner's delete carries no body (the path names the partner).
    fn delete_body(_key: Uuid) -> String {
        "{}".into()
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
        insert_row(tx, &s.fields, scope, SyncState::Synced, Some(&server_columns(s)), &super::now_text())
    }

    fn set_server(tx: &Transaction<'_>, key: Uuid, s: &ServerPartner) -> Result<()> {
        let c = server_columns(s);
        tx.prepare_cached(
            "UPDATE partners SET server_id = ?2, server_created_at = ?3, server_updated_at = ?4, invitation_status = ?5,
                                 guest_organization_id = ?6, sync_base = ?7,
                                 fields_as_created = coalesce(fields_as_created, ?7)
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
        Ok(wire::partner_fields(&super::record::one::<Partners>(conn, key)?.fields))
    }

    fn write_fields(tx: &Transaction<'_>, key: Uuid, fields: &Fields) -> Result<()> {
        Self::set_typed(tx, key, &super::record::typed(fields)?)
    }

    fn body(_key: Uuid, fields: &Fields) -> Value {
        Value::Object(fields.clone())
    }

    /// Partners with this email (deleted ones too), linked to another server
    /// record, whose six fields equal this one's: now, as last agreed, or as
    /// the server first held them (a create that landed after its re-send is
    /// a copy of those, however the partner was edited since).
    fn twins(tx: &Transaction<'_>, server: &ServerPartner) -> Result<Vec<Twin<Uuid>>> {
        let id = server.id.to_string();
        let remote = Value::Object(wire::partner_fields(&server.fields));
        let mut stmt = tx.prepare_cached(
            "SELECT p.key, p.sync_base, p.fields_as_created,
                    EXISTS (SELECT 1 FROM conflicts c WHERE c.entity = 'partner' AND c.record_key = p.key
                                                        AND c.kind = 'twin_on_server' AND c.field = ?2),
                    p.deleted_at
             FROM partners p
             WHERE p.email = ?1 COLLATE NOCASE AND p.server_id IS NOT NULL AND p.server_id <> ?2
             ORDER BY p.rowid",
        )?;
        type Row = (String, Option<String>, Option<String>, bool, Option<chrono::DateTime<chrono::Utc>>);
        let rows: Vec<Row> = stmt
            .query_map(params![server.fields.email, id], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, opt_time(r, 4)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        let json = |text: Option<String>| text.and_then(|t| serde_json::from_str::<Value>(&t).ok());
        let mut twins = Vec::new();
        for (key, agreed, as_created, asked, deleted_at) in rows {
            let key = Uuid::parse_str(&key).map_err(|e| StoreError::Damaged(e.to_string()))?;
            let now = Value::Object(Self::fields(tx, key)?);
            if now == remote || json(agreed).as_ref() == Some(&remote) || json(as_created).as_ref() == Some(&remote) {
                twins.push(Twin { key, asked, deleted_at });
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

    fn claim_as_own(tx: &Transaction<'_>, key: Uuid) -> Result<bool> {
        let moved = tx
            .prepare_cached("UPDATE partners SET target_org_id = NULL WHERE key = ?1 AND target_org_id IS NOT NULL")?
            .execute([key.to_string()])?;
        Ok(moved == 1)
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
            "SELECT o.seq, p.key, o.payload, o.created_at FROM partners p
                    JOIN outbox o ON o.entity = 'partner' AND o.record_key = p.key
             WHERE p.server_id IS NULL AND o.op = 'create' AND o.attempts > 0 AND p.email = ?1 COLLATE NOCASE
             ORDER BY o.seq",
        )?;
        let rows: Vec<(i64, String, String, chrono::DateTime<chrono::Utc>)> = stmt
            .query_map([&server.fields.email], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, parse_time(3, &r.get::<_, String>(3)?)?))
            })?
            .collect::<rusqlite::Result<_>>()?;
        Ok(rows
            .into_iter()
            .filter_map(|(seq, key, payload, queued_at)| {
                let sent = serde_json::from_str::<PartnerFields>(&payload).ok().map(|f| wire::partner_fields(&f));
                Some(Unconfirmed { seq, key: Uuid::parse_str(&key).ok()?, sent, queued_at })
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
     WHERE email COLLATE NOCASE IN (SELECT value FROM json_each(?1))";

/// The emails of `page` (lower case) that a stored partner has, deleted ones
/// too: a late copy of a partner deleted here is a twin to ask about, and
/// taken as surely new it came back as a partner of its own (the model test
/// with writes later than the settle window found it).
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

#[cfg(test)]
mod tests {
    use super::*;

    /// How SQLite plans `query`'s list (the detail column of each step).
    fn plan(store: &Store, query: &PartnerQuery) -> Vec<String> {
        let selection = selection_of(query);
        let sql = format!("EXPLAIN QUERY PLAN SELECT {COLUMNS} {} LIMIT 50", ordered(&selection, query));
        let mut stmt = store.conn.prepare(&sql).unwrap();
        stmt.query_map(&selection.args()[..], |r| r.get::<_, String>(3)).unwrap().map(|r| r.unwrap()).collect()
    }

    fn reads(store: &Store, state: SyncState, index: &str) -> bool {
        let steps = plan(store, &PartnerQuery { sync_state: Some(state), ..Default::default() });
        steps.iter().any(|step| step.contains(index))
    }

    #[test]
    fn every_state_filter_is_answered_from_an_index() {
        let store = Store::open_in_memory().unwrap();
        assert!(reads(&store, SyncState::Rejected, "INDEX partners_by_state"));
        assert!(reads(&store, SyncState::Conflict, "INDEX partners_by_state"));
        assert!(reads(&store, SyncState::Pending, "INDEX outbox_by_record"));
        // Most partners are synced: the list reads them in name order and stops at the page's end.
        let synced = PartnerQuery { sync_state: Some(SyncState::Synced), ..Default::default() };
        assert_eq!(plan(&store, &synced), ["SCAN p USING INDEX partners_by_name"]);
    }

    #[test]
    fn a_lookup_by_server_id_reads_its_index() {
        let store = Store::open_in_memory().unwrap();
        for sql in [
            "SELECT key FROM partners WHERE server_id = ?1",
            "SELECT server_id FROM partners WHERE server_id IN (SELECT value FROM json_each(?1))",
        ] {
            let steps: Vec<String> = store
                .conn
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(["x"], |r| r.get(3))
                .unwrap()
                .map(|r| r.unwrap())
                .collect();
            assert!(steps.iter().any(|s| s.contains("INDEX partners_by_server_id")), "{sql}: {steps:?}");
        }
    }

    #[test]
    fn the_emails_of_a_page_are_looked_up_through_the_email_index() {
        let store = Store::open_in_memory().unwrap();
        let plan: Vec<String> = store
            .connection()
            .prepare(&format!("EXPLAIN QUERY PLAN {}", KNOWN_EMAILS))
            .unwrap()
            .query_map(["[\"a@x.example\"]"], |r| r.get::<_, String>(3))
            .unwrap()
            .map(|r| r.unwrap())
            .collect();
        // Covering, since deleted partners count too: the table itself is not read.
        assert!(plan.iter().any(|step| step.contains("USING COVERING INDEX partners_by_email")), "{plan:?}");
    }
}
