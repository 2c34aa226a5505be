//! The store against real SQLite files: records, outbox, search, hostile values.

use crate::support;
use partnerbook::store::{Entity, Op, OrganizationQuery, Organizations, Paging, PartnerQuery, PartnerSort, Partners};
use partnerbook::{
    Contact, LocationDraft, OrgType, OrganizationDraft, PartnerDraft, PartnerPatch, PartnerType, Store, StoreError,
    SyncState,
};

fn draft(name: &str, email: &str) -> PartnerDraft {
    PartnerDraft {
        company_name: name.into(),
        sales_amount: "1000".into(),
        partner_type: "customer".into(),
        email: email.into(),
        frequency: "monthly".into(),
        payment_terms: "net 30".into(),
    }
}

fn org_draft(name: &str) -> OrganizationDraft {
    OrganizationDraft {
        name: name.into(),
        org_type: "F".into(),
        address: "1 Main St".into(),
        country: "VN".into(),
        phone: "+84 123".into(),
        contacts: vec![
            Contact { first_name: "Lan".into(), last_name: Some("Nguyen".into()), ..Default::default() },
            Contact { first_name: "Minh".into(), email: Some("minh@factory.example".into()), ..Default::default() },
        ],
        ..Default::default()
    }
}

#[test]
fn partner_lifecycle_writes_outbox_in_the_same_transaction() {
    let (_dir, mut store) = support::temp_store("partnerbook.db");
    let p = store.create_partner(&draft("Acme", "a@acme.example"), None).unwrap();
    assert_eq!(p.sync_state, SyncState::Pending);
    assert_eq!(p.key.get_version_num(), 7);
    let outbox = store.outbox().all().unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].op, Op::Create);
    assert_eq!(outbox[0].payload["company_name"], "Acme");
    assert_eq!(outbox[0].payload["sales_amount"], 1000);

    // Editing a create that was never sent keeps one create, with the new body.
    let p2 = store.edit_partner(p.key, &PartnerPatch { sales_amount: Some("5".into()), ..Default::default() }).unwrap();
    assert_eq!(p2.fields.sales_amount, 5);
    let outbox = store.outbox().all().unwrap();
    assert_eq!(outbox.len(), 1);
    assert_eq!(outbox[0].op, Op::Create);
    assert_eq!(outbox[0].payload["sales_amount"], 5);

    // Saving the same values again queues nothing.
    store.update_partner(p.key, &p2.fields.to_draft()).unwrap();
    assert_eq!(store.outbox().all().unwrap().len(), 1);

    // Deleting a never-sent partner: nothing is left to tell the server.
    let deleted = store.delete::<Partners>(p.key).unwrap();
    assert!(deleted.deleted_at.is_some());
    assert!(store.outbox().all().unwrap().is_empty());
    assert_eq!(deleted.sync_state, SyncState::Synced);
    assert!(store.list_partners(&PartnerQuery::default()).unwrap().items.is_empty());
    let with_deleted =
        PartnerQuery { paging: Paging { include_deleted: true, ..Paging::default() }, ..Default::default() };
    assert_eq!(store.list_partners(&with_deleted).unwrap().total, 1);
    assert!(matches!(store.delete::<Partners>(p.key), Err(StoreError::Deleted { .. })));
    assert!(matches!(store.update_partner(p.key, &draft("X", "x@x.example")), Err(StoreError::Deleted { .. })));
}

#[test]
fn a_sent_create_is_never_rewritten() {
    let (_dir, mut store) = support::temp_store("partnerbook.db");
    let p = store.create_partner(&draft("Acme", "a@acme.example"), None).unwrap();
    let seq = store.outbox().all().unwrap()[0].seq;
    store.outbox_mut().begin_attempts(&[seq]).unwrap();
    store.outbox_mut().retry_at(seq, None, "timed out").unwrap();
    store.edit_partner(p.key, &PartnerPatch { frequency: Some("weekly".into()), ..Default::default() }).unwrap();
    let outbox = store.outbox().of(Entity::Partner, p.key).unwrap();
    assert_eq!(outbox.iter().map(|e| e.op).collect::<Vec<_>>(), vec![Op::Create, Op::Update]);
    assert_eq!(outbox[0].payload["frequency"], "monthly", "the attempted body stays as sent");
    assert_eq!(outbox[1].payload["frequency"], "weekly");
    assert_ne!(outbox[0].idempotency_key(), outbox[1].idempotency_key());
    // A second edit folds into the unsent update.
    store.edit_partner(p.key, &PartnerPatch { frequency: Some("daily".into()), ..Default::default() }).unwrap();
    let outbox = store.outbox().of(Entity::Partner, p.key).unwrap();
    assert_eq!(outbox.len(), 2);
    assert_eq!(outbox[1].payload["frequency"], "daily");
    // Delete after a sent create: the delete must be queued.
    store.delete::<Partners>(p.key).unwrap();
    let ops: Vec<_> = store.outbox().of(Entity::Partner, p.key).unwrap().iter().map(|e| e.op).collect();
    assert_eq!(ops, vec![Op::Create, Op::Delete]);
}

