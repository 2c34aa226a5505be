//! The one door to the two central APIs: what their JSON looks like
//! ([`wire`]: records, request bodies, error envelopes), one client per API
//! ([`client`]: every call of the contract in `api/`, each answer sorted into
//! what to do next) and the "Test connection" check. It knows nothing of the
//! store or of sync; both sit above it.

mod check;
pub mod client;
pub mod wire;

pub use check::{ConnectionCheck, check_organizations, check_partners};

use std::time::Duration;

/// One HTTP client for the app: rustls, keep-alive, bounded timeouts.
pub fn http_client() -> reqwest::Client {
    http_client_with(Duration::from_secs(30), 8)
}

/// The client with this per-request timeout and this many idle connections per host.
///
/// Redirects are never followed. Every request carries a credential (the
/// client secret in the token request's body, a Bearer token, the `apiKey`
/// header), and a redirect is the server asking for it to go elsewhere: to
/// another host, or from https to plain http. A same-origin https policy
/// would still let a compromised path send it on; neither vendor documents a
/// redirect, so a 3xx is reported ("the server redirected to …") and the
/// user corrects the address in Settings.
pub fn http_client_with(timeout: Duration, idle_per_host: usize) -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(timeout)
        .pool_max_idle_per_host(idle_per_host)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("Partnerbook/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with these options always builds")
}

/// What a 3xx answer says to the user: where the server wanted the request to
/// go (its scheme and host only) and that it was not followed.
pub(crate) fn redirect_message(response: &reqwest::Response) -> String {
    let target = response
        .headers()
        .get(reqwest::header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| response.url().join(v).ok())
        .and_then(|u| Some(format!("{}://{}", u.scheme(), u.host_str()?)))
        .unwrap_or_else(|| "another address".into());
    format!(
        "the server redirected to {target} ({}); Partnerbook does not follow redirects, so credentials never go to \
         another address",
        response.status().as_u16()
    )
}
