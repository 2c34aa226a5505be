//! Settings IT rolls out with the app to a sales team: a system-wide TOML
//! file (`/etc/partnerbook/config.toml` on Linux, `%ProgramData%\Partnerbook\
//! config.toml` on Windows, `/Library/Application Support/Partnerbook/
//! config.toml` on macOS, or `PARTNERBOOK_MANAGED_CONFIG`) that pre-fills the
//! central APIs' addresses, the organizations, the sync cadence and the update
//! address, and can lock them. A pre-filled value is used while the user's own
//! is empty; a locked one is used whatever the user saved, and Settings shows
//! it as managed by the organization. Secrets are never read from it: every
//! user of the computer can read that file.
//!
//! The file is checked by the same rules as the Settings form; one that does
//! not pass is not applied at all (half of IT's intent would be worse), and
//! Settings and `partnerbook info` say why.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::settings::{
    OrganizationsApiDraft, PartnersApiDraft, RemoteSettings, RemoteSettingsDraft, SyncSettingsDraft, UpdateSettings,
};
use crate::sync::cadence::CadencePolicy;

/// Overrides where the managed file is looked for (tests, unusual installs).
pub const PATH_VARIABLE: &str = "PARTNERBOOK_MANAGED_CONFIG";

/// The fields the file may set and lock, by the names Settings' errors use.
pub const FIELDS: [&str; 9] = [
    "partners.base_url",
    "partners.client_id",
    "partners.requester_org_id",
    "partners.target_org_ids",
    "partners.assumed_ops",
    "organizations.base_url",
    "sync.settle_seconds",
    "sync.cadence",
    "updates.address",
];

/// Keys that would hold a secret, refused by name wherever they appear.
const SECRET_KEYS: [&str; 6] = ["client_secret", "api_key", "secret", "password", "token", "apikey"];