#[test]
fn invalid_input_writes_nothing() {
    let (_dir, mut store) = support::temp_store("partnerbook.db");
    let mut bad = draft("", "not-an-email");
    bad.sales_amount = "-1".into();
    let err = store.create_partner(&bad, None).unwrap_err();
    let StoreError::Invalid(report) = err else { panic!("expected a validation error") };
    let fields: Vec<_> = report.fields.iter().map(|f| f.field.as_str()).collect();
    assert_eq!(fields, ["company_name", "sales_amount", "email"]);
    assert!(store.outbox().all().unwrap().is_empty());
    assert_eq!(store.list_partners(&PartnerQuery::default()).unwrap().total, 0);
}

#[test]
fn hostile_strings_are_stored_and_returned_verbatim() {
    let (_dir, mut store) = support::temp_store("partnerbook.db");
    let hostile = [
        "'); DROP TABLE partners;--",
        "<img src=x onerror=alert(1)>",
        "=HYPERLINK(\"http://evil.example\")",
        "Robert\"; DELETE FROM outbox; --",
        "tab\there and\nnewline",
        "\u{202e}rtl override",
        "%s%n%x",
    ];
    for (i, h) in hostile.iter().enumerate() {
        let mut d = draft(h, &format!("h{i}@evil.example"));
        d.frequency = h.chars().take(30).collect();
        d.payment_terms = h.chars().take(50).collect();
        let p = store.create_partner(&d, None).unwrap();
        let back = store.get::<Partners>(p.key).unwrap();
        assert_eq!(back.fields.company_name, *h);
        assert_eq!(back.fields.frequency, h.chars().take(30).collect::<String>().trim());
    }
    assert_eq!(store.list_partners(&PartnerQuery::default()).unwrap().total, hostile.len() as u64);
    // The injection attempts did not touch the schema.
    assert_eq!(store.outbox().all().unwrap().len(), hostile.len());
}

#[test]
fn non_ascii_lengths_count_characters() {
    let (_dir, mut store) = support::temp_store("partnerbook.db");
    for (text, ok) in [
        ("é".repeat(100), true),
        ("é".repeat(101), false),
        ("株".repeat(100), true),
        ("😀".repeat(100), true),
        ("😀".repeat(101), false),
    ] {
        let result = store.create_partner(&draft(&text, "u@unicode.example"), None);
        assert_eq!(result.is_ok(), ok, "{} chars of {:?}", text.chars().count(), text.chars().next());
        if let Ok(p) = result {
            assert_eq!(store.get::<Partners>(p.key).unwrap().fields.company_name, text);
        }
    }
}

#[test]
fn search_is_prefix_on_words_of_name_and_email() {
    let (_dir, mut store) = support::temp_store("partnerbook.db");
    for (name, email) in [
        ("Acme Corporation", "sales@acme.example"),
        ("Café Müller GmbH", "info@mueller.example"),
        ("株式会社サンプル", "contact@sample.example"),
        ("Globex", "jsmith@globex.example"),
        ("Initech 🚀 Labs", "bill@initech.example"),
    ] {
        store.create_partner(&draft(name, email), None).unwrap();
    }
    fn found(store: &Store, text: &str) -> Vec<String> {
        let q = PartnerQuery { search: Some(text.into()), ..Default::default() };
        store.list_partners(&q).unwrap().items.into_iter().map(|p| p.fields.company_name).collect()
    }
    assert_eq!(found(&store, "acm"), ["Acme Corporation"]);
    assert_eq!(found(&store, "corp"), ["Acme Corporation"], "any word of the name");
    assert_eq!(found(&store, "cafe"), ["Café Müller GmbH"], "diacritics folded");
    assert_eq!(found(&store, "MÜLL"), ["Café Müller GmbH"], "case folded");
    assert_eq!(found(&store, "株式"), ["株式会社サンプル"]);
    assert_eq!(found(&store, "jsmi"), ["Globex"], "email words");
    assert_eq!(found(&store, "jsmith@glo"), ["Globex"], "typed email prefix");
    assert_eq!(found(&store, "lab"), ["Initech 🚀 Labs"]);
    assert!(found(&store, "zzz").is_empty());
    assert!(found(&store, "\" OR 1=1 --").is_empty(), "FTS syntax is treated as words");
    assert_eq!(found(&store, "  ").len(), 5, "blank search means no filter");

    // Search follows edits and deletes.
    let globex = store.list_partners(&PartnerQuery { search: Some("globex".into()), ..Default::default() }).unwrap();
    let key = globex.items[0].key;
    store.edit_partner(key, &PartnerPatch { company_name: Some("Umbrella".into()), ..Default::default() }).unwrap();
    assert_eq!(found(&store, "umbr"), ["Umbrella"]);
    assert!(found(&store, "glob").iter().all(|n| n != "Globex"));
    store.delete::<Partners>(key).unwrap();
    assert!(found(&store, "umbr").is_empty());
}

