//! Credentials: OAuth2 client tokens and organization headers (partners), `apiKey` (organizations).

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Json;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::config::ClientCredentials;
use crate::envelope::{self, Detail};
use crate::state::{AppState, lock};

pub(crate) const REQUESTER_HEADER: &str = "Requester-Organization-ID";
pub(crate) const TARGET_HEADER: &str = "Target-Organization-ID";

struct Token {
    client_id: String,
    org_id: Uuid,
    expires_at: Instant,
}

/// Clients, issued tokens (in memory only, like a real token cache) and API keys.
pub(crate) struct Auth {
    clients: Mutex<HashMap<String, ClientCredentials>>,
    tokens: Mutex<HashMap<String, Token>>,
    api_keys: HashSet<String>,
    pub default_ttl: u64,
}

/// Why a bearer token was refused.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BearerError {
    Missing,
    Unknown,
    Expired,
}

impl Auth {
    pub fn new(clients: Vec<ClientCredentials>, api_keys: Vec<String>, default_ttl: u64) -> Self {
        Self {
            clients: Mutex::new(clients.into_iter().map(|c| (c.client_id.clone(), c)).collect()),
            tokens: Mutex::new(HashMap::new()),
            api_keys: api_keys.into_iter().collect(),
            default_ttl,
        }
    }

    /// Issues a token for valid credentials: a random opaque string (two v4 UUIDs' worth of entropy).
    pub fn issue(&self, client_id: &str, client_secret: &str, ttl_secs: u64) -> Option<String> {
        let org_id = {
            let clients = lock(&self.clients);
            let client = clients.get(client_id).filter(|c| c.client_secret == client_secret)?;
            client.org_id
        };
        let token = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
        let expires_at = Instant::now() + Duration::from_secs(ttl_secs);
        lock(&self.tokens).insert(token.clone(), Token { client_id: client_id.to_owned(), org_id, expires_at });
        Some(token)
    }

    /// The organization of the client that holds the token in `Authorization: Bearer <token>`.
    pub fn check_bearer(&self, headers: &HeaderMap) -> Result<Uuid, BearerError> {
        let value = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).ok_or(BearerError::Missing)?;
        let (scheme, token) = value.split_once(' ').ok_or(BearerError::Missing)?;
        if !scheme.eq_ignore_ascii_case("bearer") {
            return Err(BearerError::Missing);
        }
        let tokens = lock(&self.tokens);
        let token = tokens.get(token.trim()).ok_or(BearerError::Unknown)?;
        if Instant::now() >= token.expires_at {
            return Err(BearerError::Expired);
        }
        Ok(token.org_id)
    }

    /// Expires every issued token at once (a tokens-revoked-server-side scenario).
    pub fn expire_all(&self) {
        let now = Instant::now();
        for token in lock(&self.tokens).values_mut() {
            token.expires_at = now;
        }
    }

    /// Adds a client or replaces its secret/org; a replaced client's old tokens stop working.
    pub fn add_client(&self, client: ClientCredentials) {
        lock(&self.tokens).retain(|_, t| t.client_id != client.client_id);
        lock(&self.clients).insert(client.client_id.clone(), client);
    }

    /// Removes a client and every token it holds; true when it existed.
    pub fn revoke_client(&self, client_id: &str) -> bool {
        lock(&self.tokens).retain(|_, t| t.client_id != client_id);
        lock(&self.clients).remove(client_id).is_some()
    }

    pub fn api_key_ok(&self, key: Option<&str>) -> bool {
        key.is_some_and(|k| self.api_keys.contains(k))
    }
}

fn body_loc(field: &str) -> Vec<Value> {
    vec![json!("body"), json!(field)]
}

/// Parses a JSON request body, or answers 422 the way FastAPI does for undecodable JSON.
pub(crate) fn json_body(body: &Bytes) -> Result<Value, Response> {
    serde_json::from_slice(body).map_err(|e| {
        envelope::detail(
            StatusCode::UNPROCESSABLE_ENTITY,
            vec![Detail::field(vec![json!("body"), json!(e.column())], "JSON decode error", "json_invalid")],
        )
    })
}

/// `POST {prefix}/oauth2/token` with JSON `{client_id, client_secret}`.
pub(crate) async fn issue_token(State(app): State<AppState>, body: Bytes) -> Response {
    let value = match json_body(&body) {
        Ok(value) => value,
        Err(response) => return response,
    };
    let mut errors = Vec::new();
    let mut credential = |field: &str, max: usize| match value.get(field) {
        None => {
            errors.push(Detail::field(body_loc(field), "Field required", "missing"));
            None
        }
        Some(Value::String(s)) if (1..=max).contains(&s.chars().count()) => Some(s.clone()),
        Some(Value::String(_)) => {
            errors.push(Detail::field(
                body_loc(field),
                format!("String should have between 1 and {max} characters"),
                "string_length",
            ));
            None
        }
        Some(_) => {
            errors.push(Detail::field(body_loc(field), "Input should be a valid string", "string_type"));
            None
        }
    };
    let client_id = credential("client_id", 128);
    let client_secret = credential("client_secret", 64);
    let (Some(client_id), Some(client_secret)) = (client_id, client_secret) else {
        return envelope::detail(StatusCode::UNPROCESSABLE_ENTITY, errors);
    };
    let ttl = app.token_ttl();
    match app.auth.issue(&client_id, &client_secret, ttl) {
        Some(token) => Json(json!({ "access_token": token, "expires_in": ttl })).into_response(),
        None => envelope::detail(
            StatusCode::UNAUTHORIZED,
            vec![Detail::new(
                body_loc("client_secret"),
                "Invalid client credentials",
                "invalid_client",
                "invalid_client",
            )],
        ),
    }
}

