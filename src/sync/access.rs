//! When a refusal from the central system stops applying. Pure decisions over
//! the rows the store keeps ([`crate::store::SignInPause`],
//! [`crate::store::ReadOnlyOrganization`]); the sync run does the I/O.
//!
//! A refused sign-in pauses its API until it can work: the credentials
//! change, the user presses "Try again", or an hourly probe succeeds (IT
//! re-enabled the client). Until then no request goes, from any process: a
//! revoked client that a laptop kept knocking on every minute is how an
//! account gets locked, and the sentence "Needs sign-in" is the truth to show.
//!
//! A connected organization that refused a write is read-only until the
//! credentials or the sync settings change; one's own organization never is
//! (a 403 there is a removed role, said as such, and tried at the next run).

use std::time::Duration;

use chrono::{DateTime, Utc};
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

use crate::remote::client::{OrganizationsConfig, PartnersConfig};
use crate::store::{ReadOnlyOrganization, SignInPause};

/// How long a paused API waits before one request tries its credentials
/// again without anything having changed.
pub const PROBE_EVERY: Duration = Duration::from_secs(3600);

/// HMAC-SHA256 of `parts`, keyed by the database's salt, as hex. Each part
/// goes in with its length first, so ("ab", "c") and ("a", "bc") differ.
fn mac(salt: &[u8], parts: &[&str]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(salt).expect("HMAC takes a key of any length");
    for part in parts {
        mac.update(&(part.len() as u64).to_le_bytes());
        mac.update(part.as_bytes());
    }
    hex::encode(mac.finalize().into_bytes())
}

/// What the partners API signs in with.
pub fn partners_credentials(salt: &[u8], config: &PartnersConfig) -> String {
    mac(salt, &["partners", &config.base_url, &config.client_id, &config.client_secret])
}

/// What the organizations API signs in with.
pub fn organizations_credentials(salt: &[u8], config: &OrganizationsConfig) -> String {
    mac(salt, &["organizations", &config.base_url, &config.api_key])
}

/// The partners API's credentials and the organizations it acts for: what a
/// connected organization's "no" was an answer to.
pub fn partners_settings(salt: &[u8], config: &PartnersConfig) -> String {
    let mut targets: Vec<String> = config.target_org_ids.iter().map(|t| t.to_string()).collect();
    targets.sort();
    let own = config.requester_org_id.to_string();
    let mut parts = vec!["partner settings", &config.base_url, &config.client_id, &config.client_secret, &own];
    parts.extend(targets.iter().map(String::as_str));
    mac(salt, &parts)
}

/// What a run does with an API, given its pause (if any).
#[derive(Debug, Clone, PartialEq)]
pub enum Gate {
    /// Not paused: go.
    Open,
    /// Paused for credentials that are no longer the ones in force: lift it and go.
    CredentialsChanged,
    /// Paused, and the probe is due: one request tries the credentials first.
    Probe,
    /// Paused: no request at all.
    Closed,
}

pub fn gate(pause: Option<&SignInPause>, credentials_now: &str, now: DateTime<Utc>) -> Gate {
    match pause {
        None => Gate::Open,
        Some(p) if p.credentials_mac != credentials_now => Gate::CredentialsChanged,
        Some(p) if now >= p.probe_at => Gate::Probe,
        Some(_) => Gate::Closed,
    }
}

/// A new pause, or the old one with its probe moved on (its first time kept).
pub fn pause(
    earlier: Option<&SignInPause>,
    api: crate::store::Entity,
    reason: &str,
    credentials_now: &str,
    now: DateTime<Utc>,
    probe_every: Duration,
) -> SignInPause {
    // Held to a year: an interval past the calendar must not overflow it.
    let probe_every = probe_every.min(Duration::from_secs(366 * 24 * 3600));
    let probe_at = now + chrono::Duration::from_std(probe_every).expect("a year fits");
    SignInPause {
        api,
        reason: reason.to_string(),
        credentials_mac: credentials_now.to_string(),
        paused_at: earlier.filter(|p| p.credentials_mac == credentials_now).map_or(now, |p| p.paused_at),
        probe_at,
    }
}

