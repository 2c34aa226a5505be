//! The two central APIs as the sync engine uses them: one method per
//! operation of the contract (`api/*.openapi.yaml`), each answer sorted into
//! what sync does next. Secrets and tokens stay in memory here; they are never
//! logged (requests are not traced with their headers).

use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::wire::{ServerOrganization, ServerPartner, field_errors};
use crate::model::SyncError;

/// Why a request did not do what it was for, sorted by what happens next.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// Network trouble, a timeout, 5xx or 429: try again later (after `retry_after` if the server said).
    Transient { message: String, retry_after: Option<Duration> },
    /// 401/403 that a new token does not cure: sync of this API pauses until the credentials change.
    SignIn(String),
    /// 400/422: the server refused this record, with its reasons.
    Rejected(SyncError),
    /// 404.
    NotFound,
    /// 405, or an operation switched off in the settings: the server does not offer it.
    Unsupported,
}

impl Failure {
    pub(crate) fn transient(message: impl Into<String>) -> Failure {
        Failure::Transient { message: message.into(), retry_after: None }
    }
}

pub type Answer<T> = Result<T, Failure>;

fn network(e: &reqwest::Error) -> Failure {
    let what = if e.is_timeout() {
        "the server did not answer in time"
    } else if e.is_connect() {
        "no connection to the server"
    } else {
        "the connection failed"
    };
    Failure::transient(what)
}

fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let text = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    if let Ok(seconds) = text.trim().parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(text.trim()).ok()?;
    (at.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().ok()
}

/// A response read to the end: status and JSON body (`Value::Null` when empty).
struct Reply {
    status: StatusCode,
    body: Result<Value, String>,
    retry_after: Option<Duration>,
}

async fn send(request: RequestBuilder) -> Answer<Reply> {
    let response = request.send().await.map_err(|e| network(&e))?;
    let status = response.status();
    let retry_after = retry_after(&response);
    let bytes = response.bytes().await.map_err(|e| network(&e))?;
    let body = if bytes.is_empty() {
        Ok(Value::Null)
    } else {
        serde_json::from_slice(&bytes).map_err(|e| format!("the server's answer was not valid JSON ({e})"))
    };
    Ok(Reply { status, body, retry_after })
}

/// Sorts a non-success answer; 401 is left to the caller (partners renew a token first).
fn failure(reply: &Reply, what: &str) -> Failure {
    let body = reply.body.as_ref().cloned().unwrap_or(Value::Null);
    match reply.status.as_u16() {
        400 | 422 => {
            let (message, fields) = field_errors(&body);
            let message = match (&message, fields.is_empty()) {
                (_, false) => format!("The server refused this {what}: {}", describe(&fields)),
                (Some(m), true) => format!("The server refused this {what}: {m}"),
                (None, true) => format!("The server refused this {what} ({}).", reply.status),
            };
            Failure::Rejected(SyncError { message, fields })
        }
        401 | 403 => Failure::SignIn(format!(
            "The server refused the credentials ({}). Check them in Settings; nothing is lost meanwhile.",
            reply.status
        )),
        404 => Failure::NotFound,
        405 | 501 => Failure::Unsupported,
        429 => {
            Failure::Transient { message: "the server asked to slow down (429)".into(), retry_after: reply.retry_after }
        }
        _ => Failure::Transient {
            message: format!("the server answered {}", reply.status),
            retry_after: reply.retry_after,
        },
    }
}

fn describe(fields: &[crate::FieldError]) -> String {
    fields.iter().map(|f| format!("{}: {}", f.field, f.message)).collect::<Vec<_>>().join("; ")
}

/// A 2xx answer whose body must parse; one that does not is a transient
/// failure (the change may have been applied: the next attempt reconciles).
fn parsed<T>(reply: Reply, parse: impl FnOnce(&Value) -> Option<T>) -> Answer<T> {
    let body = reply.body.map_err(Failure::transient)?;
    parse(&body).ok_or_else(|| Failure::transient("the server's answer was not in the expected shape"))
}

/// Credentials and addresses of the partners API.
#[derive(Clone)]
pub struct PartnersConfig {
    /// With the version prefix, e.g. `https://api.mycreditapp.ai/v1-beta`.
    pub base_url: String,
    pub client_id: String,
    pub client_secret: String,
    pub requester_org_id: Uuid,
    /// Connected organizations whose partners are read too.
    pub target_org_ids: Vec<Uuid>,
    /// Whether the server offers the undocumented `PUT`/`DELETE /partners/{id}` (`x-assumed` in the contract).
    pub assumed_ops: bool,
}

impl std::fmt::Debug for PartnersConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PartnersConfig")
            .field("base_url", &self.base_url)
            .field("client_id", &self.client_id)
            .field("client_secret", &"<hidden>")
            .field("requester_org_id", &self.requester_org_id)
            .finish()
    }
}

struct Token {
    value: String,
    renew_at: Instant,
}

/// The partners API: OAuth2 client credentials, a Bearer token renewed before it runs out.
pub struct PartnersApi {
    http: reqwest::Client,
    config: PartnersConfig,
    token: tokio::sync::Mutex<Option<Token>>,
}

