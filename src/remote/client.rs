//! The two central APIs as the sync engine uses them: one method per
//! operation of the contract (`api/*.openapi.yaml`), each answer sorted into
//! what sync does next. Secrets and tokens stay in memory here; they are never
//! logged (requests are not traced with their headers).

use std::time::{Duration, Instant};

use reqwest::{Method, RequestBuilder, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use super::wire::{Invalid, ServerOrganization, ServerPartner, field_errors};
use crate::model::SyncError;

/// Why a request did not do what it was for, sorted by what happens next.
#[derive(Debug, Clone, PartialEq)]
pub enum Failure {
    /// No answer: no connection, a reset, a timeout. Try again later.
    Network(String),
    /// 5xx, 429, a redirect or an answer that cannot be read: try again later
    /// (after `retry_after` if the server said). `declined`: the server said
    /// it did not do it (a redirect, 429, 503), so it cannot land later.
    Transient { message: String, retry_after: Option<Duration>, declined: bool },
    /// 401 that a new token does not cure (or a refused sign-in): sync of this
    /// API pauses until the credentials change.
    SignIn(String),
    /// 403 to a signed-in request: this caller may not do this, here (the
    /// partners API answers so for a write outside one's own organization).
    Forbidden(String),
    /// 400/422: the server refused this record, with its reasons.
    Rejected(SyncError),
    /// 404.
    NotFound,
    /// 405, or an operation switched off in the settings: the server does not offer it.
    Unsupported,
}

impl Failure {
    pub(crate) fn transient(message: impl Into<String>) -> Failure {
        Failure::Transient { message: message.into(), retry_after: None, declined: false }
    }

    /// The server answered that it did not do the request (for now).
    fn declined(message: impl Into<String>, retry_after: Option<Duration>) -> Failure {
        Failure::Transient { message: message.into(), retry_after, declined: true }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Failure::Network(message) | Failure::Transient { message, .. } => f.write_str(message),
            Failure::SignIn(reason) | Failure::Forbidden(reason) => f.write_str(reason),
            Failure::Rejected(error) => f.write_str(&error.message),
            Failure::NotFound => f.write_str("the server has no such record (404)"),
            Failure::Unsupported => f.write_str("the server does not offer this operation"),
        }
    }
}

pub type Answer<T> = Result<T, Failure>;

/// The server's clock against this machine's, from the `Date` header of its
/// last answer. The settle window is measured by this machine's clock, which
/// can jump (a corrected clock, a laptop waking in another time zone's NTP
/// fix); where the server's clock says far less time has passed since an
/// attempt began, the engine believes the server.
#[derive(Debug, Default)]
pub struct ServerClock {
    /// Server time minus local time, in milliseconds, at the last answer.
    offset_ms: std::sync::Mutex<Option<i64>>,
}

impl ServerClock {
    fn saw(&self, response: &reqwest::Response) {
        let date = response.headers().get(reqwest::header::DATE).and_then(|v| v.to_str().ok());
        let Some(date) = date.and_then(|d| chrono::DateTime::parse_from_rfc2822(d.trim()).ok()) else { return };
        let offset = date.with_timezone(&chrono::Utc).timestamp_millis() - chrono::Utc::now().timestamp_millis();
        *self.offset_ms.lock().unwrap_or_else(|e| e.into_inner()) = Some(offset);
    }

    /// Server time minus local time at the last answer with a readable `Date`.
    pub fn offset(&self) -> Option<chrono::TimeDelta> {
        self.offset_ms.lock().unwrap_or_else(|e| e.into_inner()).map(chrono::TimeDelta::milliseconds)
    }

    /// Now by the server's clock, as last seen (to the second: `Date` has no finer unit).
    pub fn now(&self) -> Option<chrono::DateTime<chrono::Utc>> {
        self.offset().map(|o| chrono::Utc::now() + o)
    }
}

fn network(e: &reqwest::Error) -> Failure {
    let what = if e.is_timeout() {
        "the server did not answer in time"
    } else if e.is_connect() {
        "no connection to the server"
    } else {
        "the connection failed"
    };
    Failure::Network(what.into())
}