#[test]
fn lists_page_sort_and_filter() {
    let (_dir, mut store) = support::temp_store("partnerbook.db");
    let org = uuid::Uuid::now_v7();
    for i in 0..25 {
        let mut d = draft(&format!("Company {i:02}"), &format!("c{i}@x.example"));
        d.sales_amount = (i * 10).to_string();
        d.partner_type = if i % 2 == 0 { "customer" } else { "supplier" }.into();
        store.create_partner(&d, (i % 5 == 0).then_some(org)).unwrap();
    }
    let page = store
        .list_partners(&PartnerQuery {
            paging: Paging { limit: 10, offset: 20, ..Paging::default() },
            ..Default::default()
        })
        .unwrap();
    assert_eq!(page.total, 25);
    assert_eq!(page.items.len(), 5);
    assert_eq!(page.items[0].fields.company_name, "Company 20");

    let q = PartnerQuery {
        sort: PartnerSort::SalesAmount,
        paging: Paging { descending: true, limit: 3, ..Paging::default() },
        ..Default::default()
    };
    let top: Vec<_> = store.list_partners(&q).unwrap().items.iter().map(|p| p.fields.sales_amount).collect();
    assert_eq!(top, [240, 230, 220]);

    let q = PartnerQuery { partner_type: Some(PartnerType::Supplier), ..Default::default() };
    assert_eq!(store.list_partners(&q).unwrap().total, 12);
    let q = PartnerQuery {
        organization: Some(partnerbook::store::OrganizationFilter::Connected(org)),
        ..Default::default()
    };
    assert_eq!(store.list_partners(&q).unwrap().total, 5);
    let q = PartnerQuery { organization: Some(partnerbook::store::OrganizationFilter::Own), ..Default::default() };
    assert_eq!(store.list_partners(&q).unwrap().total, 20, "one's own: stored without an organization");
    let q = PartnerQuery { sync_state: Some(SyncState::Synced), ..Default::default() };
    assert_eq!(store.list_partners(&q).unwrap().total, 0);
    let q =
        PartnerQuery { sync_state: Some(SyncState::Pending), search: Some("company 1".into()), ..Default::default() };
    assert_eq!(store.list_partners(&q).unwrap().total, 10, "every word must match: '1' prefixes 10-19");
}

#[test]
fn key_prefixes_resolve_like_git_hashes() {
    let (_dir, mut store) = support::temp_store("partnerbook.db");
    let p = store.create_partner(&draft("Acme", "a@acme.example"), None).unwrap();
    let text = p.key.to_string();
    assert_eq!(store.resolve_key::<Partners>(&text[..8]).unwrap(), p.key);
    assert_eq!(store.resolve_key::<Partners>(&text.to_uppercase()).unwrap(), p.key);
    assert!(matches!(store.resolve_key::<Partners>("ffffffff"), Err(StoreError::NotFound { .. })));
    assert!(matches!(store.resolve_key::<Partners>("'; --"), Err(StoreError::NotFound { .. })));
    store.create_partner(&draft("Other", "o@acme.example"), None).unwrap();
    // Two v7 keys made in the same millisecond share their first 12 hex digits.
    assert!(matches!(store.resolve_key::<Partners>(&text[..4]), Err(StoreError::Ambiguous { .. })));
}

#[test]
fn organizations_keep_contacts_in_order() {
    let (_dir, mut store) = support::temp_store("partnerbook.db");
    let mut d = org_draft("Saigon Textiles");
    d.location = Some(LocationDraft { latitude: "10.7769".into(), longitude: "106.7009".into() });
    d.billing_email = Some("  billing@saigon.example ".into());
    let o = store.create_organization(&d).unwrap();
    assert_eq!(o.fields.org_type, OrgType::Factory);
    assert_eq!(o.fields.billing_email.as_deref(), Some("billing@saigon.example"));
    let back = store.get::<Organizations>(o.key).unwrap();
    assert_eq!(back, o);
    assert_eq!(back.fields.contacts.len(), 2);
    assert_eq!(back.fields.contacts[1].first_name, "Minh");
    assert_eq!(back.fields.location.unwrap().latitude, 10.7769);

    let entry = &store.outbox().all().unwrap()[0];
    assert_eq!(entry.payload["id"], o.key.to_string(), "the local key is the client-chosen id");
    assert_eq!(entry.payload["type"], "F");
    assert_eq!(entry.payload["contacts"][0]["firstName"], "Lan");
    assert!(entry.payload.get("linkedTo").is_none());

    // Replace the contacts; the old ones are gone.
    let mut d2 = back.fields.to_draft();
    d2.contacts = vec![Contact { first_name: "Hoa".into(), ..Default::default() }];
    d2.location = None;
    let o2 = store.update_organization(o.key, &d2).unwrap();
    assert_eq!(o2.fields.contacts.len(), 1);
    assert_eq!(o2.fields.location, None);
    assert_eq!(store.get::<Organizations>(o.key).unwrap().fields.contacts[0].first_name, "Hoa");
    assert_eq!(store.outbox().all().unwrap().len(), 1, "still one unsent create");

    // An update that fails validation changes nothing.
    let mut bad = o2.fields.to_draft();
    bad.contacts.clear();
    bad.country = "ZZ".into();
    let StoreError::Invalid(r) = store.update_organization(o.key, &bad).unwrap_err() else { panic!() };
    assert_eq!(r.fields.len(), 2);
    assert_eq!(store.get::<Organizations>(o.key).unwrap(), o2);

    let found =
        store.list_organizations(&OrganizationQuery { search: Some("saig".into()), ..Default::default() }).unwrap();
    assert_eq!(found.total, 1);
    assert_eq!(found.items[0].fields.contacts.len(), 1);
    let q = OrganizationQuery { country: Some("vn".into()), org_type: Some(OrgType::Factory), ..Default::default() };
    assert_eq!(store.list_organizations(&q).unwrap().total, 1);

    store.delete::<Organizations>(o.key).unwrap();
    assert_eq!(store.list_organizations(&OrganizationQuery::default()).unwrap().total, 0);
    assert!(store.outbox().all().unwrap().is_empty());
}

