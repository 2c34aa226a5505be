//! Updates through tauri-plugin-updater, under the core's rules
//! ([`partnerbook::update`]): the manifest is read from the company's https
//! address; a newer release is downloaded and its minisign signature checked
//! against the public key in `tauri.conf.json` (and the version it was
//! signed for against the one announced) *before* it is offered; it is
//! installed only on the user's click. A `.deb` or `.rpm` install is told
//! to update through its package manager and downloads nothing.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use partnerbook::update::{Installer, Refusal, UpdateStatus};
use tauri::{AppHandle, Runtime};
use tauri_plugin_updater::{Error as UpdaterError, Update, UpdaterExt};
use url::Url;

/// Where to look for updates.
#[derive(Debug, Clone)]
pub struct Source {
    pub address: Url,
    /// A root certificate (PEM) to trust beside the system's, for an update
    /// server under a company's own certificate authority.
    pub root_certificate: Option<Vec<u8>>,
}

/// A downloaded update whose signature checked out, waiting for the user's click.
pub struct Verified {
    update: Update,
    bytes: Vec<u8>,
}

impl Verified {
    pub fn version(&self) -> &str {
        &self.update.version
    }

    /// Installs it (the plugin checks the signature once more first). On
    /// Windows the installer takes over and the app exits; elsewhere the new
    /// version runs from the next start.
    pub fn install(self) -> Result<(), String> {
        self.update.install(&self.bytes).map_err(|e| format!("The update could not be installed: {e}"))
    }
}

/// How this copy was installed, from the bundle type the bundler wrote into it.
pub fn installer() -> Installer {
    use tauri::utils::config::BundleType;
    let bundle = tauri::utils::platform::bundle_type().map(|b| match b {
        BundleType::Deb => "deb",
        BundleType::Rpm => "rpm",
        BundleType::AppImage => "appimage",
        BundleType::Msi => "msi",
        BundleType::Nsis => "nsis",
        BundleType::App => "app",
        BundleType::Dmg => "dmg",
    });
    Installer::from_bundle_type(bundle)
}

/// Asks `source` for a newer version and, when this install updates itself,
/// downloads and verifies it. Every outcome is a status to show; only a
/// verified download comes back to be installed.
pub async fn check<R: Runtime>(
    app: &AppHandle<R>,
    source: &Source,
    installer: Installer,
) -> (UpdateStatus, Option<Verified>) {
    let failed = |reason: String| (UpdateStatus::Failed { reason }, None);
    // The comparator sees what was announced even when it turns it down, so a downgrade can be named.
    let announced: Arc<Mutex<Option<String>>> = Arc::default();
    let seen = announced.clone();
    let mut builder = app
        .updater_builder()
        .version_comparator(move |current, release| {
            *seen.lock().unwrap_or_else(|p| p.into_inner()) = Some(release.version.to_string());
            release.version > current
        })
        .timeout(Duration::from_secs(60));
    if let Some(pem) = &source.root_certificate {
        match reqwest::Certificate::from_pem(pem) {
            Ok(certificate) => {
                builder = builder.configure_client(move |client| client.add_root_certificate(certificate.clone()))
            }
            Err(e) => return failed(format!("the update server's certificate is not valid PEM: {e}")),
        }
    }
    let updater = match builder.endpoints(vec![source.address.clone()]).and_then(|b| b.build()) {
        Ok(updater) => updater,
        Err(e) => return failed(e.to_string()),
    };
    let update = match updater.check().await {
        Ok(Some(update)) => update,
        Ok(None) => {
            let announced = announced.lock().unwrap_or_else(|p| p.into_inner()).clone();
            return match announced {
                Some(version) => (UpdateStatus::Refused { version, refusal: Refusal::NotNewer }, None),
                None => (UpdateStatus::UpToDate, None),
            };
        }
        Err(e) => return failed(e.to_string()),
    };
    let version = update.version.clone();
    let refused = |refusal| (UpdateStatus::Refused { version: version.clone(), refusal }, None);
    // The plugin only warns of a plain-http download; the file would travel where anyone can change it.
    if update.download_url.scheme() != "https" {
        return refused(Refusal::PlainHttp);
    }
    let notes = update.body.clone().filter(|n| !n.trim().is_empty());
    if installer != Installer::InApp {
        return (UpdateStatus::Available { version, notes, installer }, None);
    }
    match update.download(|_, _| {}, || {}).await {
        Ok(bytes) => {
            let status = UpdateStatus::Available { version, notes, installer };
            (status, Some(Verified { update, bytes }))
        }
        Err(UpdaterError::Minisign(_) | UpdaterError::Base64(_) | UpdaterError::SignatureUtf8(_)) => {
            refused(Refusal::Signature)
        }
        // Signed without a version, under `requireSignedVersion`: not provably the release announced.
        Err(UpdaterError::MissingSignedVersion) => refused(Refusal::Signature),
        Err(UpdaterError::SignedVersionMismatch { signed, .. }) => refused(Refusal::SignedForAnotherVersion { signed }),
        Err(e) => failed(e.to_string()),
    }
}