/// `Retry-After` as seconds or an HTTP date, as the server sent it. Unbounded
/// here: the caller's retry policy holds it to its cap.
fn retry_after(response: &reqwest::Response) -> Option<Duration> {
    let text = response.headers().get(reqwest::header::RETRY_AFTER)?.to_str().ok()?.trim();
    if let Ok(seconds) = text.parse::<u64>() {
        return Some(Duration::from_secs(seconds));
    }
    let at = chrono::DateTime::parse_from_rfc2822(text).ok()?;
    // A date in the past means "now"; `to_std` refuses a negative span.
    Some((at.with_timezone(&chrono::Utc) - chrono::Utc::now()).to_std().unwrap_or_default())
}

/// The largest answer read, in bytes. A page of 100 partners at every
/// field's limit is under 250 KB; a page of 100 organizations with 100
/// contacts each, every text at its cap in 4-byte characters, is about 55 MB.
/// 64 MiB holds both, and bounds what a server that never stops sending can
/// make the app hold in memory.
pub const MAX_ANSWER_BYTES: usize = 64 << 20;

/// A response read to the end: status and JSON body (`Value::Null` when empty).
struct Reply {
    status: StatusCode,
    body: Result<Value, String>,
    retry_after: Option<Duration>,
    /// Set for a 3xx: what to tell the user (redirects are not followed).
    redirect: Option<String>,
}

fn too_large() -> Failure {
    Failure::transient(format!(
        "the server's answer was too large (over {} MB) and was not read",
        MAX_ANSWER_BYTES >> 20
    ))
}

async fn send(clock: &ServerClock, request: RequestBuilder) -> Answer<Reply> {
    let mut response = request.send().await.map_err(|e| network(&e))?;
    clock.saw(&response);
    let status = response.status();
    let retry_after = retry_after(&response);
    let redirect = status.is_redirection().then(|| crate::remote::redirect_message(&response));
    if response.content_length().is_some_and(|n| n > MAX_ANSWER_BYTES as u64) {
        return Err(too_large());
    }
    // Read in chunks, so an answer that never ends is cut off at the limit.
    let mut bytes = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(|e| network(&e))? {
        if bytes.len() + chunk.len() > MAX_ANSWER_BYTES {
            return Err(too_large());
        }
        bytes.extend_from_slice(&chunk);
    }
    let body = if bytes.is_empty() {
        Ok(Value::Null)
    } else {
        serde_json::from_slice(&bytes).map_err(|e| format!("the server's answer was not valid JSON ({e})"))
    };
    Ok(Reply { status, body, retry_after, redirect })
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
        401 => Failure::SignIn(format!(
            "The server refused the credentials ({}). Check them in Settings; nothing is lost meanwhile.",
            reply.status
        )),
        403 => Failure::Forbidden(match error_detail(&body) {
            Some(said) => format!("the server refused this {what} (403: {said})"),
            None => format!("the server refused this {what} (403)"),
        }),
        404 => Failure::NotFound,
        405 | 501 => Failure::Unsupported,
        300..=399 => Failure::declined(reply.redirect.clone().unwrap_or_else(|| "the server redirected".into()), None),
        429 => Failure::declined("the server asked to slow down (429)", reply.retry_after),
        503 => Failure::declined(format!("the server answered {}", reply.status), reply.retry_after),
        // 500, 502, 504, ...: the request may have been carried out before it failed.
        _ => Failure::Transient {
            message: format!("the server answered {}", reply.status),
            retry_after: reply.retry_after,
            declined: false,
        },
    }
}