#[test]
fn data_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nested/dirs/partnerbook.db");
    let key = {
        let mut store = Store::open(&path).unwrap();
        store.create_partner(&draft("Durable", "d@durable.example"), None).unwrap().key
    };
    let store = Store::open(&path).unwrap();
    assert_eq!(store.get::<Partners>(key).unwrap().fields.company_name, "Durable");
    let mode: String = store.connection().query_row("PRAGMA journal_mode", [], |r| r.get(0)).unwrap();
    assert_eq!(mode, "wal");
    let fk: i64 = store.connection().query_row("PRAGMA foreign_keys", [], |r| r.get(0)).unwrap();
    assert_eq!(fk, 1);
}

/// A search matching more than the count cap says so and pages through its
/// matches in the search index's order; a narrower one is sorted by name.
#[test]
fn a_broad_search_is_capped_and_a_narrow_one_sorted() {
    use partnerbook::store::SEARCH_COUNT_CAP;
    let (_dir, store) = support::temp_store("broad.db");
    let n = SEARCH_COUNT_CAP + 2_000;
    store
        .connection()
        .execute_batch(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
             INSERT INTO partners (key, company_name, sales_amount, partner_type, email, frequency, payment_terms,
                                   sync_state, created_at, updated_at)
             SELECT printf('%08x-0000-7000-8000-%012x', i, i), CASE i % 3 WHEN 0 THEN 'zeta ' ELSE 'Alpha ' END || i,
                    i, 'customer', 'b' || i || '@x.example', 'm', 'n', 'synced', '2026-01-01T00:00:00Z',
                    '2026-01-01T00:00:00Z' FROM n;"
        ))
        .unwrap();
    for (text, offset) in [("b", 0), ("b", 5_000), ("alp", 0), ("zeta", 30)] {
        let page = store
            .list_partners(&PartnerQuery {
                search: Some(text.into()),
                paging: Paging { limit: 25, offset, ..Paging::default() },
                ..Default::default()
            })
            .unwrap();
        let expected: Vec<String> = store
            .connection()
            .prepare(
                "SELECT p.company_name FROM partners p JOIN partners_fts f ON f.rowid = p.rowid
                 WHERE partners_fts MATCH ?1 ORDER BY CASE WHEN (SELECT count(*) FROM partners_fts
                     WHERE partners_fts MATCH ?1) > 10000 THEN p.rowid ELSE 0 END,
                   p.company_name COLLATE NOCASE, p.rowid LIMIT 25 OFFSET ?2",
            )
            .unwrap()
            .query_map(rusqlite::params![format!("\"{text}\"*"), offset as i64], |r| r.get(0))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        let got: Vec<String> = page.items.iter().map(|p| p.fields.company_name.clone()).collect();
        assert_eq!(got, expected, "{text} at {offset}");
        let all: u64 = store
            .connection()
            .query_row("SELECT count(*) FROM partners_fts WHERE partners_fts MATCH ?1", [format!("\"{text}\"*")], |r| {
                r.get::<_, i64>(0)
            })
            .unwrap() as u64;
        assert_eq!(page.total_capped, all > SEARCH_COUNT_CAP, "{text}");
        assert_eq!(page.total, all.min(SEARCH_COUNT_CAP + 1));
    }
}

/// Every column of every partner, in rowid order, as SQLite holds it.
fn partner_rows(path: &std::path::Path) -> Vec<Vec<rusqlite::types::Value>> {
    let conn = rusqlite::Connection::open(path).unwrap();
    let mut stmt = conn.prepare("SELECT * FROM partners ORDER BY rowid").unwrap();
    let width = stmt.column_count();
    stmt.query_map([], |r| (0..width).map(|i| r.get(i)).collect()).unwrap().map(Result::unwrap).collect()
}

