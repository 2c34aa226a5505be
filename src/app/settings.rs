//! Where sync's settings come from, and how a save writes them.
//!
//! Addresses and ids are kept in the database; the client secret and API key
//! in a [`SecretStore`] (the OS keychain in the window). The command line
//! lays the `PARTNERBOOK_*` variables over both ([`Overlay`]); the window
//! passes [`Overlay::default`]. Under both lies IT's managed file
//! ([`crate::managed`]): what is in force is the overlay over the managed
//! values over the saved ones ([`effective`]). A save writes the secrets
//! first and the database last, so a keychain that refuses leaves nothing
//! half saved.

use serde::Serialize;
use uuid::Uuid;

use crate::error::{ErrorBody, ErrorKind};
use crate::managed::{Managed, ManagedView};
use crate::secrets::{Availability, SecretName, SecretStore};
use crate::settings::{OrganizationsApiSettings, PartnersApiSettings, RemoteSettings, RemoteSettingsDraft};
use crate::store::Store;
use crate::sync::SyncConfig;
use crate::validate::FieldError;

/// IT's managed settings, read once per process (a restart picks up a new file).
pub fn managed() -> &'static Managed {
    static MANAGED: std::sync::OnceLock<Managed> = std::sync::OnceLock::new();
    MANAGED.get_or_init(Managed::load)
}

/// The settings in force: the saved ones with IT's managed values over them.
pub fn effective(store: &Store) -> Result<RemoteSettings, crate::store::StoreError> {
    Ok(managed().over(store.remote_settings()?))
}

#[derive(Debug, Serialize)]
pub struct PartnersSettingsView {
    #[serde(flatten)]
    pub settings: PartnersApiSettings,
    pub has_client_secret: bool,
}

#[derive(Debug, Serialize)]
pub struct OrganizationsSettingsView {
    #[serde(flatten)]
    pub settings: OrganizationsApiSettings,
    pub has_api_key: bool,
}

/// Settings as a screen shows them: never the secrets, only whether they are set.
#[derive(Debug, Serialize)]
pub struct SettingsView {
    pub partners: PartnersSettingsView,
    pub organizations: OrganizationsSettingsView,
    pub sync: crate::settings::SyncSettings,
    pub updates: crate::settings::UpdateSettings,
    pub keychain: Availability,
    /// Which fields IT's file locks or pre-fills, and why it is not applied if it is not.
    pub managed: ManagedView,
}

fn has_secret(secrets: &dyn SecretStore, name: SecretName) -> bool {
    secrets.get(name).ok().flatten().is_some_and(|s| !s.is_empty())
}

pub fn view(settings: RemoteSettings, secrets: &dyn SecretStore) -> SettingsView {
    SettingsView {
        partners: PartnersSettingsView {
            settings: settings.partners,
            has_client_secret: has_secret(secrets, SecretName::PartnersClientSecret),
        },
        organizations: OrganizationsSettingsView {
            settings: settings.organizations,
            has_api_key: has_secret(secrets, SecretName::OrganizationsApiKey),
        },
        sync: settings.sync,
        updates: settings.updates,
        keychain: secrets.availability(),
        managed: managed().view(),
    }
}

/// The saved settings as a screen shows them.
pub fn load(store: &Store, secrets: &dyn SecretStore) -> Result<SettingsView, ErrorBody> {
    Ok(view(effective(store)?, secrets))
}

/// Checks and saves a settings form: the secrets go to `secrets` first (an
/// empty one is removed, one not given is kept), then the rest to the database.
pub fn save(
    store: &mut Store,
    secrets: &dyn SecretStore,
    draft: &RemoteSettingsDraft,
) -> Result<SettingsView, ErrorBody> {
    let valid = draft.validate()?;
    for (field, name, value) in [
        ("partners.client_secret", SecretName::PartnersClientSecret, &draft.partners.client_secret),
        ("organizations.api_key", SecretName::OrganizationsApiKey, &draft.organizations.api_key),
    ] {
        let outcome = match value.as_deref().map(str::trim) {
            None => Ok(()),
            Some("") => secrets.delete(name),
            Some(secret) => secrets.set(name, secret),
        };
        outcome.map_err(|e| ErrorBody {
            fields: vec![FieldError { field: field.into(), code: "keychain".into(), message: e.to_string() }],
            ..ErrorBody::new(ErrorKind::Validation, "The settings were not saved.")
        })?;
    }
    store.save_remote_settings(&valid)?;
    Ok(view(managed().over(valid), secrets))
}

