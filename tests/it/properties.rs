//! Property tests: valid records round-trip unchanged, invalid ones are always
//! rejected, and outbox coalescing keeps its promises under any edit sequence.

use crate::support;
use partnerbook::store::{Entity, Op, Organizations, OutboxState, Partners};
use partnerbook::{
    Contact, LocationDraft, OrganizationDraft, PartnerDraft, PartnerPatch, Store, StoreError, countries,
};
use proptest::prelude::*;

/// Text of `min..=max` characters with no control characters and no
/// whitespace at either end (so trimming leaves it as it is).
fn text(min: usize, max: usize) -> impl Strategy<Value = String> {
    assert!(min >= 1);
    let inner = max - 1;
    prop::collection::vec(any::<char>().prop_filter("printable", |c| !c.is_control()), min - 1..=inner)
        .prop_flat_map(|middle| {
            let edge = any::<char>().prop_filter("visible edge", |c| !c.is_control() && !c.is_whitespace());
            (edge, Just(middle))
        })
        .prop_map(|(first, middle)| std::iter::once(first).chain(middle).collect::<String>())
        .prop_filter("trim-stable", |s| s.trim() == s)
}

fn email() -> impl Strategy<Value = String> {
    ("[a-z0-9][a-z0-9._+-]{0,30}", "[a-z][a-z0-9]{0,20}", prop::sample::select(vec!["com", "example", "co.uk", "vn"]))
        .prop_map(|(local, domain, tld)| format!("{local}@{domain}.{tld}"))
        .prop_filter("validator's email syntax", |e| !e.contains("..") && !e.starts_with('.') && !e.contains(".@"))
}

fn valid_partner() -> impl Strategy<Value = PartnerDraft> {
    (text(1, 100), 0..=2_147_483_647i64, prop::bool::ANY, email(), text(1, 30), text(1, 50)).prop_map(
        |(company_name, amount, customer, email, frequency, payment_terms)| PartnerDraft {
            company_name,
            sales_amount: amount.to_string(),
            partner_type: if customer { "customer" } else { "supplier" }.into(),
            email,
            frequency,
            payment_terms,
        },
    )
}

/// One way to break one field, and the field it breaks.
fn broken(d: &PartnerDraft, how: u8, n: usize) -> (PartnerDraft, &'static str) {
    let mut d = d.clone();
    let field = match how % 9 {
        0 => {
            d.company_name = "x".repeat(101 + n % 50);
            "company_name"
        }
        1 => {
            d.company_name = " \t ".repeat(n % 3);
            "company_name"
        }
        2 => {
            d.sales_amount = (2_147_483_648i64 + n as i64).to_string();
            "sales_amount"
        }
        3 => {
            d.sales_amount = format!("-{}", n + 1);
            "sales_amount"
        }
        4 => {
            d.partner_type = ["vendor", "customers", "", "cust omer"][n % 4].into();
            "partner_type"
        }
        5 => {
            d.email = d.email.replace('@', "");
            "email"
        }
        6 => {
            d.email = format!("{}@{}.com", "a".repeat(40), "b".repeat(60 + n % 10));
            "email"
        }
        7 => {
            d.frequency = "f".repeat(31 + n % 20);
            "frequency"
        }
        _ => {
            d.payment_terms = "p".repeat(51 + n % 20);
            "payment_terms"
        }
    };
    (d, field)
}

fn contact() -> impl Strategy<Value = Contact> {
    (text(1, 40), prop::option::of(text(1, 40)), prop::option::of(email()), prop::option::of("[0-9 +()-]{1,20}"))
        .prop_map(|(first_name, last_name, email, phone)| Contact {
            first_name,
            last_name,
            email,
            phone: phone.map(|p| p.trim().to_string()).filter(|p| !p.is_empty()),
            work_phone: None,
        })
}