#[test]
fn the_upgrade_to_lighter_indexes_keeps_every_partner_findable() {
    use partnerbook::remote::wire::ServerPartner;
    use partnerbook::store::OpenOptions;
    use rusqlite_migration::{M, Migrations};

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v5.db");
    let version_5 = Migrations::new(partnerbook::store::migration_sql()[..5].iter().map(|sql| M::up(sql)).collect());
    let server_id = uuid::Uuid::new_v4();
    {
        let mut store = Store::open_migrating(&path, &OpenOptions::default(), &version_5).unwrap();
        store.create_partner(&draft("Acme Trading", "buyer@acme.example"), None).unwrap();
        let gone = store.create_partner(&draft("Gone Ltd", "x@gone.example"), None).unwrap();
        store.delete::<Partners>(gone.key).unwrap();
        let fields = draft("Zenith Supply", "orders@zenith.example").validate_fields().unwrap();
        let pulled = ServerPartner {
            id: server_id,
            fields,
            created_at: None,
            updated_at: Some(chrono::Utc::now()),
            invitation_status: Some("invited".into()),
            guest_organization_id: None,
        };
        store.pull_page::<partnerbook::store::Partners>(None, &[pulled]).unwrap();
        // A search indexes the saves; one more save stays waiting across the upgrade.
        store.list_partners(&PartnerQuery { search: Some("a".into()), ..Default::default() }).unwrap();
        store.create_partner(&draft("Waiting Co", "w@waiting.example"), None).unwrap();
    }
    let before = partner_rows(&path);

    let store = Store::open(&path).unwrap();
    // Columns later migrations add come after the old ones, empty.
    let after = partner_rows(&path);
    let width = before[0].len();
    let old: Vec<_> = after.iter().map(|row| row[..width].to_vec()).collect();
    assert_eq!(old, before, "every column of every partner, rowids included");
    assert!(after.iter().all(|row| row[width..].iter().all(|v| *v == rusqlite::types::Value::Null)));
    for (typed, name) in [("acme", "Acme Trading"), ("zenith", "Zenith Supply"), ("waiting", "Waiting Co")] {
        let found = store.list_partners(&PartnerQuery { search: Some(typed.into()), ..Default::default() }).unwrap();
        assert_eq!(found.items.iter().map(|p| p.fields.company_name.as_str()).collect::<Vec<_>>(), [name]);
    }
    let conn = store.connection();
    conn.execute("INSERT INTO partners_fts (partners_fts) VALUES ('integrity-check')", []).unwrap();
    let pending = PartnerQuery { sync_state: Some(SyncState::Pending), ..Default::default() };
    assert_eq!(store.list_partners(&pending).unwrap().total, 2);
    let synced = PartnerQuery { sync_state: Some(SyncState::Synced), ..Default::default() };
    assert_eq!(store.list_partners(&synced).unwrap().total, 1);

    // A server id still belongs to one partner only.
    let twice =
        conn.execute("UPDATE partners SET server_id = ?1 WHERE company_name = 'Acme Trading'", [server_id.to_string()]);
    assert!(twice.unwrap_err().to_string().contains("UNIQUE"));
}

/// Conflicts written before migration 0008 named their whole-record kind in
/// `field` (`_possible_duplicate`, `_deleted_remotely`); after it, the kind
/// has its own column and a field conflict keeps its field.
#[test]
fn old_sentinel_conflicts_become_kinds() {
    use partnerbook::store::ConflictKind;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("v7.db");
    let version_7 = rusqlite_migration::Migrations::new(
        partnerbook::store::migration_sql()[..7].iter().map(|sql| rusqlite_migration::M::up(sql)).collect(),
    );
    let key = {
        let mut old = Store::open_migrating(&path, &Default::default(), &version_7).unwrap();
        let key = old.create_partner(&draft("Acme", "a@acme.example"), None).unwrap().key;
        for field in ["_possible_duplicate", "_deleted_remotely", "email"] {
            old.connection()
                .execute(
                    "INSERT INTO conflicts (entity, record_key, field, base_value, local_value, remote_value, detected_at)
                     VALUES ('partner', ?1, ?2, 'null', 'null', 'null', '2026-01-01T00:00:00.000Z')",
                    rusqlite::params![key.to_string(), field],
                )
                .unwrap();
        }
        key
    };
    let store = Store::open(&path).unwrap();
    let found: Vec<(ConflictKind, String)> = store
        .conflicts()
        .unresolved()
        .unwrap()
        .into_iter()
        .filter(|c| c.record_key == key)
        .map(|c| (c.kind, c.field))
        .collect();
    assert_eq!(
        found,
        vec![
            (ConflictKind::PossibleDuplicate, String::new()),
            (ConflictKind::DeletedRemotely, String::new()),
            (ConflictKind::Field, "email".to_string()),
        ]
    );
}

/// Answering an organization's conflict keeps its link to another
/// organization, which only the server sets (it was dropped before the planner).
#[test]
fn resolving_an_organization_conflict_keeps_its_link() {
    use partnerbook::remote::wire::ServerOrganization;
    use partnerbook::store::{Organizations, Resolution};
    let (_dir, mut store) = support::temp_store("partnerbook.db");
    let org = store.create_organization(&org_draft("Org A")).unwrap();
    let create = store.outbox().of(Entity::Organization, org.key).unwrap()[0].seq;
    store.outbox_mut().begin_attempts(&[create]).unwrap();
    let on_server = |name: &str| {
        let mut fields = org_draft(name).validate_fields().unwrap();
        fields.linked_to = Some("global-1".into());
        ServerOrganization { id: org.key.to_string(), fields, created_at: None, updated_at: None }
    };
    store.change_done::<Organizations>(create, org.key, Some(&on_server("Org A"))).unwrap();
    assert_eq!(store.get::<Organizations>(org.key).unwrap().fields.linked_to.as_deref(), Some("global-1"));
    // The name changes on both sides.
    store.update_organization(org.key, &org_draft("Org B")).unwrap();
    store.pull_page::<Organizations>(None, &[on_server("Org C")]).unwrap();
    assert_eq!(store.conflicts().unresolved().unwrap().len(), 1);
    store.conflicts_mut().resolve(Entity::Organization, org.key, |_| Resolution::Theirs).unwrap();
    let after = store.get::<Organizations>(org.key).unwrap();
    assert_eq!(after.fields.name, "Org C");
    assert_eq!(after.fields.linked_to.as_deref(), Some("global-1"), "the link survives the answer");
}

