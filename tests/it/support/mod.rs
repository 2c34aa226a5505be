//! Fixtures shared by the integration tests: the test organization and the
//! credentials the stand-in is started with, and what the engine and the
//! command line are given for them. Each suite sets its own timings over
//! these (a contract check waits long, a fault test retries fast), and keeps
//! its own records, whose names carry what that suite tests.

use std::path::Path;
use std::process::{Command, Stdio};

use partnerbook::Store;
use partnerbook::remote::client::{OrganizationsConfig, PartnersConfig};
use partnerbook::sync::SyncConfig;
use partnerbook_standin::{ClientCredentials, Config, Faults, StandIn};
use uuid::Uuid;

pub mod proxy;

/// The user's own organization in every sync test.
pub const ORG: Uuid = Uuid::from_u128(0x1111_2222_3333_4444_5555_6666_7777_8888);
pub const CLIENT_ID: &str = "pb-test";
pub const CLIENT_SECRET: &str = "s3cret";
pub const API_KEY: &str = "org-key";

/// The stand-in's set-up for the test credentials, with a fresh fault seed;
/// a suite adds its faults or connected organizations over it.
pub fn standin_config() -> Config {
    Config {
        clients: vec![ClientCredentials::new(CLIENT_ID, CLIENT_SECRET, ORG)],
        api_keys: vec![API_KEY.into()],
        seed: fastrand::u64(..),
        ..Config::default()
    }
}

/// The stand-in on a free loopback port, knowing the test credentials.
pub async fn standin(faults: Faults) -> StandIn {
    StandIn::start(Config { faults, ..standin_config() }).await.unwrap()
}

/// Sync pointed at these addresses with the test credentials, every
/// operation taken as offered; the timings are the suite's to set.
pub fn sync_config(partners_url: Option<String>, organizations_url: Option<String>) -> SyncConfig {
    SyncConfig {
        partners: partners_url.map(|base_url| PartnersConfig {
            base_url,
            client_id: CLIENT_ID.into(),
            client_secret: CLIENT_SECRET.into(),
            requester_org_id: ORG,
            target_org_ids: vec![],
            assumed_ops: true,
        }),
        organizations: organizations_url.map(|base_url| OrganizationsConfig { base_url, api_key: API_KEY.into() }),
        ..SyncConfig::default()
    }
}

/// `partnerbook --db <db>` pointed at these addresses with the test
/// credentials through its `PARTNERBOOK_*` variables, quiet; the suite adds
/// the command and its flags.
pub fn cli_for(db: &Path, partners_url: &str, organizations_url: &str) -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_partnerbook"));
    c.arg("--db")
        .arg(db)
        .env("PARTNERBOOK_PARTNERS_URL", partners_url)
        .env("PARTNERBOOK_CLIENT_ID", CLIENT_ID)
        .env("PARTNERBOOK_CLIENT_SECRET", CLIENT_SECRET)
        .env("PARTNERBOOK_REQUESTER_ORG", ORG.to_string())
        .env("PARTNERBOOK_ASSUMED_OPS", "1")
        .env("PARTNERBOOK_ORGS_URL", organizations_url)
        .env("PARTNERBOOK_ORGS_API_KEY", API_KEY)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null());
    c
}

/// A database of its own, in a folder removed with the returned guard.
pub fn temp_store(file: &str) -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path().join(file)).unwrap();
    (dir, store)
}
