//! "Test connection": tries each API with the saved settings, through the
//! same clients sync uses, and says in plain words what works and what does
//! not. Secrets are sent, never echoed.

use serde::Serialize;
use uuid::Uuid;

use super::client::{Failure, OrganizationsApi, OrganizationsConfig, PartnersApi, PartnersConfig};
use crate::settings::{OrganizationsApiSettings, PartnersApiSettings, check_base_url};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionCheck {
    pub ok: bool,
    pub message: String,
}

fn fail(message: impl Into<String>) -> ConnectionCheck {
    ConnectionCheck { ok: false, message: message.into() }
}

fn unreachable(url: &str, why: &str) -> ConnectionCheck {
    fail(format!("Cannot reach {url}: {why}. Check the address and your network."))
}

/// The secret to send, once the API's address is allowed and a secret is
/// entered; otherwise what to say, before anything is sent.
fn ready<'a>(api: &str, base_url: &str, secret: Option<&'a str>, ask: &str) -> Result<&'a str, ConnectionCheck> {
    if base_url.is_empty() {
        return Err(fail(format!("Not set up: enter the {api} API address.")));
    }
    check_base_url(base_url).map_err(|why| fail(format!("The {api} API address is not allowed: {why}.")))?;
    secret.filter(|s| !s.is_empty()).ok_or_else(|| fail(ask))
}

/// Gets a token with the client id and secret, then reads one page of partners.
pub async fn check_partners(
    client: &reqwest::Client,
    settings: &PartnersApiSettings,
    client_secret: Option<&str>,
) -> ConnectionCheck {
    let secret = match ready("partners", &settings.base_url, client_secret, "Enter the client ID and client secret.") {
        Ok(secret) => secret,
        Err(problem) => return problem,
    };
    if settings.client_id.is_empty() {
        return fail("Enter the client ID.");
    }
    let api = PartnersApi::new(
        client.clone(),
        PartnersConfig {
            base_url: settings.base_url.clone(),
            client_id: settings.client_id.clone(),
            client_secret: secret.to_string(),
            requester_org_id: settings.requester_org_id.unwrap_or(Uuid::nil()),
            target_org_ids: vec![],
            assumed_ops: false,
        },
    );
    match api.sign_in().await {
        Ok(()) => {}
        Err(Failure::Network(why)) => return unreachable(&settings.base_url, &why),
        Err(Failure::SignIn(_)) => return fail("The server is reachable, but it refused the client ID or secret."),
        Err(Failure::Transient { message, .. }) if message.starts_with("the server's answer") => {
            return fail(
                "The server answered, but not with a sign-in token: is the address right (with its version, \
                 e.g. /v1-beta)?",
            );
        }
        Err(other) => return fail(format!("Signing in failed: {other}. Try again later.")),
    }
    let Some(org) = settings.requester_org_id else {
        return fail("Signed in. Enter your organization ID to read and send partners.");
    };
    let listed = api.list(org, &[], 0).await.map(|(_, total)| total);
    read(
        listed,
        &settings.base_url,
        Words {
            read: "Signed in and partners can be read ({total} partners on the server).",
            refused: "Signed in, but the server refused your organization ID for partners.",
            failed: "Signed in, but listing partners failed: {why}.",
        },
    )
}

/// Reads one page of organizations with the API key.
pub async fn check_organizations(
    client: &reqwest::Client,
    settings: &OrganizationsApiSettings,
    api_key: Option<&str>,
) -> ConnectionCheck {
    let key = match ready("organizations", &settings.base_url, api_key, "Enter the API key.") {
        Ok(key) => key,
        Err(problem) => return problem,
    };
    let api = OrganizationsApi::new(
        client.clone(),
        OrganizationsConfig { base_url: settings.base_url.clone(), api_key: key.to_string() },
    );
    let listed = api.list(0).await.map(|(_, total)| total);
    read(
        listed,
        &settings.base_url,
        Words {
            read: "Connected; organizations can be read ({total} organizations on the server).",
            refused: "The server is reachable, but it refused the API key.",
            failed: "Listing organizations failed: {why}.",
        },
    )
}

/// What to say about reading a first page: `{total}` and `{why}` are filled in.
struct Words {
    read: &'static str,
    refused: &'static str,
    failed: &'static str,
}

fn read(listed: Result<usize, Failure>, url: &str, words: Words) -> ConnectionCheck {
    match listed {
        Ok(total) => ConnectionCheck { ok: true, message: words.read.replace("{total}", &total.to_string()) },
        Err(Failure::Network(why)) => unreachable(url, &why),
        Err(Failure::SignIn(_) | Failure::Forbidden(_)) => fail(words.refused),
        Err(other) => fail(words.failed.replace("{why}", &other.to_string())),
    }
}