/// A partner saved here whose create was sent and whose answer was lost, with that create's seq.
fn sent_create(store: &mut Store, draft: &PartnerDraft) -> (partnerbook::Partner, i64) {
    let p = store.create_partner(draft, None).unwrap();
    let create = store.outbox().of(Entity::Partner, p.key).unwrap()[0].seq;
    store.outbox_mut().begin_attempts(&[create]).unwrap();
    (p, create)
}

/// A partner as the server holds it under `id`, with these fields.
fn on_server(id: u128, fields: &partnerbook::PartnerFields) -> partnerbook::remote::wire::ServerPartner {
    partnerbook::remote::wire::ServerPartner {
        id: uuid::Uuid::from_u128(id),
        fields: fields.clone(),
        created_at: None,
        updated_at: None,
        invitation_status: None,
        guest_organization_id: None,
    }
}

/// A second server record with a stored partner's very fields is asked about, not copied.
#[test]
fn a_second_server_record_of_a_stored_partner_is_asked_about_not_copied() {
    use partnerbook::store::{ConflictKind, Partners, Pulled, Resolution};
    let (_dir, mut store) = support::temp_store("partnerbook.db");
    let (p, create) = sent_create(&mut store, &draft("Twin Co", "twin@x.example"));
    let on_server = |id: u128| on_server(id, &p.fields);
    store.change_done::<Partners>(create, p.key, Some(&on_server(1))).unwrap();
    let pulled = store.pull_page::<Partners>(None, &[on_server(1), on_server(2)]).unwrap();
    assert_eq!(pulled, [Pulled::Unchanged, Pulled::Twin]);
    let again = store.pull_page::<Partners>(None, &[on_server(1), on_server(2)]).unwrap();
    assert_eq!(again, [Pulled::Unchanged, Pulled::Unchanged], "asked once");
    let asked = store.conflicts().unresolved().unwrap();
    assert_eq!(asked.len(), 1);
    assert_eq!(asked[0].kind, ConflictKind::TwinOnServer);
    assert_eq!(store.count_partners(&PartnerQuery::default()).unwrap(), 1, "not copied");
    // Removing the extra one stores it and deletes it, so the delete goes to the server.
    store.conflicts_mut().resolve(Entity::Partner, p.key, |_| Resolution::Theirs).unwrap();
    assert_eq!(store.count_partners(&PartnerQuery::default()).unwrap(), 1);
    let waiting = store.outbox().all().unwrap();
    assert_eq!(waiting.len(), 1);
    assert_eq!(waiting[0].op, Op::Delete);
}

/// A create that lands after it was sent again is a copy of the fields it was
/// created with. Edited since, then deleted here, the partner matches that copy
/// neither now nor as last agreed; the copy is still asked about, not stored
/// as a partner of its own (as the model test with writes later than the
/// settle window found it was).
#[test]
fn a_late_copy_of_a_partner_edited_and_deleted_since_is_asked_about_not_copied() {
    use partnerbook::store::{ConflictKind, Partners, Pulled};
    let (_dir, mut store) = support::temp_store("partnerbook.db");
    let (p, create) = sent_create(&mut store, &draft("Late Co", "late@x.example"));
    let as_created = p.fields.clone();
    store.change_done::<Partners>(create, p.key, Some(&on_server(1, &as_created))).unwrap();
    let push = |store: &mut Store, server: Option<&partnerbook::remote::wire::ServerPartner>| {
        let seq = store.outbox().of(Entity::Partner, p.key).unwrap()[0].seq;
        store.outbox_mut().begin_attempts(&[seq]).unwrap();
        store.change_done::<Partners>(seq, p.key, server).unwrap();
    };
    let mut edit = as_created.to_draft();
    edit.frequency = "weekly".into();
    let edited = store.update_partner(p.key, &edit).unwrap().fields;
    push(&mut store, Some(&on_server(1, &edited)));
    let late = |id: u128| partnerbook::remote::wire::ServerPartner {
        created_at: Some(chrono::Utc::now()),
        ..on_server(id, &as_created)
    };
    let pulled = store.pull_page::<Partners>(None, &[on_server(1, &edited), late(2)]).unwrap();
    assert_eq!(pulled, [Pulled::Unchanged, Pulled::Twin], "edited since");
    store.delete::<Partners>(p.key).unwrap();
    push(&mut store, None);
    let pulled = store.pull_page::<Partners>(None, &[late(3)]).unwrap();
    assert_eq!(pulled, [Pulled::Twin], "deleted since");
    let asked: Vec<_> = store.conflicts().unresolved().unwrap().into_iter().map(|c| (c.kind, c.field)).collect();
    let id = |n: u128| uuid::Uuid::from_u128(n).to_string();
    assert_eq!(asked, [(ConflictKind::TwinOnServer, id(2)), (ConflictKind::TwinOnServer, id(3))]);
    assert_eq!(store.count_partners(&PartnerQuery::default()).unwrap(), 0, "not copied");
}

