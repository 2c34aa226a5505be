//! Where the central APIs are and who the user acts as. Secrets are not here:
//! see [`crate::secrets`].

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::validate::{FieldError, ValidationReport};

/// The partners API (MyCreditApp style: OAuth2 client credentials, org headers).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PartnersApiSettings {
    /// Base URL including the version prefix, e.g. `https://api.mycreditapp.ai/v1-beta`.
    pub base_url: String,
    pub client_id: String,
    /// The user's own organization (`Requester-Organization-ID`).
    pub requester_org_id: Option<Uuid>,
    /// Connected organizations the user may act for (`Target-Organization-ID`).
    pub target_org_ids: Vec<Uuid>,
    /// The names the user gives connected organizations (the API sends none),
    /// shown in the partner list's organization column and filter.
    pub organization_names: std::collections::BTreeMap<Uuid, String>,
    /// The server offers `PUT`/`DELETE /partners/{id}`, which the vendor does not document.
    pub assumed_ops: bool,
}

/// The organizations API (Inspectorio style: `apiKey` header).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrganizationsApiSettings {
    /// Base URL, e.g. `https://sight.inspectorio.com` (paths add `/api/v1/...`).
    pub base_url: String,
}

/// How sync treats an answer it did not get.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncSettings {
    /// The settle window in seconds (see `SyncConfig::settle`); `None`: twice the request timeout.
    pub settle_seconds: Option<u64>,
}

/// Where the app looks for its updates (a company hosts its own).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct UpdateSettings {
    /// The update manifest's https address (Tauri's `{{target}}`, `{{arch}}`
    /// and `{{current_version}}` are filled in); empty: updates not set up.
    pub address: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RemoteSettings {
    pub partners: PartnersApiSettings,
    pub organizations: OrganizationsApiSettings,
    pub sync: SyncSettings,
    pub updates: UpdateSettings,
}

/// What a person typed on the settings screen, untrusted.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct RemoteSettingsDraft {
    pub partners: PartnersApiDraft,
    pub organizations: OrganizationsApiDraft,
    pub sync: SyncSettingsDraft,
    pub updates: UpdateSettings,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct SyncSettingsDraft {
    /// Whole seconds, 1 to 3600; empty for the default.
    pub settle_seconds: String,
}

/// The longest name a connected organization may be given.
pub const MAX_ORGANIZATION_NAME: usize = 100;

