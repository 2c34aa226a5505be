//! `/_admin`: test and demo controls. No auth and no faults; the server only listens on loopback.
//!
//! Errors here are plain `{"error": "..."}`: these routes are the stand-in's own, not a vendor's.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, patch, post, put};
use axum::{Json, Router};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::Error;
use crate::config::ClientCredentials;
use crate::faults::Faults;
use crate::state::AppState;

pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/_admin/faults", get(get_faults).put(put_faults))
        .route("/_admin/expire-tokens", post(expire_tokens))
        .route("/_admin/assumed-partner-ops", put(set_assumed_ops))
        .route("/_admin/stats", get(stats).delete(reset_stats))
        .route("/_admin/clients", post(add_client))
        .route("/_admin/clients/{client_id}", axum::routing::delete(revoke_client))
        .route("/_admin/partners", get(list_partners).post(insert_partner))
        .route("/_admin/partners/{id}", patch(edit_partner).delete(delete_partner))
        .route("/_admin/organizations", get(list_organizations).post(insert_organization))
        .route("/_admin/organizations/{id}", patch(edit_organization).delete(delete_organization))
}

fn error(status: StatusCode, message: impl std::fmt::Display) -> Response {
    (status, Json(json!({ "error": message.to_string() }))).into_response()
}

fn from_error(e: Error) -> Response {
    match e {
        Error::Invalid(_) | Error::Config(_) => error(StatusCode::UNPROCESSABLE_ENTITY, e),
        other => error(StatusCode::INTERNAL_SERVER_ERROR, other),
    }
}

fn parse<T: serde::de::DeserializeOwned>(body: &Bytes) -> Result<T, Response> {
    serde_json::from_slice(body).map_err(|e| error(StatusCode::BAD_REQUEST, format!("invalid JSON body: {e}")))
}

fn not_found(what: &str) -> Response {
    error(StatusCode::NOT_FOUND, format!("no such {what}"))
}

fn partner_id(raw: &str) -> Result<Uuid, Response> {
    Uuid::parse_str(raw).map_err(|e| error(StatusCode::BAD_REQUEST, format!("bad partner id: {e}")))
}

async fn get_faults(State(app): State<AppState>) -> Response {
    Json(app.faults()).into_response()
}

/// Replaces the faults with the given ones (missing fields take their defaults).
async fn put_faults(State(app): State<AppState>, body: Bytes) -> Response {
    let faults: Faults = match parse(&body) {
        Ok(faults) => faults,
        Err(response) => return response,
    };
    if let Err(e) = faults.validate() {
        return from_error(e);
    }
    app.set_faults(faults);
    Json(app.faults()).into_response()
}

async fn expire_tokens(State(app): State<AppState>) -> StatusCode {
    app.auth.expire_all();
    StatusCode::NO_CONTENT
}

/// Body `{"enabled": true|false}`.
async fn set_assumed_ops(State(app): State<AppState>, body: Bytes) -> Response {
    let value: Value = match parse(&body) {
        Ok(value) => value,
        Err(response) => return response,
    };
    match value.get("enabled").and_then(Value::as_bool) {
        Some(on) => {
            app.set_assumed_partner_ops(on);
            Json(json!({ "enabled": on })).into_response()
        }
        None => error(StatusCode::UNPROCESSABLE_ENTITY, "expected {\"enabled\": true|false}"),
    }
}

async fn stats(State(app): State<AppState>) -> Response {
    Json(app.stats.snapshot()).into_response()
}

async fn reset_stats(State(app): State<AppState>) -> StatusCode {
    app.stats.reset();
    StatusCode::NO_CONTENT
}

/// Adds a client or replaces one with the same id: `{client_id, client_secret, org_id}`.
async fn add_client(State(app): State<AppState>, body: Bytes) -> Response {
    let client: ClientCredentials = match parse(&body) {
        Ok(client) => client,
        Err(response) => return response,
    };
    app.auth.add_client(client.clone());
    (StatusCode::CREATED, Json(client)).into_response()
}

async fn revoke_client(State(app): State<AppState>, Path(client_id): Path<String>) -> Response {
    if app.auth.revoke_client(&client_id) { StatusCode::NO_CONTENT.into_response() } else { not_found("client") }
}

async fn list_partners(State(app): State<AppState>) -> Response {
    match app.all_partners() {
        Ok(all) => Json(all).into_response(),
        Err(e) => from_error(e),
    }
}

/// `{org_id, company_name, ...}`: a partner created by another user of `org_id`.
async fn insert_partner(State(app): State<AppState>, body: Bytes) -> Response {
    let mut value: Value = match parse(&body) {
        Ok(value) => value,
        Err(response) => return response,
    };
    let org_id = value.as_object_mut().and_then(|o| o.remove("org_id"));
    let Some(org_id) = org_id.as_ref().and_then(Value::as_str).and_then(|s| Uuid::parse_str(s).ok()) else {
        return error(StatusCode::UNPROCESSABLE_ENTITY, "org_id: a UUID is required");
    };
    match app.insert_partner(org_id, &value) {
        Ok(partner) => (StatusCode::CREATED, Json(partner)).into_response(),
        Err(e) => from_error(e),
    }
}

async fn edit_partner(State(app): State<AppState>, Path(id): Path<String>, body: Bytes) -> Response {
    let (id, changes) = match (partner_id(&id), parse::<Value>(&body)) {
        (Ok(id), Ok(changes)) => (id, changes),
        (Err(response), _) | (_, Err(response)) => return response,
    };
    match app.edit_partner(id, &changes) {
        Ok(Some(partner)) => Json(partner).into_response(),
        Ok(None) => not_found("partner"),
        Err(e) => from_error(e),
    }
}

async fn delete_partner(State(app): State<AppState>, Path(id): Path<String>) -> Response {
    let id = match partner_id(&id) {
        Ok(id) => id,
        Err(response) => return response,
    };
    match app.delete_partner(id) {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => not_found("partner"),
        Err(e) => from_error(e),
    }
}

async fn list_organizations(State(app): State<AppState>) -> Response {
    match app.all_organizations() {
        Ok(all) => Json(all).into_response(),
        Err(e) => from_error(e),
    }
}

async fn insert_organization(State(app): State<AppState>, body: Bytes) -> Response {
    let value: Value = match parse(&body) {
        Ok(value) => value,
        Err(response) => return response,
    };
    match app.insert_organization(&value) {
        Ok(org) => (StatusCode::CREATED, Json(org)).into_response(),
        Err(e) => from_error(e),
    }
}

async fn edit_organization(State(app): State<AppState>, Path(id): Path<String>, body: Bytes) -> Response {
    let changes: Value = match parse(&body) {
        Ok(changes) => changes,
        Err(response) => return response,
    };
    match app.edit_organization(&id, &changes) {
        Ok(Some(org)) => Json(org).into_response(),
        Ok(None) => not_found("organization"),
        Err(e) => from_error(e),
    }
}

async fn delete_organization(State(app): State<AppState>, Path(id): Path<String>) -> Response {
    match app.delete_organization(&id) {
        Ok(true) => StatusCode::NO_CONTENT.into_response(),
        Ok(false) => not_found("organization"),
        Err(e) => from_error(e),
    }
}