/// What "Test connection" found for each API.
#[derive(Debug, Serialize)]
pub struct ConnectionReport {
    pub partners: crate::remote::ConnectionCheck,
    pub organizations: crate::remote::ConnectionCheck,
}

/// Signs in and reads one page from each API with the saved settings and
/// secrets, through the clients sync uses; both checks run at once.
pub async fn test_connection(settings: &RemoteSettings, secrets: &dyn SecretStore) -> ConnectionReport {
    let secret = |name| secrets.get(name).ok().flatten();
    let (client_secret, api_key) = (secret(SecretName::PartnersClientSecret), secret(SecretName::OrganizationsApiKey));
    let client = crate::remote::http_client();
    let (partners, organizations) = tokio::join!(
        crate::remote::check_partners(&client, &settings.partners, client_secret.as_deref()),
        crate::remote::check_organizations(&client, &settings.organizations, api_key.as_deref()),
    );
    ConnectionReport { partners, organizations }
}

/// Values laid over the saved settings (the command line's `PARTNERBOOK_*`
/// variables); each one given replaces the saved value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Overlay {
    pub partners_url: Option<String>,
    pub client_id: Option<String>,
    pub client_secret: Option<String>,
    pub requester_org: Option<Uuid>,
    pub target_orgs: Option<Vec<Uuid>>,
    pub assumed_ops: Option<bool>,
    pub organizations_url: Option<String>,
    pub api_key: Option<String>,
}

impl Overlay {
    /// Reads the `PARTNERBOOK_*` variables; a malformed one is a `usage` error naming it.
    pub fn from_env() -> Result<Overlay, ErrorBody> {
        Overlay::from_vars(|name| std::env::var(name).ok())
    }

    /// [`Overlay::from_env`] over any source of variables (blank counts as unset).
    pub fn from_vars(var: impl Fn(&str) -> Option<String>) -> Result<Overlay, ErrorBody> {
        let var = |name: &str| var(name).map(|v| v.trim().to_string()).filter(|v| !v.is_empty());
        let usage = |name: &str, why: String| ErrorBody::new(ErrorKind::Usage, format!("{name}: {why}"));
        let url = |name: &str| -> Result<Option<String>, ErrorBody> {
            var(name)
                .map(|u| {
                    let u = u.trim_end_matches('/').to_string();
                    crate::settings::check_base_url(&u).map(|()| u).map_err(|why| usage(name, why))
                })
                .transpose()
        };
        let uuid = |name: &str, text: &str| {
            Uuid::parse_str(text.trim()).map_err(|_| usage(name, format!("{text:?} is not an organization ID")))
        };
        Ok(Overlay {
            partners_url: url("PARTNERBOOK_PARTNERS_URL")?,
            client_id: var("PARTNERBOOK_CLIENT_ID"),
            client_secret: var("PARTNERBOOK_CLIENT_SECRET"),
            requester_org: var("PARTNERBOOK_REQUESTER_ORG")
                .map(|org| uuid("PARTNERBOOK_REQUESTER_ORG", &org))
                .transpose()?,
            target_orgs: var("PARTNERBOOK_TARGET_ORGS")
                .map(|list| {
                    list.split(',')
                        .filter(|t| !t.trim().is_empty())
                        .map(|t| uuid("PARTNERBOOK_TARGET_ORGS", t))
                        .collect::<Result<Vec<_>, _>>()
                })
                .transpose()?,
            assumed_ops: var("PARTNERBOOK_ASSUMED_OPS").map(|on| matches!(on.as_str(), "1" | "true" | "yes")),
            organizations_url: url("PARTNERBOOK_ORGS_URL")?,
            api_key: var("PARTNERBOOK_ORGS_API_KEY"),
        })
    }

    /// `settings` with this overlay's values in place of theirs.
    pub fn over(&self, mut settings: RemoteSettings) -> RemoteSettings {
        let p = &mut settings.partners;
        if let Some(u) = &self.partners_url {
            p.base_url = u.clone();
        }
        if let Some(id) = &self.client_id {
            p.client_id = id.clone();
        }
        if let Some(org) = self.requester_org {
            p.requester_org_id = Some(org);
        }
        if let Some(orgs) = &self.target_orgs {
            p.target_org_ids = orgs.clone();
        }
        if let Some(on) = self.assumed_ops {
            p.assumed_ops = on;
        }
        if let Some(u) = &self.organizations_url {
            settings.organizations.base_url = u.clone();
        }
        settings
    }
}