/// The checked caller of a partners endpoint: its own org and the org it acts on.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PartnerAuth {
    pub requester: Uuid,
    pub target: Uuid,
}

impl PartnerAuth {
    /// Creating partners is for one's own organization only (the "Self" role).
    pub fn require_self(&self) -> Result<(), Response> {
        self.require_write_unless(self.requester == self.target)
    }

    /// Changing and deleting them too, unless the connection lets the requester write there.
    pub fn require_write(&self, app: &crate::state::Shared) -> Result<(), Response> {
        let allowed =
            self.requester == self.target || app.writable_connections.contains(&(self.requester, self.target));
        self.require_write_unless(allowed)
    }

    fn require_write_unless(&self, allowed: bool) -> Result<(), Response> {
        if allowed {
            Ok(())
        } else {
            Err(envelope::detail(
                StatusCode::FORBIDDEN,
                vec![Detail::new(
                    vec![json!("header"), json!(TARGET_HEADER)],
                    "Partners can only be changed for your own organization",
                    "forbidden",
                    "forbidden",
                )],
            ))
        }
    }
}

fn org_header(headers: &HeaderMap, name: &str, errors: &mut Vec<Detail>) -> Option<Uuid> {
    let loc = vec![json!("header"), json!(name)];
    let Some(value) = headers.get(name) else {
        errors.push(Detail::field(loc, "Field required", "missing"));
        return None;
    };
    match value.to_str().ok().and_then(|v| Uuid::parse_str(v.trim()).ok()) {
        Some(id) => Some(id),
        None => {
            errors.push(Detail::field(loc, "Input should be a valid UUID", "uuid_parsing"));
            None
        }
    }
}

/// Checks, in order: the bearer token (401), both org headers (422), that the requester is the
/// token's organization (403) and that the target is the requester or connected to it (403).
impl FromRequestParts<AppState> for PartnerAuth {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let token_org = app.auth.check_bearer(&parts.headers).map_err(|e| {
            let (msg, code) = match e {
                BearerError::Missing => ("Not authenticated", "not_authenticated"),
                BearerError::Unknown => ("Invalid token", "invalid_token"),
                BearerError::Expired => ("Token expired", "token_expired"),
            };
            envelope::detail(
                StatusCode::UNAUTHORIZED,
                vec![Detail::new(vec![json!("header"), json!("Authorization")], msg, "unauthorized", code)],
            )
        })?;
        let mut errors = Vec::new();
        let requester = org_header(&parts.headers, REQUESTER_HEADER, &mut errors);
        let target = org_header(&parts.headers, TARGET_HEADER, &mut errors);
        let (Some(requester), Some(target)) = (requester, target) else {
            return Err(envelope::detail(StatusCode::UNPROCESSABLE_ENTITY, errors));
        };
        let forbidden = |header: &str, msg: &str| {
            envelope::detail(
                StatusCode::FORBIDDEN,
                vec![Detail::new(vec![json!("header"), json!(header)], msg, "forbidden", "forbidden")],
            )
        };
        if requester != token_org {
            return Err(forbidden(REQUESTER_HEADER, "The API client does not belong to the requester organization"));
        }
        if target != requester && !app.connections.contains(&(requester, target)) {
            return Err(forbidden(TARGET_HEADER, "No connection with the target organization"));
        }
        Ok(Self { requester, target })
    }
}

/// A caller of the organizations API with a known `apiKey`.
pub(crate) struct ApiKey;

impl FromRequestParts<AppState> for ApiKey {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        let key = parts.headers.get("apiKey").and_then(|v| v.to_str().ok());
        if app.auth.api_key_ok(key) {
            Ok(ApiKey)
        } else {
            Err(envelope::org_error(
                StatusCode::UNAUTHORIZED,
                "Unauthenticated",
                "Cannot retrieve session data because of expired token",
                None,
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn bearer(token: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::AUTHORIZATION, HeaderValue::from_str(&format!("Bearer {token}")).expect("header"));
        headers
    }

    #[test]
    fn tokens_expire_and_die_with_their_client() {
        let org = Uuid::new_v4();
        let auth = Auth::new(vec![ClientCredentials::new("c", "s", org)], vec![], 60);
        assert_eq!(auth.issue("c", "wrong", 60), None);
        let token = auth.issue("c", "s", 60).expect("issued");
        assert_eq!(auth.check_bearer(&bearer(&token)), Ok(org));
        assert_eq!(auth.check_bearer(&HeaderMap::new()), Err(BearerError::Missing));
        assert_eq!(auth.check_bearer(&bearer("nope")), Err(BearerError::Unknown));
        auth.expire_all();
        assert_eq!(auth.check_bearer(&bearer(&token)), Err(BearerError::Expired));
        let token = auth.issue("c", "s", 60).expect("issued again");
        assert!(auth.revoke_client("c"));
        assert_eq!(auth.check_bearer(&bearer(&token)), Err(BearerError::Unknown));
        assert_eq!(auth.issue("c", "s", 60), None);
    }
}