fn valid_org() -> impl Strategy<Value = OrganizationDraft> {
    let codes: Vec<&'static str> = countries().into_iter().map(|(code, _)| code).collect();
    (
        (text(1, 80), prop::sample::select(vec!["F", "S", "B", "R", "V"]), text(1, 80), prop::sample::select(codes)),
        (text(1, 20), prop::option::of(text(1, 40)), prop::option::of(email())),
        prop::option::of((-90.0..=90.0f64, -180.0..=180.0f64)),
        prop::collection::vec(contact(), 1..5),
    )
        .prop_map(|((name, org_type, address, country), (phone, city, billing_email), location, contacts)| {
            OrganizationDraft {
                name,
                org_type: org_type.into(),
                address,
                country: country.into(),
                phone,
                city,
                billing_email,
                location: location
                    .map(|(lat, lon)| LocationDraft { latitude: lat.to_string(), longitude: lon.to_string() }),
                contacts,
                ..Default::default()
            }
        })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn valid_partners_round_trip_unchanged(drafts in prop::collection::vec(valid_partner(), 1..8)) {
        let mut store = Store::open_in_memory().unwrap();
        for draft in drafts {
            let saved = store.create_partner(&draft, None).unwrap();
            let back = store.get::<Partners>(saved.key).unwrap();
            prop_assert_eq!(&back, &saved);
            prop_assert_eq!(&back.fields.to_draft(), &draft);
        }
    }

    #[test]
    fn invalid_partners_are_always_rejected(draft in valid_partner(), how in any::<u8>(), n in 0usize..1000) {
        let (bad, field) = broken(&draft, how, n);
        let mut store = Store::open_in_memory().unwrap();
        match store.create_partner(&bad, None) {
            Err(StoreError::Invalid(report)) => {
                prop_assert_eq!(report.fields.len(), 1, "{:?}", report);
                prop_assert_eq!(report.fields[0].field.as_str(), field);
            }
            other => prop_assert!(false, "{field} broken but got {other:?}"),
        }
        prop_assert_eq!(store.outbox().all().unwrap().len(), 0);
        prop_assert_eq!(store.record_counts().unwrap(), (0, 0));
    }

    #[test]
    fn valid_organizations_round_trip_unchanged(draft in valid_org()) {
        let mut store = Store::open_in_memory().unwrap();
        let saved = store.create_organization(&draft).unwrap();
        let back = store.get::<Organizations>(saved.key).unwrap();
        prop_assert_eq!(&back, &saved);
        prop_assert_eq!(back.fields, draft.validate_fields().unwrap());
    }
}

