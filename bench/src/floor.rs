//! The schema floor: the rows a path stores, written into Partnerbook's own
//! schema (its indexes, search index, triggers and outbox, same pragmas) by
//! prepared statements with every value computed before the clock starts.
//!
//! It is what SQLite alone costs for what the path must store. A path slower
//! than its floor by a wide margin has work to cut in Rust; a target faster
//! than the floor cannot be met without storing less (fewer indexes, search
//! indexing moved out of the transaction).

use std::path::Path;
use std::time::{Duration, Instant};

use partnerbook::Store;
use partnerbook::store::{DEFER_PARTNER_INDEX, INDEX_DEFERRED_PARTNERS};
use rusqlite::{Connection, Transaction, TransactionBehavior, params};
use uuid::Uuid;

/// One partner's values as the store writes them.
pub struct Row {
    pub key: String,
    pub company_name: String,
    pub sales_amount: i64,
    pub partner_type: &'static str,
    pub email: String,
    pub frequency: &'static str,
    pub payment_terms: &'static str,
}

impl Row {
    pub fn new(company_name: String, sales_amount: i64, partner_type: &'static str, email: String) -> Self {
        Self {
            key: Uuid::now_v7().to_string(),
            company_name,
            sales_amount,
            partner_type,
            email,
            frequency: "monthly",
            payment_terms: "net 30",
        }
    }

    /// The six fields as JSON: an outbox payload, or a pulled row's sync base.
    fn fields_json(&self) -> String {
        serde_json::json!({
            "company_name": self.company_name, "sales_amount": self.sales_amount, "partner_type": self.partner_type,
            "email": self.email, "frequency": self.frequency, "payment_terms": self.payment_terms,
        })
        .to_string()
    }
}

const NOW: &str = "2026-11-26T00:00:00.000Z";

fn open(path: &Path) -> Connection {
    drop(Store::open(path).unwrap()); // the schema, migrated
    let conn = Connection::open(path).unwrap();
    // The store's own pragmas (`store::configure`).
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA temp_store = MEMORY;",
    )
    .unwrap();
    conn
}

/// A write transaction taken up front, as the store's.
fn write(conn: &Connection) -> Transaction<'_> {
    Transaction::new_unchecked(conn, TransactionBehavior::Immediate).unwrap()
}

const INSERT_PARTNER: &str = "INSERT INTO partners (key, company_name, sales_amount, partner_type, email, frequency,
     payment_terms, sync_state, created_at, updated_at, server_id, server_created_at, server_updated_at, sync_base)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?9, ?10, ?9, ?9, ?11)";
const INSERT_OUTBOX: &str = "INSERT INTO outbox (entity, record_key, op, payload, created_at, updated_at)
     VALUES ('partner', ?1, 'create', ?2, ?3, ?3)";

/// One partner row: a new local one (`server` none), or a pulled one with its
/// server id and sync base.
fn insert_partner(conn: &Connection, row: &Row, server: Option<(&str, &str)>) {
    let state = if server.is_some() { "synced" } else { "pending" };
    conn.prepare_cached(INSERT_PARTNER)
        .unwrap()
        .execute(params![
            row.key,
            row.company_name,
            row.sales_amount,
            row.partner_type,
            row.email,
            row.frequency,
            row.payment_terms,
            state,
            NOW,
            server.map(|(id, _)| id),
            server.map(|(_, base)| base)
        ])
        .unwrap();
}

/// A new local partner and its outbox entry.
fn insert_new(conn: &Connection, row: &Row, payload: &str) {
    insert_partner(conn, row, None);
    conn.prepare_cached(INSERT_OUTBOX).unwrap().execute(params![row.key, payload, NOW]).unwrap();
}

/// Marks the partners inserted from now on as not yet indexed for search, as the store does.
fn defer_index(conn: &Connection) {
    conn.prepare_cached(DEFER_PARTNER_INDEX).unwrap().execute([]).unwrap();
}

/// Runs `load` with the search index of its rows built in one statement at
/// the end, as the store's bulk loads do (migration 0005).
fn index_deferred(conn: &Connection, load: impl FnOnce()) {
    defer_index(conn);
    load();
    conn.execute(INDEX_DEFERRED_PARTNERS, []).unwrap();
    conn.execute("DELETE FROM search_index_deferred", []).unwrap();
}

/// Saves rows one at a time, each in its own durable transaction: the
/// partner, marked for search indexing later, and its outbox entry.
pub struct Saves(Connection);

impl Saves {
    pub fn open(path: &Path) -> Self {
        Self(open(path))
    }

    /// Saves `row`; the time it took.
    pub fn save(&self, row: &Row) -> Duration {
        let payload = row.fields_json();
        let t = Instant::now();
        let tx = write(&self.0);
        defer_index(&tx);
        insert_new(&tx, row, &payload);
        tx.commit().unwrap();
        t.elapsed()
    }
}

/// All rows as new local partners with their outbox entries, in one transaction.
pub fn import(path: &Path, rows: &[Row]) -> Duration {
    let conn = open(path);
    let payloads: Vec<String> = rows.iter().map(Row::fields_json).collect();
    let t = Instant::now();
    let tx = write(&conn);
    index_deferred(&tx, || rows.iter().zip(&payloads).for_each(|(row, payload)| insert_new(&tx, row, payload)));
    tx.commit().unwrap();
    t.elapsed()
}

/// All rows as synced partners with their server columns and sync base (no
/// outbox), in transactions of `batch` rows, as a pull stores them: commits
/// that do not wait for the disk (`Store::relax_sync_durability`), the log
/// copied into the database once at the end (`Store::set_bulk_writes`).
pub fn pull(path: &Path, rows: &[Row], batch: usize) -> Duration {
    let conn = open(path);
    conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA wal_autocheckpoint = 65536").unwrap();
    let prepared: Vec<(String, String)> = rows.iter().map(|r| (Uuid::new_v4().to_string(), r.fields_json())).collect();
    let t = Instant::now();
    for (rows, prepared) in rows.chunks(batch).zip(prepared.chunks(batch)) {
        let tx = write(&conn);
        index_deferred(&tx, || {
            for (row, (server_id, base)) in rows.iter().zip(prepared) {
                insert_partner(&tx, row, Some((server_id, base)));
            }
        });
        tx.commit().unwrap();
    }
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(())).unwrap();
    t.elapsed()
}
