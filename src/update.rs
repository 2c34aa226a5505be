//! Updates, decided without I/O: where to look (a company's own address,
//! https only), how often (at most once a day), what an offer or a refusal
//! tells the user, and whether this install may update itself at all (a
//! `.deb` or `.rpm` is updated by the package manager, not by the app asking
//! for a password). The desktop shell fetches and verifies with
//! tauri-plugin-updater and reports what happened in these terms.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

/// The longest an app waits between two update checks of its own accord.
pub const CHECK_EVERY: chrono::TimeDelta = chrono::TimeDelta::hours(24);

/// Whether a check is due without the user asking: never while this run
/// holds a verified download waiting for the click (`holding`); otherwise
/// when never checked, a day passed, the clock went back, or the last check
/// offered an update this app installs itself, whose download went with the
/// run that made it (checked again, an offer comes with its Install button).
pub fn check_due(last: Option<&UpdateCheck>, holding: bool, now: DateTime<Utc>) -> bool {
    if holding {
        return false;
    }
    match last {
        None => true,
        Some(UpdateCheck { status: UpdateStatus::Available { installer: Installer::InApp, .. }, .. }) => true,
        Some(UpdateCheck { checked_at, .. }) => *checked_at > now || now - *checked_at >= CHECK_EVERY,
    }
}

/// Checks an update address: empty (updates not set up) or https with a
/// host. Unlike the APIs' addresses, not even loopback may use plain http:
/// an update is code that will run, and a local proxy can be anyone's.
pub fn check_address(text: &str) -> Result<Option<url::Url>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    if text.chars().any(|c| c.is_control() || c.is_whitespace()) {
        return Err("The update address contains spaces or control characters".into());
    }
    let url = url::Url::parse(text).map_err(|_| "Enter a full update address starting with https://")?;
    if url.scheme() != "https" {
        return Err("The update address must start with https:// (an update is code this computer will run)".into());
    }
    if url.host().is_none() {
        return Err("The update address has no server name".into());
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err("Remove the user name or password (the part before @) from the update address".into());
    }
    Ok(Some(url))
}

/// How this copy of the app was installed, which decides who installs updates.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Installer {
    /// AppImage, MSI, NSIS or a macOS app: the app installs a verified update itself.
    InApp,
    /// A `.deb` or `.rpm`: the system's package manager updates it (it would
    /// otherwise ask for an administrator password out of the blue).
    PackageManager,
    /// Built from source: nothing to install into.
    FromSource,
}

impl Installer {
    /// From the bundle type the Tauri bundler wrote into the binary (`deb`, `rpm`, `appimage`, …).
    pub fn from_bundle_type(bundle: Option<&str>) -> Installer {
        match bundle {
            Some("deb" | "rpm") => Installer::PackageManager,
            Some(_) => Installer::InApp,
            None => Installer::FromSource,
        }
    }
}

/// Why an update that was found is not offered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "why", rename_all = "snake_case")]
pub enum Refusal {
    /// The file's signature does not match this app's update key (altered, or signed by someone else).
    Signature,
    /// Signed for another version than the one announced (an older release passed off as new).
    SignedForAnotherVersion { signed: String },
    /// Offered over plain http.
    PlainHttp,
    /// Older than, or the same as, the running version.
    NotNewer,
}

/// Where updates stand, as the About section and `update_status` say it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum UpdateStatus {
    NotSetUp,
    NeverChecked,
    UpToDate,
    /// A newer version, verified (when this install updates itself) and waiting for the user's click.
    Available {
        version: String,
        notes: Option<String>,
        installer: Installer,
    },
    Refused {
        version: String,
        refusal: Refusal,
    },
    /// The check itself failed (network, a server error, an unreadable answer): tried again at the next check.
    Failed {
        reason: String,
    },
}