#[derive(Debug, Clone)]
enum Action {
    Create,
    Edit(usize, i64),
    Delete(usize),
    /// Sync tried to send the record's newest change (it may have reached the server).
    Attempt(usize),
    /// The server refused the record's newest change.
    Reject(usize),
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        2 => Just(Action::Create),
        4 => (0usize..4, 0i64..1000).prop_map(|(i, v)| Action::Edit(i, v)),
        1 => (0usize..4).prop_map(Action::Delete),
        2 => (0usize..4).prop_map(Action::Attempt),
        1 => (0usize..4).prop_map(Action::Reject),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Whatever the order of edits, attempts and rejections:
    /// - the newest entry of a live record carries exactly its current fields;
    /// - a body the server may have seen (attempted) is never rewritten;
    /// - at most one never-attempted entry per record, and only as the newest;
    /// - the first change of a record is its create; a deleted record ends in a
    ///   delete, or has nothing queued at all (its create was never sent, or refused);
    /// - idempotency keys are unique.
    #[test]
    fn outbox_coalescing_keeps_its_promises(actions in prop::collection::vec(action(), 1..40)) {
        let mut store = Store::open_in_memory().unwrap();
        let mut keys = Vec::new();
        let mut attempted_bodies: Vec<(i64, serde_json::Value)> = Vec::new();
        let base = PartnerDraft {
            company_name: "Acme".into(), sales_amount: "0".into(), partner_type: "customer".into(),
            email: "a@acme.example".into(), frequency: "weekly".into(), payment_terms: "net 30".into(),
        };
        for action in actions {
            let newest = |store: &Store, i: usize, keys: &[uuid::Uuid]| {
                keys.get(i).and_then(|k| store.outbox().of(Entity::Partner, *k).unwrap().last().cloned())
            };
            match action {
                Action::Create => keys.push(store.create_partner(&base, None).unwrap().key),
                Action::Edit(i, v) => if let Some(k) = keys.get(i) {
                    let patch = PartnerPatch { sales_amount: Some(v.to_string()), ..Default::default() };
                    let _ = store.edit_partner(*k, &patch); // may be deleted
                },
                Action::Delete(i) => if let Some(k) = keys.get(i) {
                    let _ = store.delete::<Partners>(*k);
                },
                Action::Attempt(i) => if let Some(e) = newest(&store, i, &keys) {
                    // What sync does: claim the attempt, then the answer is lost.
                    if store.outbox_mut().begin_attempts(&[e.seq]).unwrap()[0].is_some() {
                        store.outbox_mut().retry_at(e.seq, None, "timed out").unwrap();
                    }
                    attempted_bodies.push((e.seq, e.payload.clone()));
                },
                Action::Reject(i) => if let Some(e) = newest(&store, i, &keys) {
                    if e.attempts > 0 {
                        store.connection().execute("UPDATE outbox SET state = 'rejected' WHERE seq = ?1", [e.seq]).unwrap();
                    }
                },
            }

            let all = store.outbox().all().unwrap();
            for (seq, body) in &attempted_bodies {
                if let Some(e) = all.iter().find(|e| e.seq == *seq) {
                    prop_assert_eq!(&e.payload, body, "attempted entry {} was rewritten", seq);
                }
            }
            let mut ids: Vec<String> = all.iter().map(|e| e.idempotency_key()).collect();
            ids.sort();
            ids.dedup();
            prop_assert_eq!(ids.len(), all.len());

            for key in &keys {
                let record = store.get::<Partners>(*key).unwrap();
                let entries = store.outbox().of(Entity::Partner, *key).unwrap();
                let fresh: Vec<_> = entries.iter().filter(|e| e.attempts == 0 && e.state == OutboxState::Pending).collect();
                prop_assert!(fresh.len() <= 1);
                if let Some(f) = fresh.first() {
                    prop_assert_eq!(f.seq, entries.last().unwrap().seq);
                }
                if let Some(first) = entries.first() {
                    prop_assert_eq!(first.op, Op::Create);
                }
                match record.deleted_at {
                    None => {
                        let last = entries.last().expect("a live record never synced has a queued change");
                        prop_assert_ne!(last.op, Op::Delete);
                        prop_assert_eq!(&last.payload, &serde_json::to_value(&record.fields).unwrap());
                    }
                    Some(_) => {
                        if let Some(last) = entries.last() {
                            prop_assert_eq!(last.op, Op::Delete);
                        }
                    }
                }
            }
        }
    }
}

/// One write the search index must follow, whichever path makes it.
#[derive(Debug, Clone)]
enum IndexedWrite {
    Save(u32),
    Import(Vec<u32>),
    Rename(usize, u32),
    Delete(usize),
    /// New partners from the server, and new names for some already linked;
    /// with `true`, the first new one comes twice in the page (a list that shifted while paging).
    Pull(Vec<u32>, Vec<(usize, u32)>, bool),
    /// A search, which first indexes the partners saved since the last one.
    Search,
}

fn indexed_write() -> impl Strategy<Value = IndexedWrite> {
    prop_oneof![
        any::<u32>().prop_map(IndexedWrite::Save),
        prop::collection::vec(any::<u32>(), 0..20).prop_map(IndexedWrite::Import),
        (any::<usize>(), any::<u32>()).prop_map(|(i, n)| IndexedWrite::Rename(i, n)),
        any::<usize>().prop_map(IndexedWrite::Delete),
        (
            prop::collection::vec(any::<u32>(), 0..20),
            prop::collection::vec((any::<usize>(), any::<u32>()), 0..5),
            any::<bool>()
        )
            .prop_map(|(new, renamed, twice)| IndexedWrite::Pull(new, renamed, twice)),
        Just(IndexedWrite::Search),
    ]
}

