//! A damaged, locked, newer or failing-to-migrate database gives a clear error
//! and is never overwritten.

use std::path::Path;
use std::time::Duration;

use partnerbook::store::{OpenOptions, Partners};
use partnerbook::{PartnerDraft, Store, StoreError};
use rusqlite::Connection;
use rusqlite_migration::{M, Migrations};

fn draft() -> PartnerDraft {
    PartnerDraft {
        company_name: "Acme".into(),
        sales_amount: "1".into(),
        partner_type: "supplier".into(),
        email: "a@acme.example".into(),
        frequency: "weekly".into(),
        payment_terms: "net 15".into(),
    }
}

fn bytes(path: &Path) -> Vec<u8> {
    std::fs::read(path).unwrap()
}

#[test]
fn a_file_that_is_not_a_database_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    for (name, content) in [
        ("text.db", b"These are my meeting notes, not a database.\n".repeat(200)),
        ("random.db", (0..8192u32).map(|i| (i.wrapping_mul(2654435761) >> 13) as u8).collect()),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &content).unwrap();
        let err = Store::open(&path).err().expect("must refuse");
        assert!(matches!(err, StoreError::NotADatabase { .. }), "{name}: {err:?}");
        let message = err.to_string();
        assert!(message.contains("not a Partnerbook database") && message.contains("left untouched"), "{message}");
        assert_eq!(bytes(&path), content, "{name} was modified");
        assert!(!dir.path().join(format!("{name}-wal")).exists());
    }
}

#[test]
fn a_database_with_damaged_pages_reports_damage_without_overwriting() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("damaged.db");
    {
        let mut store = Store::open(&path).unwrap();
        for i in 0..300 {
            let mut d = draft();
            d.company_name = format!("Company {i} {}", "x".repeat(80));
            store.create_partner(&d, None).unwrap();
        }
    }
    // Checkpointed and closed: everything is in the main file. Scribble over its middle pages.
    let mut content = bytes(&path);
    assert!(content.len() > 8 * 4096, "test needs a multi-page file");
    let end = content.len() - 4096;
    for b in &mut content[3 * 4096..end] {
        *b = 0xA5;
    }
    std::fs::write(&path, &content).unwrap();

    let outcome = Store::open(&path).and_then(|s| {
        s.list_partners(&Default::default())?;
        Ok(s)
    });
    let err = outcome.err().expect("damage must be reported");
    assert!(
        matches!(err, StoreError::Damaged(_) | StoreError::NotADatabase { .. } | StoreError::Migration { .. }),
        "{err:?}"
    );
    assert_eq!(bytes(&path), content, "a damaged file must not be rewritten");
}

#[test]
fn a_locked_database_gives_a_clear_error_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("locked.db");
    let mut store = Store::open_with(&path, &OpenOptions { busy_timeout: Duration::from_millis(200) }).unwrap();
    store.create_partner(&draft(), None).unwrap();

    // Another process holds the write lock.
    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE; UPDATE partners SET company_name = company_name;").unwrap();

    let err = store.create_partner(&draft(), None).unwrap_err();
    assert!(matches!(err, StoreError::Locked), "{err:?}");
    assert!(err.to_string().contains("another Partnerbook"), "{err}");
    other.execute_batch("ROLLBACK").unwrap();

    assert_eq!(store.list_partners(&Default::default()).unwrap().total, 1);
    assert_eq!(store.outbox().all().unwrap().len(), 1);
    // Once the lock is gone, saving works again.
    store.create_partner(&draft(), None).unwrap();
    assert_eq!(store.list_partners(&Default::default()).unwrap().total, 2);
}

#[test]
fn a_database_from_a_newer_version_is_refused_and_left_untouched() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("newer.db");
    drop(Store::open(&path).unwrap());
    {
        let conn = Connection::open(&path).unwrap();
        conn.execute_batch("PRAGMA user_version = 99; PRAGMA wal_checkpoint(TRUNCATE);").unwrap();
    }
    let before = bytes(&path);
    let err = Store::open(&path).err().expect("must refuse");
    match &err {
        StoreError::TooNew { found, supported, .. } => {
            assert_eq!(*found, 99);
            assert_eq!(*supported, partnerbook::store::schema_version());
        }
        other => panic!("{other:?}"),
    }
    assert!(err.to_string().contains("newer Partnerbook"));
    assert_eq!(bytes(&path), before);
}

#[test]
fn a_failed_migration_leaves_the_old_database_as_it_was() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upgrade.db");
    let key = {
        let mut store = Store::open(&path).unwrap();
        store.create_partner(&draft(), None).unwrap().key
    };
    let version_before = partnerbook::store::schema_version();

    // A next version whose second statement fails half way.
    let mut steps: Vec<M> = partnerbook::store::migration_sql().iter().map(|sql| M::up(sql)).collect();
    steps.push(M::up(
        "ALTER TABLE partners ADD COLUMN notes TEXT; UPDATE partners SET notes = 'x'; SELECT no_such_function();",
    ));
    let broken = Migrations::new(steps);
    let err = Store::open_migrating(&path, &OpenOptions::default(), &broken).err().expect("migration must fail");
    assert!(matches!(err, StoreError::Migration { .. }), "{err:?}");
    assert!(err.to_string().contains("left as it was"));

    let conn = Connection::open(&path).unwrap();
    let version: i64 = conn.query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
    assert_eq!(version as usize, version_before);
    let has_notes: i64 = conn
        .query_row("SELECT count(*) FROM pragma_table_info('partners') WHERE name = 'notes'", [], |r| r.get(0))
        .unwrap();
    assert_eq!(has_notes, 0, "the half-applied migration was rolled back");
    drop(conn);
    let store = Store::open(&path).unwrap();
    assert_eq!(store.get::<Partners>(key).unwrap().fields.company_name, "Acme");
}

#[test]
fn a_search_while_another_process_writes_answers_from_the_index_as_it_is() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("busy.db");
    let store = &mut Store::open(&path).unwrap(); // waits up to 5 s for a write lock
    store.create_partner(&draft(), None).unwrap(); // not yet in the search index
    let search = partnerbook::store::PartnerQuery { search: Some("acme".into()), ..Default::default() };

    let other = Connection::open(&path).unwrap();
    other.execute_batch("BEGIN IMMEDIATE; UPDATE partners SET company_name = company_name;").unwrap();
    // The new partner cannot be indexed while the other writer holds the lock:
    // the search answers from the index as it is, without an error.
    assert_eq!(store.list_partners(&search).unwrap().total, 0);
    other.execute_batch("ROLLBACK").unwrap();

    // Writes still wait for a lock (the search put their wait back).
    let wait: i64 = store.connection().query_row("PRAGMA busy_timeout", [], |r| r.get(0)).unwrap();
    assert_eq!(wait, 5000);
    other.execute_batch("BEGIN IMMEDIATE; UPDATE partners SET company_name = company_name;").unwrap();
    let release = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        other.execute_batch("ROLLBACK").unwrap();
    });
    store.create_partner(&draft(), None).unwrap();
    release.join().unwrap();
    assert_eq!(store.list_partners(&search).unwrap().total, 2);
}