/// Records per list request (the largest page both APIs allow).
pub(crate) const PAGE: usize = 100;

impl PartnersApi {
    pub fn new(http: reqwest::Client, config: PartnersConfig) -> PartnersApi {
        PartnersApi { http, config, token: tokio::sync::Mutex::new(None) }
    }

    pub fn config(&self) -> &PartnersConfig {
        &self.config
    }

    /// The current token, or a new one when there is none or it is about to expire.
    async fn token(&self, renew: bool) -> Answer<String> {
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref().filter(|t| !renew && Instant::now() < t.renew_at) {
            return Ok(t.value.clone());
        }
        let body = json!({"client_id": self.config.client_id, "client_secret": self.config.client_secret});
        let reply = send(self.http.post(format!("{}/oauth2/token", self.config.base_url)).json(&body)).await?;
        if matches!(reply.status.as_u16(), 400 | 401 | 403 | 422) {
            return Err(Failure::SignIn(
                "The partners API refused the client ID or secret. Enter them again in Settings; nothing is lost meanwhile."
                    .into(),
            ));
        }
        if !reply.status.is_success() {
            return Err(failure(&reply, "sign-in"));
        }
        let (value, expires_in) = parsed(reply, |b| {
            Some((
                b.get("access_token")?.as_str()?.to_string(),
                b.get("expires_in").and_then(Value::as_u64).unwrap_or(3600),
            ))
        })?;
        // Renew a little before expiry: a tenth of the lifetime, at most a minute.
        let margin = (expires_in / 10).min(60);
        let renew_at = Instant::now() + Duration::from_secs(expires_in.saturating_sub(margin));
        *slot = Some(Token { value: value.clone(), renew_at });
        Ok(value)
    }

    /// Sends with the token and both organization headers; on a 401 gets a new
    /// token once and tries again before calling it a sign-in problem.
    async fn call(&self, make: impl Fn(&reqwest::Client) -> RequestBuilder, target: Uuid) -> Answer<Reply> {
        let mut renewed = false;
        loop {
            let token = self.token(renewed).await?;
            let request = make(&self.http)
                .bearer_auth(token)
                .header("Requester-Organization-ID", self.config.requester_org_id.to_string())
                .header("Target-Organization-ID", target.to_string());
            let reply = send(request).await?;
            if reply.status == StatusCode::UNAUTHORIZED && !renewed {
                renewed = true;
                continue;
            }
            return Ok(reply);
        }
    }

    /// `POST /partners`, for one's own organization only (the API allows no other).
    pub async fn create(&self, body: &Value, idempotency_key: &str) -> Answer<ServerPartner> {
        let url = format!("{}/partners", self.config.base_url);
        let reply = self
            .call(|h| h.post(&url).json(body).header("Idempotency-Key", idempotency_key), self.config.requester_org_id)
            .await?;
        if !reply.status.is_success() {
            return Err(failure(&reply, "partner"));
        }
        parsed(reply, ServerPartner::from_json)
    }

    /// `PUT /partners/{id}` (assumed: not in the vendor's documents).
    pub async fn update(&self, id: Uuid, body: &Value, target: Uuid, idempotency_key: &str) -> Answer<ServerPartner> {
        if !self.config.assumed_ops {
            return Err(Failure::Unsupported);
        }
        let url = format!("{}/partners/{id}", self.config.base_url);
        let reply = self.call(|h| h.put(&url).json(body).header("Idempotency-Key", idempotency_key), target).await?;
        if !reply.status.is_success() {
            return Err(failure(&reply, "partner"));
        }
        parsed(reply, ServerPartner::from_json)
    }

    /// `DELETE /partners/{id}` (assumed).
    pub async fn delete(&self, id: Uuid, target: Uuid, idempotency_key: &str) -> Answer<()> {
        if !self.config.assumed_ops {
            return Err(Failure::Unsupported);
        }
        let url = format!("{}/partners/{id}", self.config.base_url);
        let reply = self.call(|h| h.delete(&url).header("Idempotency-Key", idempotency_key), target).await?;
        if reply.status.is_success() { Ok(()) } else { Err(failure(&reply, "partner")) }
    }

    /// One page of `GET /partners` with extra query pairs; returns the items and `total_items`.
    pub async fn list(&self, target: Uuid, extra: &[(&str, String)], offset: usize) -> Answer<(Vec<Value>, usize)> {
        let url = format!("{}/partners", self.config.base_url);
        let mut query: Vec<(&str, String)> = vec![
            ("partner_types", "customer".into()),
            ("partner_types", "supplier".into()),
            ("limit", PAGE.to_string()),
            ("offset", offset.to_string()),
        ];
        query.extend(extra.iter().cloned());
        let reply = self.call(|h| h.get(&url).query(&query), target).await?;
        if !reply.status.is_success() {
            return Err(failure(&reply, "list"));
        }
        parsed(reply, |b| {
            let items = b.get("items")?.as_array()?.clone();
            let total = b.get("total_items").and_then(Value::as_u64).unwrap_or(items.len() as u64) as usize;
            Some((items, total))
        })
    }