/// The longest settle window Settings accepts: an hour.
pub const MAX_SETTLE_SECONDS: u64 = 3600;

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PartnersApiDraft {
    pub base_url: String,
    pub client_id: String,
    /// `None` keeps the stored secret; `Some("")` removes it.
    pub client_secret: Option<String>,
    pub requester_org_id: String,
    pub target_org_ids: Vec<String>,
    pub assumed_ops: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrganizationsApiDraft {
    pub base_url: String,
    /// `None` keeps the stored key; `Some("")` removes it.
    pub api_key: Option<String>,
}

/// Checks an API base URL: empty (not configured) or http(s) with a host;
/// anything but loopback must be https, so credentials never cross a network
/// in clear. Parsed with the `url` crate, as reqwest parses it, so the host
/// decided on here is the host connected to: a user name or password
/// (`http://localhost:1@other.host`) is refused, not read as a host.
pub fn check_base_url(text: &str) -> Result<(), String> {
    if text.is_empty() {
        return Ok(());
    }
    // The URL parser drops tabs and line breaks silently; refuse them instead.
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("The address contains spaces or control characters".into());
    }
    let url = url::Url::parse(text).map_err(|_| "Enter a full address starting with https://")?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err("Enter an address starting with https://".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(
            "Remove the user name or password (the part before @) from the address; credentials have their own fields"
                .into(),
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err("The address cannot have a ? or # part".into());
    }
    let loopback = match url.host() {
        None => return Err("The address has no server name".into()),
        Some(url::Host::Domain(name)) => name.eq_ignore_ascii_case("localhost"),
        Some(url::Host::Ipv4(ip)) => ip.is_loopback(),
        Some(url::Host::Ipv6(ip)) => ip.is_loopback(),
    };
    match url.scheme() {
        "http" if !loopback => {
            Err("Use https:// (plain http is allowed only for this computer, e.g. http://127.0.0.1)".into())
        }
        _ => Ok(()),
    }
}

impl RemoteSettingsDraft {
    /// Trims and checks every field; the secrets are returned untouched for the keychain.
    pub fn validate(&self) -> Result<RemoteSettings, ValidationReport> {
        let mut errors = Vec::new();
        let mut fail = |field: &str, code: &str, message: String| {
            errors.push(FieldError { field: field.into(), code: code.into(), message })
        };
        let partners_url = self.partners.base_url.trim().trim_end_matches('/').to_string();
        if let Err(m) = check_base_url(&partners_url) {
            fail("partners.base_url", "invalid_url", format!("Partners API address: {m}."));
        }
        let orgs_url = self.organizations.base_url.trim().trim_end_matches('/').to_string();
        if let Err(m) = check_base_url(&orgs_url) {
            fail("organizations.base_url", "invalid_url", format!("Organizations API address: {m}."));
        }
        let requester = self.partners.requester_org_id.trim();
        let requester_org_id = match requester {
            "" => None,
            text => match Uuid::parse_str(text) {
                Ok(id) => Some(id),
                Err(_) => {
                    fail(
                        "partners.requester_org_id",
                        "invalid_uuid",
                        "Your organization ID must look like 3c90c3cc-0d44-4b50-8888-8dd25736052a.".into(),
                    );
                    None
                }
            },
        };
        let mut target_org_ids = Vec::new();
        let mut organization_names = std::collections::BTreeMap::new();
        for line in self.partners.target_org_ids.iter().map(|t| t.trim()).filter(|t| !t.is_empty()) {
            // "ID" or "ID name": the name is the user's word for it.
            let (id, name) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let name: String = name.chars().filter(|c| !c.is_control()).collect::<String>().trim().to_string();
            if name.chars().count() > MAX_ORGANIZATION_NAME {
                fail(
                    "partners.target_org_ids",
                    "too_long",
                    format!("The name after {id} is longer than {MAX_ORGANIZATION_NAME} characters."),
                );
                break;
            }
            match Uuid::parse_str(id) {
                Ok(id) if !target_org_ids.contains(&id) => {
                    target_org_ids.push(id);
                    if !name.is_empty() {
                        organization_names.insert(id, name);
                    }
                }
                Ok(_) => {}
                Err(_) => {
                    fail(
                        "partners.target_org_ids",
                        "invalid_uuid",
                        format!(
                            "{id:?} is not an organization ID (one per line: the ID, like \
                             3c90c3cc-0d44-4b50-8888-8dd25736052a, then the name you call it by, if you like)."
                        ),
                    );
                    break;
                }
            }
        }
        let settle_seconds = match self.sync.settle_seconds.trim() {
            "" => None,
            text => match text.parse::<u64>() {
                Ok(n) if (1..=MAX_SETTLE_SECONDS).contains(&n) => Some(n),
                _ => {
                    fail(
                        "sync.settle_seconds",
                        "out_of_range",
                        format!(
                            "The settle window must be a whole number of seconds from 1 to {MAX_SETTLE_SECONDS}, \
                             or empty for the default (twice the request timeout)."
                        ),
                    );
                    None
                }
            },
        };
        let update_address = match crate::update::check_address(&self.updates.address) {
            Ok(url) => url.map(String::from).unwrap_or_default(),
            Err(m) => {
                fail("updates.address", "invalid_url", format!("{m}."));
                String::new()
            }
        };
        if errors.is_empty() {
            Ok(RemoteSettings {
                updates: UpdateSettings { address: update_address },
                sync: SyncSettings { settle_seconds },
                partners: PartnersApiSettings {
                    base_url: partners_url,
                    client_id: self.partners.client_id.trim().to_string(),
                    requester_org_id,
                    target_org_ids,
                    organization_names,
                    assumed_ops: self.partners.assumed_ops,
                },
                organizations: OrganizationsApiSettings { base_url: orgs_url },
            })
        } else {
            Err(ValidationReport { fields: errors })
        }
    }
}

impl RemoteSettings {
    /// What sync needs from these settings and the two secrets; an API with
    /// something missing is left out (its changes wait).
    pub fn sync_config(&self, client_secret: Option<String>, api_key: Option<String>) -> crate::sync::SyncConfig {
        use crate::remote::client::{OrganizationsConfig, PartnersConfig};
        let p = &self.partners;
        let partners = match (p.base_url.is_empty(), p.client_id.is_empty(), client_secret, p.requester_org_id) {
            (false, false, Some(secret), Some(requester)) if !secret.is_empty() => Some(PartnersConfig {
                base_url: p.base_url.clone(),
                client_id: p.client_id.clone(),
                client_secret: secret,
                requester_org_id: requester,
                target_org_ids: p.target_org_ids.clone(),
                assumed_ops: p.assumed_ops,
            }),
            _ => None,
        };
        let organizations = match (self.organizations.base_url.is_empty(), api_key) {
            (false, Some(key)) if !key.is_empty() => {
                Some(OrganizationsConfig { base_url: self.organizations.base_url.clone(), api_key: key })
            }
            _ => None,
        };
        crate::sync::SyncConfig {
            partners,
            organizations,
            settle_window: self.sync.settle_seconds.map(std::time::Duration::from_secs),
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn https_required_except_on_loopback() {
        assert!(check_base_url("https://api.mycreditapp.ai/v1-beta").is_ok());
        assert!(check_base_url("http://127.0.0.1:8080").is_ok());
        assert!(check_base_url("http://localhost:3000/v1").is_ok());
        assert!(check_base_url("http://[::1]:3000").is_ok());
        assert!(check_base_url("http://api.example.com").is_err());
        assert!(check_base_url("http://127.0.0.1.evil.example").is_err());
        assert!(check_base_url("ftp://x").is_err());
        assert!(check_base_url("api.example.com").is_err());
        assert!(check_base_url("").is_ok());
    }

    /// A user name or password makes a URL parser read the host after the `@`:
    /// each of these connects to other.host, in clear, with the secret.
    #[test]
    fn userinfo_cannot_pass_for_loopback() {
        for bypass in [
            "http://localhost:1@other.host/v1-beta",
            "http://127.0.0.1:@other.host",
            "http://[::1]@other.host",
            "http://localhost@other.host",
            "https://user:pass@api.mycreditapp.ai/v1-beta",
            "http://localhost\t:1@other.host",
            "http://local\nhost:8080",
            "http://127.0.0.1:8080/v1?x=1",
            "http://127.0.0.1:8080/v1#frag",
            "http://localhost./v1",
            "http://127.0.0.1.nip.io/v1",
            "http://[::ffff:127.0.0.2]:80",
        ] {
            assert!(check_base_url(bypass).is_err(), "{bypass:?} must be refused");
        }
        // Their honest counterparts.
        for fine in [
            "http://localhost:1/v1-beta",
            "http://127.0.0.1:8080",
            "http://127.1.2.3:8080/v1",
            "http://[::1]:3000/v1",
            "http://LOCALHOST:3000",
            "https://other.host/v1-beta",
            "https://api.mycreditapp.ai/v1-beta",
            "https://sight.inspectorio.com",
        ] {
            assert!(check_base_url(fine).is_ok(), "{fine:?} must be accepted");
        }
    }

    #[test]
    fn connected_organizations_take_the_names_users_give_them() {
        let id = "3c90c3cc-0d44-4b50-8888-8dd25736052a";
        let other = "3c90c3cc-0d44-4b50-8888-8dd25736052b";
        let draft = |lines: &[String]| RemoteSettingsDraft {
            partners: PartnersApiDraft { target_org_ids: lines.to_vec(), ..Default::default() },
            ..Default::default()
        };
        let valid = draft(&[format!("{id}  Saigon\u{7}  Textiles "), other.into()]).validate().unwrap();
        assert_eq!(valid.partners.target_org_ids.len(), 2);
        let names: Vec<_> = valid.partners.organization_names.values().cloned().collect();
        assert_eq!(names, ["Saigon  Textiles"], "trimmed, control characters out, unnamed ones left out");
        let long = draft(&[format!("{id} {}", "n".repeat(MAX_ORGANIZATION_NAME + 1))]).validate().unwrap_err();
        assert_eq!(long.fields[0].code, "too_long");
        // Settings saved before names existed still load.
        let old: PartnersApiSettings = serde_json::from_str(&format!(r#"{{"target_org_ids": ["{id}"]}}"#)).unwrap();
        assert!(old.organization_names.is_empty());
    }

    #[test]
    fn drafts_are_checked_field_by_field() {
        let draft = RemoteSettingsDraft {
            partners: PartnersApiDraft {
                base_url: " http://partners.example/ ".into(),
                requester_org_id: "nope".into(),
                target_org_ids: vec!["3c90c3cc-0d44-4b50-8888-8dd25736052a".into(), "bad".into()],
                ..Default::default()
            },
            organizations: OrganizationsApiDraft { base_url: "https://sight.inspectorio.com/".into(), api_key: None },
            sync: SyncSettingsDraft { settle_seconds: "0".into() },
            updates: UpdateSettings { address: "http://updates.example.com/latest.json".into() },
        };
        let r = draft.validate().unwrap_err();
        let fields: Vec<_> = r.fields.iter().map(|f| f.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "partners.base_url",
                "partners.requester_org_id",
                "partners.target_org_ids",
                "sync.settle_seconds",
                "updates.address"
            ]
        );
        let settle = |text: &str| RemoteSettingsDraft {
            sync: SyncSettingsDraft { settle_seconds: text.into() },
            ..Default::default()
        };
        assert_eq!(
            settle(" 90 ").validate().unwrap().sync_config(None, None).settle_window,
            Some(std::time::Duration::from_secs(90))
        );
        assert_eq!(settle("").validate().unwrap().sync.settle_seconds, None);
        assert!(settle("3601").validate().is_err() && settle("1.5").validate().is_err());
    }
}