/// An update whose answer was lost can land later than any window, over a
/// newer one (the API has no conditional update). The pull that finds the
/// server holding that old body knows it as this side's own write, keeps the
/// newer fields and sends them again (the model test with writes later than
/// the settle window lost a local edit this way).
#[test]
fn an_old_update_of_ours_landing_over_a_newer_one_is_sent_over_again() {
    use partnerbook::store::{Partners, Pulled};
    let (_dir, mut store) = support::temp_store("partnerbook.db");
    let (p, create) = sent_create(&mut store, &draft("Late Co", "late@x.example"));
    store.change_done::<Partners>(create, p.key, Some(&on_server(1, &p.fields))).unwrap();
    let version = |n: i64| Some(chrono::Utc::now() + chrono::TimeDelta::seconds(n));
    let send = |store: &mut Store, frequency: &str, lost_first: bool, n: i64| {
        let mut d = p.fields.to_draft();
        d.frequency = frequency.into();
        let fields = store.update_partner(p.key, &d).unwrap().fields;
        let seq = store.outbox().of(Entity::Partner, p.key).unwrap()[0].seq;
        store.outbox_mut().begin_attempts(&[seq]).unwrap();
        if lost_first {
            store.outbox_mut().remember_unsettled_write(seq).unwrap(); // timed out; sent again after the window
            store.outbox_mut().begin_attempts(&[seq]).unwrap();
        }
        let answer = partnerbook::remote::wire::ServerPartner { updated_at: version(n), ..on_server(1, &fields) };
        store.change_done::<Partners>(seq, p.key, Some(&answer)).unwrap();
        answer
    };
    let old = send(&mut store, "weekly", true, 1);
    send(&mut store, "daily", false, 2);
    // The first "weekly" request lands now.
    let landed = partnerbook::remote::wire::ServerPartner { updated_at: version(3), ..old };
    assert_eq!(store.pull_page::<Partners>(None, &[landed]).unwrap(), [Pulled::Updated]);
    assert_eq!(store.get::<Partners>(p.key).unwrap().fields.frequency, "daily", "the newer edit is kept");
    let queued = store.outbox().all().unwrap();
    assert_eq!((queued.len(), queued[0].op, queued[0].payload["frequency"].as_str()), (1, Op::Update, Some("daily")));
}