/// Names are unique words (`w<serial>x<n>`), so a search for one finds exactly its partner.
fn named(serial: &mut u32, n: u32) -> PartnerDraft {
    *serial += 1;
    PartnerDraft {
        company_name: format!("w{serial}x{n} Trading"),
        sales_amount: (n / 2).to_string(),
        partner_type: "customer".into(),
        email: format!("m{serial}z@example.com"),
        frequency: "monthly".into(),
        payment_terms: "net 30".into(),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    /// Bulk loads index their rows at the end of their transaction, saves at
    /// the next search or bulk load, changes to indexed rows through triggers:
    /// whatever the mix, every live partner is found by its name and its
    /// email, once, and after those searches the index is whole and consistent.
    #[test]
    fn the_search_index_follows_every_write_path(writes in prop::collection::vec(indexed_write(), 1..25)) {
        use partnerbook::store::PartnerQuery;
        use partnerbook::remote::wire::ServerPartner;
        let (_dir, mut store) = support::temp_store("p.db");
        let mut serial = 0;
        let mut keys: Vec<uuid::Uuid> = Vec::new();
        let mut linked: Vec<ServerPartner> = Vec::new();
        for write in writes {
            match write {
                IndexedWrite::Save(n) => keys.push(store.create_partner(&named(&mut serial, n), None).unwrap().key),
                IndexedWrite::Import(ns) => {
                    let all: Vec<_> = ns.iter().map(|n| named(&mut serial, *n).validate_fields().unwrap()).collect();
                    keys.extend(store.create_partners(&all, None).unwrap());
                }
                IndexedWrite::Rename(i, n) if !keys.is_empty() => {
                    let key = keys[i % keys.len()];
                    let patch = PartnerPatch { company_name: Some(named(&mut serial, n).company_name), ..Default::default() };
                    match store.edit_partner(key, &patch) {
                        Ok(_) | Err(StoreError::Deleted { .. }) => {}
                        Err(e) => panic!("{e}"),
                    }
                }
                IndexedWrite::Delete(i) if !keys.is_empty() => {
                    let _ = store.delete::<Partners>(keys[i % keys.len()]);
                }
                IndexedWrite::Pull(new, renamed, twice) => {
                    let mut page: Vec<ServerPartner> = new
                        .iter()
                        .map(|n| ServerPartner {
                            id: uuid::Uuid::new_v4(),
                            fields: named(&mut serial, *n).validate_fields().unwrap(),
                            created_at: None,
                            updated_at: Some(chrono::Utc::now()),
                            invitation_status: None,
                            guest_organization_id: None,
                        })
                        .collect();
                    if twice && !page.is_empty() {
                        let mut again = page[0].clone();
                        again.fields.company_name = named(&mut serial, 7).company_name;
                        again.updated_at = Some(chrono::Utc::now() + chrono::Duration::seconds(1));
                        page.push(again);
                    }
                    for (i, n) in renamed {
                        if let Some(known) = (!linked.is_empty()).then(|| linked[i % linked.len()].clone()) {
                            let mut changed = known;
                            changed.fields.company_name = named(&mut serial, n).company_name;
                            changed.updated_at = Some(chrono::Utc::now() + chrono::Duration::seconds(serial.into()));
                            page.push(changed);
                        }
                    }
                    store.pull_page::<partnerbook::store::Partners>(None, &page).unwrap();
                    linked.extend(page);
                }
                IndexedWrite::Search => {
                    store.list_partners(&PartnerQuery { search: Some("w".into()), ..Default::default() }).unwrap();
                }
                _ => {}
            }
        }
        let conn = store.connection();
        let live: Vec<(String, String, String)> = conn
            .prepare("SELECT key, company_name, email FROM partners WHERE deleted_at IS NULL")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        for (key, name, email) in live {
            for text in [name.split(' ').next().unwrap(), email.as_str()] {
                let page = store
                    .list_partners(&PartnerQuery { search: Some(text.to_string()), ..Default::default() })
                    .unwrap();
                let found: Vec<String> = page.items.iter().map(|p| p.key.to_string()).collect();
                prop_assert_eq!(found, vec![key.clone()], "searching {:?}", text);
            }
        }
        // Searching leaves nothing waiting, even when every partner was deleted.
        store.list_partners(&PartnerQuery { search: Some("w".into()), ..Default::default() }).unwrap();
        conn.execute("INSERT INTO partners_fts (partners_fts) VALUES ('integrity-check')", []).unwrap();
        let deferred: i64 = conn.query_row("SELECT count(*) FROM search_index_deferred", [], |r| r.get(0)).unwrap();
        prop_assert_eq!(deferred, 0);
        let indexed: i64 = conn.query_row("SELECT count(*) FROM partners_fts", [], |r| r.get(0)).unwrap();
        let stored: i64 = conn.query_row("SELECT count(*) FROM partners", [], |r| r.get(0)).unwrap();
        prop_assert_eq!(indexed, stored);
    }
}
