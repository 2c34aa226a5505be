//! "Test connection": tries each API with the saved settings and says, in plain
//! words, what works and what does not. Secrets are sent, never echoed.

use serde::Serialize;

use crate::settings::{OrganizationsApiSettings, PartnersApiSettings};

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConnectionCheck {
    pub ok: bool,
    pub message: String,
}

fn fail(message: impl Into<String>) -> ConnectionCheck {
    ConnectionCheck { ok: false, message: message.into() }
}

fn unreachable(url: &str, e: &reqwest::Error) -> ConnectionCheck {
    let why = if e.is_timeout() {
        "it did not answer in time"
    } else if e.is_connect() {
        "no connection could be made"
    } else {
        "the request failed"
    };
    fail(format!("Cannot reach {url}: {why}. Check the address and your network."))
}

/// A 3xx: redirects are not followed (see [`super::http_client_with`]).
fn redirected(response: &reqwest::Response) -> String {
    format!("{}. Enter the address it names in Settings if you trust it.", super::redirect_message(response))
}

/// Gets a token with the client id and secret, then reads one page of partners.
pub async fn check_partners(
    client: &reqwest::Client,
    settings: &PartnersApiSettings,
    client_secret: Option<&str>,
) -> ConnectionCheck {
    if settings.base_url.is_empty() {
        return fail("Not set up: enter the partners API address.");
    }
    if let Err(why) = crate::settings::check_base_url(&settings.base_url) {
        return fail(format!("The partners API address is not allowed: {why}."));
    }
    let Some(secret) = client_secret.filter(|s| !s.is_empty()) else {
        return fail("Enter the client ID and client secret.");
    };
    if settings.client_id.is_empty() {
        return fail("Enter the client ID.");
    }
    let token_url = format!("{}/oauth2/token", settings.base_url);
    let body = serde_json::json!({ "client_id": settings.client_id, "client_secret": secret });
    let response = match client.post(&token_url).json(&body).send().await {
        Ok(r) => r,
        Err(e) => return unreachable(&settings.base_url, &e),
    };
    let status = response.status();
    if matches!(status.as_u16(), 400 | 401 | 403 | 422) {
        return fail("The server is reachable, but it refused the client ID or secret.");
    }
    if status.is_redirection() {
        return fail(redirected(&response));
    }
    if !status.is_success() {
        return fail(format!("The server answered {status} when signing in. Try again later."));
    }
    let token = match response.json::<serde_json::Value>().await {
        Ok(v) => v.get("access_token").and_then(|t| t.as_str()).map(str::to_string),
        Err(_) => None,
    };
    let Some(token) = token else {
        return fail(
            "The server answered, but not with a sign-in token: is the address right (with its version, e.g. /v1-beta)?",
        );
    };
    let Some(org) = settings.requester_org_id else {
        return ConnectionCheck {
            ok: false,
            message: "Signed in. Enter your organization ID to read and send partners.".into(),
        };
    };
    let list = client
        .get(format!("{}/partners", settings.base_url))
        .query(&[("partner_types", "customer"), ("partner_types", "supplier"), ("limit", "1"), ("offset", "0")])
        .bearer_auth(&token)
        .header("Requester-Organization-ID", org.to_string())
        .header("Target-Organization-ID", org.to_string())
        .send()
        .await;
    match list {
        Err(e) => unreachable(&settings.base_url, &e),
        Ok(r) if r.status().is_success() => {
            let total = r.json::<serde_json::Value>().await.ok().and_then(|v| v.get("total_items")?.as_u64());
            let count = total.map(|n| format!(" ({n} partners on the server)")).unwrap_or_default();
            ConnectionCheck { ok: true, message: format!("Signed in and partners can be read{count}.") }
        }
        Ok(r) if r.status().is_redirection() => fail(redirected(&r)),
        Ok(r) if matches!(r.status().as_u16(), 401 | 403) => {
            fail("Signed in, but the server refused your organization ID for partners.")
        }
        Ok(r) => fail(format!("Signed in, but listing partners failed with {}.", r.status())),
    }
}

/// Reads one page of organizations with the API key.
pub async fn check_organizations(
    client: &reqwest::Client,
    settings: &OrganizationsApiSettings,
    api_key: Option<&str>,
) -> ConnectionCheck {
    if settings.base_url.is_empty() {
        return fail("Not set up: enter the organizations API address.");
    }
    if let Err(why) = crate::settings::check_base_url(&settings.base_url) {
        return fail(format!("The organizations API address is not allowed: {why}."));
    }
    let Some(key) = api_key.filter(|k| !k.is_empty()) else {
        return fail("Enter the API key.");
    };
    let response = client
        .get(format!("{}/api/v1/organizations", settings.base_url))
        .query(&[("limit", "1"), ("offset", "0")])
        .header("apiKey", key)
        .send()
        .await;
    match response {
        Err(e) => unreachable(&settings.base_url, &e),
        Ok(r) if r.status().is_success() => {
            let total = r.json::<serde_json::Value>().await.ok().and_then(|v| v.get("total")?.as_u64());
            let count = total.map(|n| format!(" ({n} organizations on the server)")).unwrap_or_default();
            ConnectionCheck { ok: true, message: format!("Connected; organizations can be read{count}.") }
        }
        Ok(r) if r.status().is_redirection() => fail(redirected(&r)),
        Ok(r) if matches!(r.status().as_u16(), 401 | 403) => {
            fail("The server is reachable, but it refused the API key.")
        }
        Ok(r) => fail(format!("The server answered {} when listing organizations.", r.status())),
    }
}