/// Twins an earlier version copied into the local list (the same six fields,
/// each linked to its own server record) become the same question, once;
/// `partnerbook doctor` finds them too.
#[test]
fn twins_stored_by_an_earlier_version_are_found_and_asked_about_once() {
    use partnerbook::store::{ConflictKind, Partners};
    let (dir, mut store) = support::temp_store("partnerbook.db");
    let link = |store: &mut Store, id: u128| {
        let (p, create) = sent_create(store, &draft("Copied Co", "copied@x.example"));
        store.change_done::<Partners>(create, p.key, Some(&on_server(id, &p.fields))).unwrap();
        p.key
    };
    let first = link(&mut store, 1);
    link(&mut store, 2);
    // A customer and a supplier sharing an address are no twins.
    let other = store
        .create_partner(
            &PartnerDraft { partner_type: "supplier".into(), ..draft("Copied Co", "copied@x.example") },
            None,
        )
        .unwrap();
    assert!(!store.conflicts().twins_checked().unwrap());
    assert_eq!(store.conflicts_mut().check_for_twins().unwrap(), 1);
    assert!(store.conflicts().twins_checked().unwrap());
    let asked = store.conflicts().unresolved().unwrap();
    assert_eq!((asked.len(), asked[0].kind, asked[0].record_key), (1, ConflictKind::TwinOnServer, first));
    assert_ne!(asked[0].record_key, other.key);
    assert_eq!(store.conflicts_mut().check_for_twins().unwrap(), 0, "asked once");
    let out = assert_cmd::Command::cargo_bin("partnerbook")
        .unwrap()
        .args(["--db", dir.path().join("partnerbook.db").to_str().unwrap(), "--json", "doctor"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), r#"{"twins_on_server":0}"#);
}

/// A server record with a lost create's very fields is that create only if
/// the server made it after the create was queued here: a colleague's
/// identical partner, entered an hour before, is never linked to it.
#[test]
fn a_server_record_older_than_a_lost_create_is_not_taken_for_it() {
    use partnerbook::store::{Partners, Pulled};
    let (_dir, mut store) = support::temp_store("partnerbook.db");
    let (p, _) = sent_create(&mut store, &draft("Same Co", "same@x.example"));
    let made = |id: u128, at: chrono::DateTime<chrono::Utc>| partnerbook::remote::wire::ServerPartner {
        created_at: Some(at),
        ..on_server(id, &p.fields)
    };
    let earlier = made(1, p.created_locally_at - chrono::TimeDelta::hours(1));
    assert_eq!(store.pull_page::<Partners>(None, &[earlier]).unwrap(), [Pulled::Unchanged]);
    assert_eq!(store.get::<Partners>(p.key).unwrap().server.id, None, "not linked");
    assert_eq!(store.outbox().of(Entity::Partner, p.key).unwrap().len(), 1, "the create still waits");
    assert_eq!(store.count_partners(&PartnerQuery::default()).unwrap(), 1, "not copied either");
    let timed = |id: u128| made(id, chrono::Utc::now());
    let untimed = on_server(2, &p.fields);
    assert_eq!(store.pull_page::<Partners>(None, &[untimed]).unwrap(), [Pulled::Unchanged], "no time, no proof");
    assert_eq!(store.pull_page::<Partners>(None, &[timed(3)]).unwrap(), [Pulled::Adopted]);
    assert_eq!(store.get::<Partners>(p.key).unwrap().server.id, Some(uuid::Uuid::from_u128(3)));
    assert!(store.outbox().of(Entity::Partner, p.key).unwrap().is_empty());
}

/// A page read before another process's change was answered, and applied
/// after it, holds an older version of the record: it changes nothing here
/// (taken as news, it undid that change locally; the model test with two
/// engines found it).
#[test]
fn a_pulled_version_older_than_the_stored_one_is_a_stale_read() {
    use partnerbook::store::{Partners, Pulled};
    let (_dir, mut store) = support::temp_store("partnerbook.db");
    let (p, create) = sent_create(&mut store, &draft("Fresh Co", "fresh@x.example"));
    let t = chrono::Utc::now();
    let version = |fields: &partnerbook::PartnerFields, at| partnerbook::remote::wire::ServerPartner {
        created_at: Some(t),
        updated_at: Some(at),
        ..on_server(1, fields)
    };
    // The other process sent an edit and stored the server's answer.
    let mut edited = p.fields.clone();
    edited.frequency = "weekly".into();
    let edit = store.update_partner(p.key, &edited.to_draft()).unwrap();
    store.change_done::<Partners>(create, p.key, Some(&version(&p.fields, t))).unwrap();
    let update = store.outbox().of(Entity::Partner, p.key).unwrap()[0].seq;
    store.outbox_mut().begin_attempts(&[update]).unwrap();
    let answer = version(&edit.fields, t + chrono::TimeDelta::seconds(2));
    store.change_done::<Partners>(update, p.key, Some(&answer)).unwrap();
    // This process read the page in between: the version before the edit.
    let stale = version(&p.fields, t + chrono::TimeDelta::seconds(1));
    assert_eq!(store.pull_page::<Partners>(None, &[stale]).unwrap(), [Pulled::Unchanged]);
    assert_eq!(store.get::<Partners>(p.key).unwrap().fields.frequency, "weekly", "the edit stands");
    assert!(store.conflicts().unresolved().unwrap().is_empty(), "nothing to ask");
    // A later version is news as ever.
    let mut theirs = edit.fields.clone();
    theirs.payment_terms = "net 60".into();
    let newer = version(&theirs, t + chrono::TimeDelta::seconds(3));
    assert_eq!(store.pull_page::<Partners>(None, &[newer]).unwrap(), [Pulled::Updated]);
    assert_eq!(store.get::<Partners>(p.key).unwrap().fields.payment_terms, "net 60");
}

/// The Sync screen reads the waiting changes a page at a time, by filter,
/// with every filter's count.
#[test]
fn the_outbox_is_read_a_page_at_a_time_by_filter() {
    use partnerbook::store::OutboxFilter;
    let mut store = Store::open_in_memory().unwrap();
    let drafts: Vec<_> = (0..1_050)
        .map(|i| draft(&format!("Paged {i}"), &format!("p{i}@paged.example")).validate_fields().unwrap())
        .collect();
    store.create_partners(&drafts, None).unwrap();
    let seqs: Vec<i64> = store.outbox().all().unwrap().iter().map(|e| e.seq).collect();
    store.connection().execute("UPDATE outbox SET state = 'rejected' WHERE seq = ?1", [seqs[3]]).unwrap();
    store.connection().execute("UPDATE outbox SET hold = 'not yet' WHERE seq IN (?1, ?2)", [seqs[5], seqs[6]]).unwrap();
    let counts = store.outbox().counts().unwrap();
    assert_eq!((counts.all, counts.waiting, counts.refused, counts.held), (1_050, 1_047, 1, 2));
    let page = store.outbox().page(None, 200, 1_000).unwrap();
    assert_eq!((page.total, page.items.len()), (1_050, 50));
    assert_eq!(page.items[0].seq, seqs[1_000], "oldest first, from the offset");
    let held = store.outbox().page(Some(OutboxFilter::Held), 200, 0).unwrap();
    assert_eq!(held.items.iter().map(|e| e.seq).collect::<Vec<_>>(), [seqs[5], seqs[6]]);
    assert_eq!(store.outbox().page(Some(OutboxFilter::Refused), 200, 0).unwrap().items[0].seq, seqs[3]);
    // A page is at most 1,000, whatever is asked.
    assert_eq!(store.outbox().page(None, u32::MAX, 0).unwrap().items.len(), 1_000);
}