/// The platform's place for the managed file.
pub fn default_path() -> PathBuf {
    if cfg!(windows) {
        let base =
            std::env::var_os("ProgramData").map(PathBuf::from).unwrap_or_else(|| PathBuf::from(r"C:\ProgramData"));
        base.join("Partnerbook").join("config.toml")
    } else if cfg!(target_os = "macos") {
        PathBuf::from("/Library/Application Support/Partnerbook/config.toml")
    } else {
        PathBuf::from("/etc/partnerbook/config.toml")
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileShape {
    #[serde(default)]
    partners: PartnersShape,
    #[serde(default)]
    organizations: OrganizationsShape,
    #[serde(default)]
    sync: SyncShape,
    #[serde(default)]
    updates: UpdatesShape,
    #[serde(default)]
    locked: Vec<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct PartnersShape {
    base_url: Option<String>,
    client_id: Option<String>,
    requester_org_id: Option<String>,
    /// "ID name" per entry, as the Settings field takes them.
    connected_organizations: Option<Vec<String>>,
    assumed_ops: Option<bool>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct OrganizationsShape {
    base_url: Option<String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncShape {
    settle_seconds: Option<u64>,
    /// The wait between full reads while the user works (the cadence's interval).
    read_every_minutes: Option<u64>,
    /// The longest wait while nothing is found and the window is in the background.
    longest_wait_minutes: Option<u64>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct UpdatesShape {
    address: Option<String>,
}

/// The managed settings in force: none, or a checked file.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Managed {
    /// The file they came from (or that could not be used).
    pub path: Option<PathBuf>,
    values: RemoteSettings,
    given: BTreeSet<&'static str>,
    locked: BTreeSet<&'static str>,
    cadence: Option<CadencePolicy>,
    /// Why the file is not applied, if it is not.
    pub problem: Option<String>,
}

/// What Settings shows of them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ManagedView {
    pub path: Option<String>,
    pub locked: Vec<&'static str>,
    pub prefilled: Vec<&'static str>,
    pub problem: Option<String>,
}

impl Managed {
    /// Reads the file at `PARTNERBOOK_MANAGED_CONFIG` or the platform's place;
    /// no file is no managed settings.
    pub fn load() -> Managed {
        let path = std::env::var_os(PATH_VARIABLE).map(PathBuf::from).unwrap_or_else(default_path);
        Managed::load_from(&path)
    }

    pub fn load_from(path: &Path) -> Managed {
        match std::fs::read_to_string(path) {
            Ok(text) => Managed::from_toml(&text, path),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Managed::default(),
            Err(e) => Managed::refused(path, format!("it could not be read ({e})")),
        }
    }

    fn refused(path: &Path, why: String) -> Managed {
        Managed {
            path: Some(path.to_path_buf()),
            problem: Some(format!(
                "The settings file from your organization ({}) is not applied: {why}.",
                path.display()
            )),
            ..Managed::default()
        }
    }

    /// Parses and checks a managed file's text (`path` names it in messages).
    pub fn from_toml(text: &str, path: &Path) -> Managed {
        let value: toml::Table = match text.parse() {
            Ok(v) => v,
            Err(e) => return Managed::refused(path, format!("it is not valid TOML ({})", e.message())),
        };
        if let Some(key) = secret_key(&value) {
            return Managed::refused(
                path,
                format!(
                    "it holds `{key}`, and secrets do not belong in a file every user of this computer can read \
                     (each user enters theirs once in Settings, or IT delivers it through the system's keychain)"
                ),
            );
        }
        let shape: FileShape = match toml::Table::try_into(value) {
            Ok(shape) => shape,
            Err(e) => return Managed::refused(path, e.message().trim().to_string()),
        };
        let mut given = BTreeSet::new();
        let mut note = |field: &'static str, present: bool| {
            if present {
                given.insert(field);
            }
        };
        let p = &shape.partners;
        note("partners.base_url", p.base_url.is_some());
        note("partners.client_id", p.client_id.is_some());
        note("partners.requester_org_id", p.requester_org_id.is_some());
        note("partners.target_org_ids", p.connected_organizations.is_some());
        note("partners.assumed_ops", p.assumed_ops.is_some());
        note("organizations.base_url", shape.organizations.base_url.is_some());
        note("sync.settle_seconds", shape.sync.settle_seconds.is_some());
        note("sync.cadence", shape.sync.read_every_minutes.is_some() || shape.sync.longest_wait_minutes.is_some());
        note("updates.address", shape.updates.address.is_some());
        // One rule set: the file's values pass the Settings form's checks or are not applied.
        let draft = RemoteSettingsDraft {
            partners: PartnersApiDraft {
                base_url: p.base_url.clone().unwrap_or_default(),
                client_id: p.client_id.clone().unwrap_or_default(),
                client_secret: None,
                requester_org_id: p.requester_org_id.clone().unwrap_or_default(),
                target_org_ids: p.connected_organizations.clone().unwrap_or_default(),
                assumed_ops: p.assumed_ops.unwrap_or(false),
            },
            organizations: OrganizationsApiDraft {
                base_url: shape.organizations.base_url.clone().unwrap_or_default(),
                api_key: None,
            },
            sync: SyncSettingsDraft {
                settle_seconds: shape.sync.settle_seconds.map(|s| s.to_string()).unwrap_or_default(),
            },
            updates: UpdateSettings { address: shape.updates.address.clone().unwrap_or_default() },
        };
        let values = match draft.validate() {
            Ok(v) => v,
            Err(report) => {
                let why: Vec<String> = report.fields.iter().map(|f| format!("{}: {}", f.field, f.message)).collect();
                return Managed::refused(path, why.join(" "));
            }
        };
        let cadence = match cadence(&shape.sync) {
            Ok(c) => c,
            Err(why) => return Managed::refused(path, why),
        };
        let mut locked = BTreeSet::new();
        for name in &shape.locked {
            match FIELDS.iter().find(|f| **f == name.as_str()) {
                Some(field) if given.contains(field) => {
                    locked.insert(*field);
                }
                Some(field) => return Managed::refused(path, format!("it locks {field} without giving its value")),
                None => {
                    return Managed::refused(
                        path,
                        format!("it locks {name:?}, which is not one of {}", FIELDS.join(", ")),
                    );
                }
            }
        }
        Managed { path: Some(path.to_path_buf()), values, given, locked, cadence, problem: None }
    }

    /// `stored` with the managed values laid over it: a locked field always,
    /// a pre-filled one while the user's own is empty.
    pub fn over(&self, mut stored: RemoteSettings) -> RemoteSettings {
        let m = &self.values;
        let take = |field: &str, empty: bool| self.locked.contains(field) || (empty && self.given.contains(field));
        let p = &mut stored.partners;
        if take("partners.base_url", p.base_url.is_empty()) {
            p.base_url = m.partners.base_url.clone();
        }
        if take("partners.client_id", p.client_id.is_empty()) {
            p.client_id = m.partners.client_id.clone();
        }
        if take("partners.requester_org_id", p.requester_org_id.is_none()) {
            p.requester_org_id = m.partners.requester_org_id;
        }
        if take("partners.target_org_ids", p.target_org_ids.is_empty()) {
            p.target_org_ids = m.partners.target_org_ids.clone();
            p.organization_names = m.partners.organization_names.clone();
        }
        // A yes/no has no "empty": it is IT's only when locked.
        if self.locked.contains("partners.assumed_ops") {
            p.assumed_ops = m.partners.assumed_ops;
        }
        if take("organizations.base_url", stored.organizations.base_url.is_empty()) {
            stored.organizations.base_url = m.organizations.base_url.clone();
        }
        if take("sync.settle_seconds", stored.sync.settle_seconds.is_none()) {
            stored.sync.settle_seconds = m.sync.settle_seconds;
        }
        if take("updates.address", stored.updates.address.is_empty()) {
            stored.updates.address = m.updates.address.clone();
        }
        stored
    }

    /// The read schedule: the file's, else the default.
    pub fn cadence(&self) -> CadencePolicy {
        self.cadence.unwrap_or_default()
    }

    pub fn view(&self) -> ManagedView {
        ManagedView {
            path: self.path.as_ref().map(|p| p.display().to_string()),
            locked: self.locked.iter().copied().collect(),
            prefilled: self.given.difference(&self.locked).copied().collect(),
            problem: self.problem.clone(),
        }
    }
}

/// The first key anywhere in `table` that names a secret.
fn secret_key(table: &toml::Table) -> Option<String> {
    table.iter().find_map(|(key, value)| {
        if SECRET_KEYS.contains(&key.to_ascii_lowercase().as_str()) {
            return Some(key.clone());
        }
        value.as_table().and_then(secret_key)
    })
}

fn cadence(sync: &SyncShape) -> Result<Option<CadencePolicy>, String> {
    if sync.read_every_minutes.is_none() && sync.longest_wait_minutes.is_none() {
        return Ok(None);
    }
    let default = CadencePolicy::default();
    let minutes = |m: u64| Duration::from_secs(m * 60);
    let interval = sync.read_every_minutes.map(minutes).unwrap_or(default.interval);
    let longest = sync.longest_wait_minutes.map(minutes).unwrap_or(default.longest.max(interval));
    if !(1..=24 * 60).contains(&(interval.as_secs() / 60)) {
        return Err("sync.read_every_minutes must be from 1 to 1440".into());
    }
    if longest < interval || longest > Duration::from_secs(7 * 24 * 3600) {
        return Err("sync.longest_wait_minutes must be at least sync.read_every_minutes and at most a week".into());
    }
    Ok(Some(CadencePolicy { interval, longest, ..default }))
}

#[cfg(test)]
mod tests {
    use super::*;

    const ORG: &str = "3c90c3cc-0d44-4b50-8888-8dd25736052a";
    const CONNECTED: &str = "7c4a8d09-ca37-4e5b-9c1d-2f3e4a5b6c7d";

    fn managed(text: &str) -> Managed {
        Managed::from_toml(text, Path::new("/etc/partnerbook/config.toml"))
    }

    #[test]
    fn the_example_shipped_with_the_packages_is_valid_and_changes_nothing() {
        let example = include_str!("../packaging/config.example.toml");
        let m = managed(example);
        assert_eq!(m.problem, None);
        assert_eq!(m.over(RemoteSettings::default()), RemoteSettings::default(), "everything in it is commented out");
    }

    #[test]
    fn prefilled_values_fill_what_is_empty_and_locked_ones_win() {
        let m = managed(&format!(
            r#"
            locked = ["partners.base_url", "partners.target_org_ids", "sync.cadence"]
            [partners]
            base_url = "https://api.mycreditapp.ai/v1-beta"
            requester_org_id = "{ORG}"
            connected_organizations = ["{CONNECTED} Hanoi Traders"]
            [organizations]
            base_url = "https://sight.inspectorio.com"
            [sync]
            read_every_minutes = 30
            "#
        ));
        assert_eq!(m.problem, None);
        let mut mine = RemoteSettings::default();
        mine.partners.base_url = "https://my.own.example/v1".into();
        mine.organizations.base_url = "https://orgs.mine.example".into();
        let applied = m.over(mine);
        assert_eq!(applied.partners.base_url, "https://api.mycreditapp.ai/v1-beta", "locked: IT's");
        assert_eq!(applied.organizations.base_url, "https://orgs.mine.example", "pre-filled only: the user's own");
        assert_eq!(applied.partners.requester_org_id.unwrap().to_string(), ORG, "pre-filled into the empty field");
        assert_eq!(applied.partners.organization_names.values().next().unwrap(), "Hanoi Traders");
        assert_eq!(m.cadence().interval, Duration::from_secs(1800));
        let view = m.view();
        assert_eq!(view.locked, ["partners.base_url", "partners.target_org_ids", "sync.cadence"]);
        assert_eq!(view.prefilled, ["organizations.base_url", "partners.requester_org_id"]);
    }

    /// The field names stand in three places (`FIELDS`, what the file gives,
    /// what `over` lays down): a lock on each must win over the user's own value.
    #[test]
    fn every_field_the_file_may_lock_is_applied_when_locked() {
        let m = managed(&format!(
            r#"
            locked = {locked:?}
            [partners]
            base_url = "https://partners.it.example/v1"
            client_id = "it-client"
            requester_org_id = "{ORG}"
            connected_organizations = ["{CONNECTED} Hanoi Traders"]
            assumed_ops = true
            [organizations]
            base_url = "https://orgs.it.example"
            [sync]
            settle_seconds = 120
            read_every_minutes = 30
            [updates]
            address = "https://updates.it.example/latest.json"
            "#,
            locked = FIELDS
        ));
        assert_eq!(m.problem, None);
        let mut mine = RemoteSettings::default();
        mine.partners.base_url = "https://mine.example/v1".into();
        mine.partners.client_id = "my-client".into();
        mine.partners.requester_org_id = Some(uuid::Uuid::from_u128(1));
        mine.partners.target_org_ids = vec![uuid::Uuid::from_u128(2)];
        mine.partners.assumed_ops = false;
        mine.organizations.base_url = "https://orgs.mine.example".into();
        mine.sync.settle_seconds = Some(60);
        mine.updates.address = "https://updates.mine.example/latest.json".into();
        let applied = m.over(mine);
        let p = &applied.partners;
        assert_eq!((p.base_url.as_str(), p.client_id.as_str()), ("https://partners.it.example/v1", "it-client"));
        assert_eq!(p.requester_org_id.unwrap().to_string(), ORG);
        assert_eq!(p.target_org_ids.iter().map(|o| o.to_string()).collect::<Vec<_>>(), [CONNECTED]);
        assert!(p.assumed_ops);
        assert_eq!(applied.organizations.base_url, "https://orgs.it.example");
        assert_eq!(applied.sync.settle_seconds, Some(120));
        assert_eq!(applied.updates.address, "https://updates.it.example/latest.json");
        assert_eq!(m.cadence().interval, Duration::from_secs(1800));
        let mut all = FIELDS.to_vec();
        all.sort();
        assert_eq!(m.view().locked, all);
        assert!(m.view().prefilled.is_empty());
    }

    #[test]
    fn a_file_with_a_secret_or_a_bad_value_is_not_applied_and_says_why() {
        for (text, why) in [
            ("[partners]\nclient_secret = \"s3cret\"", "holds `client_secret`"),
            ("[organizations]\napi_key = \"k\"", "holds `api_key`"),
            ("[partners]\nbase_url = \"http://api.example.com\"", "partners.base_url"),
            ("[partners]\nrequester_org_id = \"me\"", "partners.requester_org_id"),
            ("locked = [\"partners.base_url\"]", "without giving its value"),
            ("locked = [\"everything\"]", "not one of"),
            ("[partners]\nbase_urll = \"https://x.example\"", "base_urll"),
            ("[sync]\nread_every_minutes = 0", "read_every_minutes"),
            ("[updates]\naddress = \"http://updates.example.com\"", "https://"),
            ("partners = [", "not valid TOML"),
        ] {
            let m = managed(text);
            let problem = m.problem.clone().unwrap_or_else(|| panic!("{text:?} was applied"));
            assert!(problem.contains(why), "{text:?}: {problem}");
            assert!(problem.starts_with("The settings file from your organization (/etc/partnerbook/config.toml)"));
            assert_eq!(m.over(RemoteSettings::default()), RemoteSettings::default());
        }
    }

    #[test]
    fn no_file_is_no_managed_settings() {
        let m = Managed::load_from(Path::new("/nonexistent/partnerbook/config.toml"));
        assert_eq!(m, Managed::default());
    }
}