    /// Every partner with this email (the search is by substring; only exact matches are returned).
    pub async fn find_by_email(&self, email: &str) -> Answer<Vec<ServerPartner>> {
        let mut found = Vec::new();
        let mut offset = 0;
        let extra = [("search_field", "email".to_string()), ("search_text", email.to_string())];
        loop {
            let (items, total) = self.list(self.config.requester_org_id, &extra, offset).await?;
            found.extend(
                items
                    .iter()
                    .filter_map(ServerPartner::from_json)
                    .filter(|p| p.fields.email.eq_ignore_ascii_case(email)),
            );
            offset += items.len();
            if items.is_empty() || offset >= total {
                return Ok(found);
            }
        }
    }

    /// Which of these server ids still exist (`partner_ids=` is the documented way to read by id).
    pub async fn existing(&self, target: Uuid, ids: &[Uuid]) -> Answer<Vec<Uuid>> {
        let mut present = Vec::new();
        for chunk in ids.chunks(50) {
            let extra: Vec<(&str, String)> = chunk.iter().map(|id| ("partner_ids", id.to_string())).collect();
            let (items, _) = self.list(target, &extra, 0).await?;
            present.extend(items.iter().filter_map(|v| Uuid::parse_str(v.get("id")?.as_str()?).ok()));
        }
        Ok(present)
    }
}

/// Address and key of the organizations API.
#[derive(Clone)]
pub struct OrganizationsConfig {
    /// Without the path, e.g. `https://sight.inspectorio.com`.
    pub base_url: String,
    pub api_key: String,
}

impl std::fmt::Debug for OrganizationsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OrganizationsConfig").field("base_url", &self.base_url).field("api_key", &"<hidden>").finish()
    }
}

/// The organizations API: an `apiKey` header, client-chosen ids.
pub struct OrganizationsApi {
    http: reqwest::Client,
    config: OrganizationsConfig,
}

impl OrganizationsApi {
    pub fn new(http: reqwest::Client, config: OrganizationsConfig) -> OrganizationsApi {
        OrganizationsApi { http, config }
    }

    fn url(&self, id: Option<&str>) -> String {
        match id {
            Some(id) => format!("{}/api/v1/organizations/{id}", self.config.base_url),
            None => format!("{}/api/v1/organizations", self.config.base_url),
        }
    }

    async fn call(&self, method: Method, id: Option<&str>, body: Option<&Value>, key: Option<&str>) -> Answer<Reply> {
        let mut request = self.http.request(method, self.url(id)).header("apiKey", &self.config.api_key);
        if let Some(body) = body {
            request = request.json(body);
        }
        if let Some(key) = key {
            request = request.header("Idempotency-Key", key);
        }
        send(request).await
    }

    fn record(reply: Reply) -> Answer<ServerOrganization> {
        if !reply.status.is_success() {
            return Err(failure(&reply, "organization"));
        }
        parsed(reply, ServerOrganization::from_json)
    }

    pub async fn get(&self, id: &str) -> Answer<Option<ServerOrganization>> {
        let reply = self.call(Method::GET, Some(id), None, None).await?;
        // An unknown id is 404 (or, per some of the vendor's APIs, 400).
        if matches!(reply.status.as_u16(), 404 | 400) {
            return Ok(None);
        }
        Self::record(reply).map(Some)
    }

    pub async fn create(&self, body: &Value, idempotency_key: &str) -> Answer<ServerOrganization> {
        Self::record(self.call(Method::POST, None, Some(body), Some(idempotency_key)).await?)
    }

    /// `PUT` takes the full body without `id` (the id is in the path).
    pub async fn update(&self, id: &str, body: &Value, idempotency_key: &str) -> Answer<ServerOrganization> {
        let mut body = body.clone();
        if let Some(map) = body.as_object_mut() {
            map.remove("id");
        }
        Self::record(self.call(Method::PUT, Some(id), Some(&body), Some(idempotency_key)).await?)
    }

    /// `DELETE`; an id already gone counts as deleted.
    pub async fn delete(&self, id: &str, idempotency_key: &str) -> Answer<()> {
        let reply = self.call(Method::DELETE, Some(id), None, Some(idempotency_key)).await?;
        match reply.status.as_u16() {
            200..=299 | 404 => Ok(()),
            _ => Err(failure(&reply, "organization")),
        }
    }

    pub async fn list(&self, offset: usize) -> Answer<(Vec<Value>, usize)> {
        let request = self
            .http
            .get(self.url(None))
            .header("apiKey", &self.config.api_key)
            .query(&[("limit", PAGE), ("offset", offset)]);
        let reply = send(request).await?;
        if !reply.status.is_success() {
            return Err(failure(&reply, "list"));
        }
        parsed(reply, |b| {
            let items = b.get("data")?.as_array()?.clone();
            let total = b.get("total").and_then(Value::as_u64).unwrap_or(items.len() as u64) as usize;
            Some((items, total))
        })
    }
}
