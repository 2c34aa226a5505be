//! Databases written by earlier released versions, upgraded by this one.
//! Each `tests/golden/<version>/` holds the user's database as that
//! version's own command line left it (`make.sh` says how it was made: some
//! records synced, some changes waiting) and the server's data as it stood.
//! A copy of the user's is opened (migrated to this schema) and must keep
//! every record and every waiting change; synced against the server's, each
//! waiting change must land once and nothing synced must be sent again.

use std::path::{Path, PathBuf};

use partnerbook::store::{OrganizationQuery, Organizations, PartnerQuery, Partners};
use partnerbook::sync::{SyncConfig, sync_once};
use partnerbook::{Store, SyncState};
use partnerbook_standin::{Config, StandIn};

fn golden(version: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(version)
}

/// The schema each released version wrote, by the golden folder it made.
const RELEASED: [(&str, usize); 1] = [("v0.1.0", 6)];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn databases_of_released_versions_upgrade_keep_everything_and_sync_once() {
    for (version, schema) in RELEASED {
        let dir = tempfile::tempdir().unwrap();
        let (db, server_db) = (dir.path().join("partnerbook.db"), dir.path().join("standin.db"));
        std::fs::copy(golden(version).join("partnerbook.db"), &db).unwrap();
        std::fs::copy(golden(version).join("standin.db"), &server_db).unwrap();
        // rusqlite_migration counts the migrations applied in `user_version`.
        let schema_of = |db: &Path| -> usize {
            let version: i64 =
                rusqlite::Connection::open(db).unwrap().query_row("PRAGMA user_version", [], |r| r.get(0)).unwrap();
            version as usize
        };
        let written_by = schema_of(&db);
        assert_eq!(written_by, schema, "{version}'s database is at its own schema before the upgrade");

        let mut store = Store::open(&db).unwrap();
        assert_eq!(schema_of(&db), partnerbook::store::SCHEMA_VERSION, "{version}: upgraded to this schema");
        // Every record, as the earlier version left it.
        let partners = store.list_partners(&PartnerQuery::default()).unwrap();
        let mut names: Vec<(String, String, &str)> = partners
            .items
            .iter()
            .map(|p| (p.fields.company_name.clone(), p.fields.payment_terms.clone(), p.sync_state.as_str()))
            .collect();
        names.sort();
        assert_eq!(
            names,
            [
                ("Acme Corporation".to_string(), "net 45".to_string(), "pending"),
                ("Hanoi Supplies".to_string(), "net 60".to_string(), "pending"),
                ("Zürich Präzision GmbH".to_string(), "net 15".to_string(), "synced"),
            ],
            "{version}"
        );
        let orgs = store.list_organizations(&OrganizationQuery::default()).unwrap();
        assert_eq!(orgs.items.len(), 1);
        let saigon = &orgs.items[0];
        assert_eq!(saigon.fields.city.as_deref(), Some("Ho Chi Minh City"));
        let contacts: Vec<&str> = saigon.fields.contacts.iter().map(|c| c.first_name.as_str()).collect();
        assert_eq!(contacts, ["Lan", "Minh"]);
        // Every waiting change: the edit, the delete, the new partner, the organization's edit.
        let (waiting, _) = store.outbox().summary().unwrap();
        assert_eq!(waiting, 4, "{version}: the changes waiting when the user upgraded");

        // Synced with the server as it stood: each change lands once, nothing synced is sent again.
        let server = StandIn::start(Config { db_path: Some(server_db.clone()), ..Config::default() }).await.unwrap();
        let before = server.partners();
        assert_eq!(before.len(), 3, "{version}: the server held the three synced partners");
        let config = SyncConfig {
            partners: Some(partnerbook::remote::client::PartnersConfig {
                base_url: server.partners_url(),
                client_id: partnerbook_standin::DEV_CLIENT_ID.into(),
                client_secret: partnerbook_standin::DEV_CLIENT_SECRET.into(),
                requester_org_id: partnerbook_standin::DEV_ORG_ID,
                target_org_ids: vec![],
                assumed_ops: true,
            }),
            organizations: Some(partnerbook::remote::client::OrganizationsConfig {
                base_url: server.organizations_url(),
                api_key: partnerbook_standin::DEV_API_KEY.into(),
            }),
            read: partnerbook::sync::cadence::Read::Full,
            ..SyncConfig::default()
        };
        let report = sync_once(&mut store, &config, |_| {}).await.unwrap();
        assert_eq!((report.sent, report.rejected, report.conflicts), (4, 0, 0), "{version}: {report:?}");
        assert_eq!(store.outbox().summary().unwrap().0, 0);
        let mut on_server: Vec<(String, String)> = server
            .partners()
            .iter()
            .map(|p| {
                (p["company_name"].as_str().unwrap().to_string(), p["payment_terms"].as_str().unwrap().to_string())
            })
            .collect();
        on_server.sort();
        assert_eq!(
            on_server,
            [
                ("Acme Corporation".to_string(), "net 45".to_string()),
                ("Hanoi Supplies".to_string(), "net 60".to_string()),
                ("Zürich Präzision GmbH".to_string(), "net 15".to_string()),
            ],
            "{version}: the delete, the edit and the new partner arrived; no partner twice"
        );
        let server_orgs = server.organizations();
        assert_eq!(server_orgs.len(), 1);
        assert_eq!(server_orgs[0]["city"], "Ho Chi Minh City");
        for p in store.list_partners(&PartnerQuery::default()).unwrap().items {
            assert_eq!(p.sync_state, SyncState::Synced, "{version}: {}", p.fields.company_name);
            let _ = store.get::<Partners>(p.key).unwrap();
        }
        let _ = store.get::<Organizations>(saigon.key).unwrap();
        drop(server);
    }
}