/// The settings sync runs with: saved, overlaid, with the secrets from the
/// overlay or else from `secrets` (one the store cannot read counts as unset).
/// An API with something missing is left out; its changes wait.
pub fn sync_config(store: &Store, secrets: &dyn SecretStore, overlay: &Overlay) -> Result<SyncConfig, ErrorBody> {
    let settings = overlay.over(effective(store)?);
    let secret = |given: &Option<String>, name| given.clone().or_else(|| secrets.get(name).ok().flatten());
    Ok(settings.sync_config(
        secret(&overlay.client_secret, SecretName::PartnersClientSecret),
        secret(&overlay.api_key, SecretName::OrganizationsApiKey),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secrets::MemorySecrets;

    #[test]
    fn the_overlay_reads_each_variable_and_names_a_bad_one() {
        let vars = |pairs: &'static [(&'static str, &'static str)]| {
            move |name: &str| pairs.iter().find(|(n, _)| *n == name).map(|(_, v)| v.to_string())
        };
        let o = Overlay::from_vars(vars(&[
            ("PARTNERBOOK_PARTNERS_URL", "https://p.example/v1/"),
            ("PARTNERBOOK_TARGET_ORGS", "7c4a8d09-ca37-4e5b-9c1d-2f3e4a5b6c7d, "),
            ("PARTNERBOOK_CLIENT_ID", "  "),
        ]))
        .unwrap();
        assert_eq!(o.partners_url.as_deref(), Some("https://p.example/v1"));
        assert_eq!(o.target_orgs.as_ref().map(Vec::len), Some(1));
        assert_eq!(o.client_id, None, "blank is unset");
        let e = Overlay::from_vars(vars(&[("PARTNERBOOK_REQUESTER_ORG", "me")])).unwrap_err();
        assert_eq!(e.kind, ErrorKind::Usage);
        assert!(e.message.starts_with("PARTNERBOOK_REQUESTER_ORG:"), "{}", e.message);
        let e = Overlay::from_vars(vars(&[("PARTNERBOOK_ORGS_URL", "http://example.com")])).unwrap_err();
        assert!(e.message.starts_with("PARTNERBOOK_ORGS_URL:"), "{}", e.message);
    }

    #[test]
    fn a_secret_given_in_the_overlay_wins_over_the_stored_one() {
        let store = Store::open_in_memory().unwrap();
        let secrets = MemorySecrets::default();
        secrets.set(SecretName::OrganizationsApiKey, "stored").unwrap();
        let overlay = Overlay { organizations_url: Some("https://o.example".into()), ..Overlay::default() };
        let config = sync_config(&store, &secrets, &overlay).unwrap();
        assert_eq!(config.organizations.unwrap().api_key, "stored");
        let overlay = Overlay { api_key: Some("given".into()), ..overlay };
        assert_eq!(sync_config(&store, &secrets, &overlay).unwrap().organizations.unwrap().api_key, "given");
    }

    /// A keychain that refuses leaves the database as it was.
    #[test]
    fn a_refused_secret_saves_nothing() {
        struct Refusing;
        impl SecretStore for Refusing {
            fn get(&self, _: SecretName) -> Result<Option<String>, crate::secrets::SecretError> {
                Ok(None)
            }
            fn set(&self, _: SecretName, _: &str) -> Result<(), crate::secrets::SecretError> {
                Err(crate::secrets::SecretError::Unavailable("no daemon".into()))
            }
            fn delete(&self, _: SecretName) -> Result<(), crate::secrets::SecretError> {
                Ok(())
            }
            fn availability(&self) -> Availability {
                Availability { available: false, message: "none".into() }
            }
        }
        let mut store = Store::open_in_memory().unwrap();
        let draft: RemoteSettingsDraft = serde_json::from_value(serde_json::json!({
            "organizations": {"base_url": "https://o.example", "api_key": "k"}
        }))
        .unwrap();
        let e = save(&mut store, &Refusing, &draft).unwrap_err();
        assert_eq!((e.kind, e.fields[0].field.as_str()), (ErrorKind::Validation, "organizations.api_key"));
        assert_eq!(store.remote_settings().unwrap().organizations.base_url, "", "nothing saved");
    }
}