/// The read-only organizations whose refusal no longer applies (the settings changed since).
pub fn outdated<'a>(
    read_only: &'a [ReadOnlyOrganization],
    settings_now: &'a str,
) -> impl Iterator<Item = &'a ReadOnlyOrganization> {
    read_only.iter().filter(move |r| r.settings_mac != settings_now)
}

/// The pauses that still apply to `config`: those made for the credentials
/// in force (a pause for credentials changed since lifts at the next run).
pub fn in_force<'a>(salt: &[u8], config: &super::SyncConfig, pauses: &'a [SignInPause]) -> Vec<&'a SignInPause> {
    let now = |api| match api {
        crate::store::Entity::Partner => config.partners.as_ref().map(|p| partners_credentials(salt, p)),
        crate::store::Entity::Organization => config.organizations.as_ref().map(|o| organizations_credentials(salt, o)),
    };
    pauses.iter().filter(|p| now(p.api).is_some_and(|mac| mac == p.credentials_mac)).collect()
}

/// "Needs sign-in: …" with when it was paused and what lifts it.
pub fn needs_sign_in_sentence(pause: &SignInPause, now: DateTime<Utc>) -> String {
    let minutes = (pause.probe_at - now).num_minutes().max(0);
    let when = if minutes == 0 { "at the next sync".to_string() } else { format!("in {minutes} min") };
    format!(
        "Needs sign-in: {} Nothing is sent to this API until the credentials change or you press Try again; \
         it tries once by itself {when}.",
        pause.reason.trim_end()
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Entity;

    fn config(secret: &str) -> PartnersConfig {
        PartnersConfig {
            base_url: "https://api.example/v1".into(),
            client_id: "id".into(),
            client_secret: secret.into(),
            requester_org_id: uuid::Uuid::nil(),
            target_org_ids: vec![uuid::Uuid::from_u128(2), uuid::Uuid::from_u128(1)],
            assumed_ops: false,
        }
    }

    #[test]
    fn the_mac_hides_the_secret_and_changes_with_it_and_with_the_salt() {
        let (a, b) =
            (partners_credentials(b"salt-1", &config("s3cret")), partners_credentials(b"salt-1", &config("new")));
        assert_ne!(a, b);
        assert!(!a.contains("s3cret"));
        assert_ne!(a, partners_credentials(b"salt-2", &config("s3cret")), "another database, another value");
        assert_eq!(a.len(), 64);
        // Length-prefixed: moving a character from one part to the next is a change.
        assert_ne!(mac(b"k", &["ab", "c"]), mac(b"k", &["a", "bc"]));
        // Targets in another order are the same settings.
        let mut swapped = config("s3cret");
        swapped.target_org_ids.reverse();
        assert_eq!(partners_settings(b"k", &config("s3cret")), partners_settings(b"k", &swapped));
        swapped.target_org_ids.pop();
        assert_ne!(partners_settings(b"k", &config("s3cret")), partners_settings(b"k", &swapped));
    }

    #[test]
    fn a_pause_holds_until_the_credentials_change_or_the_probe_is_due() {
        let now = DateTime::from_timestamp(1_800_000_000, 0).unwrap();
        let p = pause(None, Entity::Partner, "refused.", "mac-1", now, PROBE_EVERY);
        assert_eq!(gate(None, "mac-1", now), Gate::Open);
        assert_eq!(gate(Some(&p), "mac-1", now), Gate::Closed);
        assert_eq!(gate(Some(&p), "mac-1", now + chrono::Duration::minutes(59)), Gate::Closed);
        assert_eq!(gate(Some(&p), "mac-1", now + chrono::Duration::minutes(60)), Gate::Probe);
        assert_eq!(gate(Some(&p), "mac-2", now), Gate::CredentialsChanged);
        // A failed probe moves the probe on and keeps the first time.
        let later = now + chrono::Duration::minutes(61);
        let again = pause(Some(&p), Entity::Partner, "refused.", "mac-1", later, PROBE_EVERY);
        assert_eq!((again.paused_at, again.probe_at), (now, later + chrono::Duration::minutes(60)));
        assert_eq!(gate(Some(&again), "mac-1", later), Gate::Closed);
        // A probe interval past the calendar does not overflow.
        let far = pause(None, Entity::Partner, "r", "m", now, Duration::from_secs(u64::MAX));
        assert_eq!(far.probe_at, now + chrono::Duration::days(366));
    }
}
