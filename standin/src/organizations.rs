//! The organizations API (Inspectorio QRM): create with a client-chosen id, list, get, full PUT, delete.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

use crate::auth::ApiKey;
use crate::envelope::{self, Vendor};
use crate::model::organization::{self, FieldErrors, Organization};
use crate::state::AppState;

fn internal(e: crate::Error) -> Response {
    Vendor::Organizations.internal(&e)
}

fn not_found() -> Response {
    envelope::org_error(StatusCode::NOT_FOUND, "NotFound", "Organization not found", None)
}

fn data(status: StatusCode, org: &Organization) -> Response {
    (status, Json(json!({ "data": org.view() }))).into_response()
}

/// Parses a JSON body, or answers 400 (the vendor's generic bad request).
fn json_body(body: &Bytes) -> Result<serde_json::Value, Response> {
    serde_json::from_slice(body).map_err(|e| {
        envelope::org_error(StatusCode::BAD_REQUEST, "Generic", &format!("Request body is not valid JSON: {e}"), None)
    })
}

/// `POST /api/v1/organizations`: 201, 400 on a taken id, 422 on invalid input.
pub(crate) async fn create(_key: ApiKey, State(app): State<AppState>, body: Bytes) -> Response {
    let value = match json_body(&body) {
        Ok(value) => value,
        Err(response) => return response,
    };
    let (id, fields) = match organization::validate_create(&value) {
        Ok(valid) => valid,
        Err(errors) => return envelope::org_validation(errors),
    };
    let mut org = Organization::new(id, fields);
    match app.db.insert_organization(&mut org) {
        Ok(true) => {
            app.stats.count_write();
            data(StatusCode::CREATED, &org)
        }
        Ok(false) => {
            envelope::org_error(StatusCode::BAD_REQUEST, "Generic", "Organization with this id already exists", None)
        }
        Err(e) => internal(e),
    }
}

/// `GET /api/v1/organizations/{id}`.
pub(crate) async fn get_one(_key: ApiKey, State(app): State<AppState>, Path(id): Path<String>) -> Response {
    match app.db.organization(&id) {
        Ok(Some(org)) => data(StatusCode::OK, &org),
        Ok(None) => not_found(),
        Err(e) => internal(e),
    }
}

/// `PUT /api/v1/organizations/{id}`: a full body (optional fields left out are cleared).
pub(crate) async fn update(_key: ApiKey, State(app): State<AppState>, Path(id): Path<String>, body: Bytes) -> Response {
    let value = match json_body(&body) {
        Ok(value) => value,
        Err(response) => return response,
    };
    let fields = match organization::validate_update(&value) {
        Ok(fields) => fields,
        Err(errors) => return envelope::org_validation(errors),
    };
    let mut org = match app.db.organization(&id) {
        Ok(Some(org)) => org,
        Ok(None) => return not_found(),
        Err(e) => return internal(e),
    };
    org.fields = fields;
    match app.db.update_organization(&mut org) {
        Ok(true) => {
            app.stats.count_write();
            data(StatusCode::OK, &org)
        }
        Ok(false) => not_found(),
        Err(e) => internal(e),
    }
}

/// `DELETE /api/v1/organizations/{id}`: 204, or 404 when it is not there.
pub(crate) async fn delete(_key: ApiKey, State(app): State<AppState>, Path(id): Path<String>) -> Response {
    match app.db.delete_organization(&id) {
        Ok(true) => {
            app.stats.count_write();
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(false) => not_found(),
        Err(e) => internal(e),
    }
}

/// `offset` (≥0, default 0), `limit` (1..=100, default 10) and `name` (case-insensitive substring).
#[derive(Debug, PartialEq)]
pub(crate) struct ListQuery {
    offset: usize,
    limit: usize,
    name: Option<String>,
}

impl ListQuery {
    pub fn parse(raw: Option<&str>) -> Result<Self, FieldErrors> {
        let pairs: Vec<(String, String)> =
            form_urlencoded::parse(raw.unwrap_or_default().as_bytes()).into_owned().collect();
        let last = |name: &str| pairs.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v.clone());
        let mut errors = FieldErrors::new();
        let mut number = |name: &str, min: i64, max: i64, default: usize| {
            let Some(raw) = last(name) else { return default };
            match raw.trim().parse::<i64>() {
                Ok(n) if (min..=max).contains(&n) => return usize::try_from(n).unwrap_or(default),
                Ok(_) if max == i64::MAX => {
                    errors.insert(name.to_owned(), vec![format!("Must be greater than or equal to {min}.")]);
                }
                Ok(_) => {
                    errors.insert(
                        name.to_owned(),
                        vec![format!("Must be greater than or equal to {min} and less than or equal to {max}.")],
                    );
                }
                Err(_) => {
                    errors.insert(name.to_owned(), vec!["Not a valid integer.".to_owned()]);
                }
            }
            default
        };
        let offset = number("offset", 0, i64::MAX, 0);
        let limit = number("limit", 1, 100, 10);
        let name = last("name").filter(|n| !n.is_empty());
        if errors.is_empty() { Ok(Self { offset, limit, name }) } else { Err(errors) }
    }
}

/// `GET /api/v1/organizations`: `{data, limit, offset, total}`, oldest first (ties by id).
pub(crate) async fn list(_key: ApiKey, State(app): State<AppState>, RawQuery(raw): RawQuery) -> Response {
    let query = match ListQuery::parse(raw.as_deref()) {
        Ok(query) => query,
        Err(errors) => return envelope::org_validation(errors),
    };
    let orgs = match app.db.organizations() {
        Ok(orgs) => orgs,
        Err(e) => return internal(e),
    };
    let needle = query.name.as_ref().map(|n| n.to_lowercase());
    let matching: Vec<&Organization> = orgs
        .iter()
        .filter(|o| needle.as_ref().is_none_or(|n| o.fields.name.to_lowercase().contains(n.as_str())))
        .collect();
    let page: Vec<_> = matching.iter().skip(query.offset).take(query.limit).map(|o| o.view()).collect();
    Json(json!({ "data": page, "limit": query.limit, "offset": query.offset, "total": matching.len() })).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_ranges() {
        assert_eq!(ListQuery::parse(None), Ok(ListQuery { offset: 0, limit: 10, name: None }));
        let q = ListQuery::parse(Some("limit=100&offset=7&name=ac%20me")).expect("valid");
        assert_eq!(q, ListQuery { offset: 7, limit: 100, name: Some("ac me".to_owned()) });
        let errors = ListQuery::parse(Some("limit=101&offset=-1")).expect_err("invalid");
        assert_eq!(errors.keys().collect::<Vec<_>>(), ["limit", "offset"]);
        let errors = ListQuery::parse(Some("limit=ten")).expect_err("invalid");
        assert_eq!(errors["limit"], ["Not a valid integer."]);
    }
}