/// What an error answer says, in a line: its message, or its first field
/// error's (cut to 200 characters: the server's words, shown to a person).
fn error_detail(body: &Value) -> Option<String> {
    let (message, fields) = field_errors(body);
    let said = message.or_else(|| fields.first().map(|f| f.message.clone()))?;
    let line: String = said.chars().filter(|c| !c.is_control()).take(200).collect();
    (!line.trim().is_empty()).then_some(line)
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

/// A page of a list: the records under `items`, and the total the server
/// claims under `total` (a claim: see [`Pager`]), or the page's length without one.
fn list_answer(reply: Reply, items: &str, total: &str) -> Answer<(Vec<Value>, usize)> {
    let (page, claimed) = list_answer_as_sent(reply, items, total)?;
    let claimed = claimed.unwrap_or(page.len());
    Ok((page, claimed))
}

/// The same, with the total only if the server sent one.
fn list_answer_as_sent(reply: Reply, items: &str, total: &str) -> Answer<(Vec<Value>, Option<usize>)> {
    if !reply.status.is_success() {
        return Err(failure(&reply, "list"));
    }
    parsed(reply, |b| {
        let page = b.get(items)?.as_array()?.clone();
        let claimed = b.get(total).and_then(Value::as_u64).map(|n| usize::try_from(n).unwrap_or(usize::MAX));
        Some((page, claimed))
    })
}

/// A list's total as the server claims it; an answer without one is no answer.
fn total_of(answer: (Vec<Value>, Option<usize>)) -> Answer<usize> {
    answer.1.ok_or_else(|| Failure::transient("the server's list did not say how many records it holds"))
}

/// The answer to a write, which must hold one valid record (the one just
/// written); anything but a 2xx is sorted as a failure about `what`.
fn record_answer<T>(reply: Reply, what: &str, parse: impl FnOnce(&Value) -> Result<T, Invalid>) -> Answer<T> {
    if !reply.status.is_success() {
        return Err(failure(&reply, what));
    }
    let body = reply.body.map_err(Failure::transient)?;
    parse(&body).map_err(|e| Failure::transient(format!("the server's answer was not a valid record ({e})")))
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
    pub clock: ServerClock,
}

/// Records per list request (the largest page both APIs allow).
pub(crate) const PAGE: usize = 100;

/// The longest a token is used before a new one is asked for.
const MAX_TOKEN_SECS: u64 = 24 * 60 * 60;

/// Decides when a paged scan stops, whatever the server claims: at an empty
/// or short page, when a page repeats one already read, when the reading
/// passes the first `total` by a margin (a list whose total keeps growing),
/// or at `max` records.
pub(crate) struct Pager {
    max: usize,
    cap: Option<usize>,
    read: usize,
    pages: std::collections::HashSet<u64>,
}

/// What a [`Pager`] says after a page.
#[derive(Debug, PartialEq)]
pub(crate) enum Paging {
    /// Ask for the page at this offset.
    More(usize),
    /// The list was read to its end.
    Done,
    /// The server would have kept the scan going: it stopped here, read in part, for this reason.
    Cut(String),
}

impl Pager {
    pub(crate) fn new(max: usize) -> Pager {
        Pager { max, cap: None, read: 0, pages: Default::default() }
    }

    /// The most records read from a list whose first answer said `total`:
    /// the total, a tenth more and two pages (records added while it is read), at most `max`.
    fn cap_for(total: usize, max: usize) -> usize {
        total.saturating_add(total / 10).saturating_add(2 * PAGE).min(max)
    }

    /// Whether this page is one read before (same records in the same order).
    pub(crate) fn repeats(&mut self, items: &[Value]) -> bool {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        for item in items {
            match item.get("id") {
                Some(id) => id.to_string().hash(&mut h),
                None => item.to_string().hash(&mut h),
            }
        }
        !items.is_empty() && !self.pages.insert(h.finish())
    }

    pub(crate) fn page(&mut self, items: &[Value], total: usize) -> Paging {
        if items.is_empty() {
            return Paging::Done;
        }
        if self.repeats(items) {
            return Paging::Cut(format!("the server sent the same page twice after {} records", self.read));
        }
        self.read += items.len();
        let cap = *self.cap.get_or_insert(Self::cap_for(total, self.max));
        if items.len() < PAGE || self.read >= total {
            Paging::Done
        } else if self.read >= cap {
            Paging::Cut(format!("the server kept offering more than it first said; reading stopped at {}", self.read))
        } else {
            Paging::More(self.read)
        }
    }
}

impl PartnersApi {
    pub fn new(http: reqwest::Client, config: PartnersConfig) -> PartnersApi {
        PartnersApi { http, config, token: tokio::sync::Mutex::new(None), clock: ServerClock::default() }
    }

    pub fn config(&self) -> &PartnersConfig {
        &self.config
    }

    /// Asks for a new token: whether the address and the client ID and secret work.
    pub async fn sign_in(&self) -> Answer<()> {
        self.token(true).await.map(|_| ())
    }

    /// The current token, or a new one when there is none or it is about to expire.
    async fn token(&self, renew: bool) -> Answer<String> {
        let mut slot = self.token.lock().await;
        if let Some(t) = slot.as_ref().filter(|t| !renew && Instant::now() < t.renew_at) {
            return Ok(t.value.clone());
        }
        let body = json!({"client_id": self.config.client_id, "client_secret": self.config.client_secret});
        let reply =
            send(&self.clock, self.http.post(format!("{}/oauth2/token", self.config.base_url)).json(&body)).await?;
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
        // The server's lifetime, held to a day at most: near 2^64 seconds it
        // would overflow the clock, and no sign-in should outlive a day here.
        let expires_in = expires_in.min(MAX_TOKEN_SECS);
        // Renew a little before expiry: a tenth of the lifetime, at most a minute.
        let margin = (expires_in / 10).min(60);
        let now = Instant::now();
        let renew_at = now.checked_add(Duration::from_secs(expires_in - margin)).unwrap_or(now);
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
            let reply = send(&self.clock, request).await?;
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
        record_answer(reply, "partner", ServerPartner::from_json)
    }

    /// `PUT /partners/{id}` (assumed: not in the vendor's documents).
    pub async fn update(&self, id: Uuid, body: &Value, target: Uuid, idempotency_key: &str) -> Answer<ServerPartner> {
        if !self.config.assumed_ops {
            return Err(Failure::Unsupported);
        }
        let url = format!("{}/partners/{id}", self.config.base_url);
        let reply = self.call(|h| h.put(&url).json(body).header("Idempotency-Key", idempotency_key), target).await?;
        record_answer(reply, "partner", ServerPartner::from_json)
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
        self.list_limited(target, extra, offset, PAGE).await
    }

    /// How many partners this organization's list holds: one one-item request.
    pub async fn total(&self, target: Uuid) -> Answer<usize> {
        total_of(list_answer_as_sent(self.list_request(target, &[], 0, 1).await?, "items", "total_items")?)
    }

    async fn list_limited(
        &self,
        target: Uuid,
        extra: &[(&str, String)],
        offset: usize,
        limit: usize,
    ) -> Answer<(Vec<Value>, usize)> {
        list_answer(self.list_request(target, extra, offset, limit).await?, "items", "total_items")
    }

    async fn list_request(&self, target: Uuid, extra: &[(&str, String)], offset: usize, limit: usize) -> Answer<Reply> {
        let url = format!("{}/partners", self.config.base_url);
        let mut query: Vec<(&str, String)> = vec![
            ("partner_types", "customer".into()),
            ("partner_types", "supplier".into()),
            ("limit", limit.to_string()),
            ("offset", offset.to_string()),
        ];
        query.extend(extra.iter().cloned());
        self.call(|h| h.get(&url).query(&query), target).await
    }

    /// Every valid partner with this email (the search is by substring; only
    /// exact matches are returned). A search that does not end is an error:
    /// a reconciliation must not decide on part of the answer.
    pub async fn find_by_email(&self, email: &str) -> Answer<Vec<ServerPartner>> {
        let mut found = Vec::new();
        let mut offset = 0;
        let extra = [("search_field", "email".to_string()), ("search_text", email.to_string())];
        // A hundred pages of one email is no real book of partners.
        let mut pager = Pager::new(100 * PAGE);
        loop {
            let (items, total) = self.list(self.config.requester_org_id, &extra, offset).await?;
            found.extend(
                items
                    .iter()
                    .filter_map(|v| ServerPartner::from_json(v).ok())
                    .filter(|p| p.fields.email.eq_ignore_ascii_case(email)),
            );
            match pager.page(&items, total) {
                Paging::More(next) => offset = next,
                Paging::Done => return Ok(found),
                Paging::Cut(why) => return Err(Failure::transient(format!("searching by email: {why}"))),
            }
        }
    }

    /// Which of these server ids still exist (`partner_ids=` is the documented way to read by id).
    ///
    /// An answer with a record that was not asked for means the server
    /// ignored the filter (it sent a page of everything), so what is missing
    /// from it says nothing: that is no answer, and nothing is deleted on it.
    pub async fn existing(&self, target: Uuid, ids: &[Uuid]) -> Answer<Vec<Uuid>> {
        let found = self.by_ids(target, ids).await?;
        Ok(found.iter().filter_map(|item| item.get("id").and_then(Value::as_str)?.parse().ok()).collect())
    }

    /// These partners as the server holds them now, 50 to a request (those
    /// it does not have are left out). The same guard as [`Self::existing`]:
    /// a record that was not asked for means the filter was ignored.
    pub async fn by_ids(&self, target: Uuid, ids: &[Uuid]) -> Answer<Vec<Value>> {
        let mut found = Vec::new();
        for chunk in ids.chunks(50) {
            let extra: Vec<(&str, String)> = chunk.iter().map(|id| ("partner_ids", id.to_string())).collect();
            let (items, _) = self.list(target, &extra, 0).await?;
            for item in items {
                match item.get("id").and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok()) {
                    Some(id) if chunk.contains(&id) => found.push(item),
                    _ => return Err(Failure::transient("the server ignored the partner_ids filter")),
                }
            }
        }
        Ok(found)
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
    pub clock: ServerClock,
}

impl OrganizationsApi {
    pub fn new(http: reqwest::Client, config: OrganizationsConfig) -> OrganizationsApi {
        OrganizationsApi { http, config, clock: ServerClock::default() }
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
        send(&self.clock, request).await
    }

    fn record(reply: Reply) -> Answer<ServerOrganization> {
        record_answer(reply, "organization", ServerOrganization::from_json)
    }

    /// The organization with this id, or `None` when the server does not
    /// know it: 404, or 400 (what the vendor's Python client reports for a
    /// missing record). Good enough before a create, which the server refuses
    /// for an id it has; never enough to delete anything (see [`Self::gone`]).
    pub async fn get(&self, id: &str) -> Answer<Option<ServerOrganization>> {
        let reply = self.call(Method::GET, Some(id), None, None).await?;
        if matches!(reply.status.as_u16(), 404 | 400) {
            return Ok(None);
        }
        Self::record(reply).map(Some)
    }

    /// Whether the server says plainly that this organization is not there
    /// (404). Anything else, a 400 included, is no answer: the record is kept.
    pub async fn gone(&self, id: &str) -> Answer<bool> {
        let reply = self.call(Method::GET, Some(id), None, None).await?;
        match reply.status.as_u16() {
            404 => Ok(true),
            200..=299 => Ok(false),
            _ => Err(failure(&reply, "organization lookup")),
        }
    }

    pub async fn create(&self, body: &Value, idempotency_key: &str) -> Answer<ServerOrganization> {
        Self::record(self.call(Method::POST, None, Some(body), Some(idempotency_key)).await?)
    }

    /// `PUT` takes the full body without `id` (the id is in the path).
    pub async fn update(&self, id: &str, body: &Value, idempotency_key: &str) -> Answer<ServerOrganization> {
        let body = super::wire::without_id(body);
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
        self.list_limited(offset, PAGE).await
    }

    /// How many organizations the list holds: one one-item request.
    pub async fn total(&self) -> Answer<usize> {
        total_of(list_answer_as_sent(self.list_request(0, 1).await?, "data", "total")?)
    }

    async fn list_limited(&self, offset: usize, limit: usize) -> Answer<(Vec<Value>, usize)> {
        list_answer(self.list_request(offset, limit).await?, "data", "total")
    }

    async fn list_request(&self, offset: usize, limit: usize) -> Answer<Reply> {
        let request = self
            .http
            .get(self.url(None))
            .header("apiKey", &self.config.api_key)
            .query(&[("limit", limit), ("offset", offset)]);
        send(&self.clock, request).await
    }
}