impl UpdateStatus {
    /// One sentence a person can act on; `current` is this build's version.
    pub fn sentence(&self, current: &str) -> String {
        match self {
            UpdateStatus::NotSetUp => "Updates are not set up: your IT department gives the update address.".into(),
            UpdateStatus::NeverChecked => format!("Version {current}; not checked for updates yet."),
            UpdateStatus::UpToDate => format!("Version {current} is the latest."),
            UpdateStatus::Available { version, installer, .. } => match installer {
                Installer::InApp => format!("Version {version} is available."),
                Installer::PackageManager => {
                    format!("Version {version} is available: update through your package manager.")
                }
                Installer::FromSource => format!("Version {version} is available: build it from its source."),
            },
            UpdateStatus::Refused { version, refusal } => {
                let why = match refusal {
                    Refusal::Signature => "its signature does not match this app's update key (the file was \
                                           altered, or signed by someone else)"
                        .to_string(),
                    Refusal::SignedForAnotherVersion { signed } => format!(
                        "it is signed as version {signed}, not {version} as the update server says (an older \
                         release offered as new)"
                    ),
                    Refusal::PlainHttp => {
                        "it was offered over plain http, which anyone on the network could alter".to_string()
                    }
                    Refusal::NotNewer => format!("it is not newer than this version ({current})"),
                };
                format!("Version {version} was not installed: {why}. Tell your IT department.")
            }
            UpdateStatus::Failed { reason } => format!("Could not check for updates ({reason}); will try again."),
        }
    }
}

/// A check's result with its time, as the store keeps it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateCheck {
    pub checked_at: DateTime<Utc>,
    pub status: UpdateStatus,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_check_is_due_once_a_day_or_when_the_clock_went_back() {
        let now = Utc::now();
        let up_to_date = |at| UpdateCheck { checked_at: at, status: UpdateStatus::UpToDate };
        assert!(check_due(None, false, now));
        assert!(!check_due(Some(&up_to_date(now - chrono::TimeDelta::hours(23))), false, now));
        assert!(check_due(Some(&up_to_date(now - CHECK_EVERY)), false, now));
        assert!(
            check_due(Some(&up_to_date(now + chrono::TimeDelta::hours(1))), false, now),
            "a check from the future is not trusted"
        );
    }

    #[test]
    fn an_offer_whose_download_went_with_its_run_is_checked_again_and_a_held_one_is_not() {
        let now = Utc::now();
        let offered = |installer| UpdateCheck {
            checked_at: now - chrono::TimeDelta::minutes(5),
            status: UpdateStatus::Available { version: "0.2.0".into(), notes: None, installer },
        };
        assert!(check_due(Some(&offered(Installer::InApp)), false, now), "fetched again, to be installable");
        assert!(!check_due(Some(&offered(Installer::InApp)), true, now), "this run holds it");
        assert!(!check_due(Some(&offered(Installer::PackageManager)), false, now), "nothing to fetch");
        assert!(!check_due(None, true, now));
    }

    #[test]
    fn only_https_update_addresses() {
        assert_eq!(check_address("").unwrap(), None);
        assert!(check_address(" https://updates.example.com/partnerbook/{{target}}/{{current_version}} ").is_ok());
        for bad in [
            "http://updates.example.com/latest.json",
            "http://127.0.0.1:8080/latest.json",
            "file:///etc/passwd",
            "https://user:pw@updates.example.com",
            "updates.example.com",
            "https://updates.example.com/\nlatest.json",
        ] {
            assert!(check_address(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn package_installs_are_left_to_the_package_manager() {
        assert_eq!(Installer::from_bundle_type(Some("deb")), Installer::PackageManager);
        assert_eq!(Installer::from_bundle_type(Some("rpm")), Installer::PackageManager);
        assert_eq!(Installer::from_bundle_type(Some("appimage")), Installer::InApp);
        assert_eq!(Installer::from_bundle_type(Some("nsis")), Installer::InApp);
        assert_eq!(Installer::from_bundle_type(None), Installer::FromSource);
        let offer =
            UpdateStatus::Available { version: "0.2.0".into(), notes: None, installer: Installer::PackageManager };
        assert_eq!(offer.sentence("0.1.0"), "Version 0.2.0 is available: update through your package manager.");
    }
}
