//! The two vendors' error envelopes, so a client's error parsing is exercised exactly as in production.
//!
//! Partners (MyCreditApp, FastAPI style): `{"detail": [{"loc", "msg", "type", "code"}]}`.
//! Organizations (Inspectorio): `{"errorCode", "message", "errors"}`.

use std::collections::BTreeMap;

use axum::Json;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

/// One entry of a partners-API `detail` list.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub(crate) struct Detail {
    pub loc: Vec<Value>,
    pub msg: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub code: String,
}

impl Detail {
    /// A validation item; pydantic has no separate code, so `code` repeats `type`.
    pub fn field(loc: Vec<Value>, msg: impl Into<String>, kind: &str) -> Self {
        Self { loc, msg: msg.into(), kind: kind.to_owned(), code: kind.to_owned() }
    }

    pub fn new(loc: Vec<Value>, msg: impl Into<String>, kind: &str, code: &str) -> Self {
        Self { loc, msg: msg.into(), kind: kind.to_owned(), code: code.to_owned() }
    }
}

/// A partners-API error answer.
pub(crate) fn detail(status: StatusCode, items: Vec<Detail>) -> Response {
    (status, Json(json!({ "detail": items }))).into_response()
}

/// An organizations-API error answer.
pub(crate) fn org_error(status: StatusCode, code: &str, message: &str, errors: Option<Value>) -> Response {
    (status, Json(json!({ "errorCode": code, "message": message, "errors": errors }))).into_response()
}

/// An organizations-API 422 with per-field messages (`contacts.0.firstName` style keys).
pub(crate) fn org_validation(errors: BTreeMap<String, Vec<String>>) -> Response {
    org_error(StatusCode::UNPROCESSABLE_ENTITY, "ValidationError", "Input is not valid", Some(json!(errors)))
}

/// Which API a route belongs to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Vendor {
    Partners,
    Organizations,
}

impl Vendor {
    pub fn server_error(self, status: StatusCode) -> Response {
        match self {
            Vendor::Partners => {
                let item = match status {
                    StatusCode::SERVICE_UNAVAILABLE => {
                        Detail::new(vec![], "Service under maintenance", "maintenance", "service_under_maintenance")
                    }
                    StatusCode::BAD_GATEWAY => Detail::new(vec![], "Bad Gateway", "server_error", "bad_gateway"),
                    _ => Detail::new(vec![], "Internal Server Error", "server_error", "internal_server_error"),
                };
                detail(status, vec![item])
            }
            Vendor::Organizations => {
                let message = match status {
                    StatusCode::SERVICE_UNAVAILABLE => "Service unavailable",
                    StatusCode::BAD_GATEWAY => "Bad gateway",
                    _ => "Internal server error",
                };
                org_error(status, "Generic", message, Some(json!({ "system": [message] })))
            }
        }
    }

    pub fn rate_limited(self, retry_after_secs: u64) -> Response {
        let mut response = match self {
            Vendor::Partners => detail(
                StatusCode::TOO_MANY_REQUESTS,
                vec![Detail::new(vec![], "Too Many Requests", "rate_limit", "too_many_requests")],
            ),
            Vendor::Organizations => org_error(StatusCode::TOO_MANY_REQUESTS, "Generic", "Too many requests", None),
        };
        response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
        response
    }

    /// A store failure: should never happen, but must not look like a success.
    pub fn internal(self, cause: &dyn std::fmt::Display) -> Response {
        tracing::error!("internal error: {cause}");
        self.server_error(StatusCode::INTERNAL_SERVER_ERROR)
    }

    pub fn route_not_found(self) -> Response {
        match self {
            Vendor::Partners => {
                detail(StatusCode::NOT_FOUND, vec![Detail::new(vec![], "Not Found", "not_found", "not_found")])
            }
            Vendor::Organizations => org_error(StatusCode::NOT_FOUND, "NotFound", "URL not found", None),
        }
    }

    pub fn method_not_allowed(self) -> Response {
        match self {
            Vendor::Partners => detail(
                StatusCode::METHOD_NOT_ALLOWED,
                vec![Detail::new(vec![], "Method Not Allowed", "method_not_allowed", "method_not_allowed")],
            ),
            Vendor::Organizations => org_error(StatusCode::METHOD_NOT_ALLOWED, "Generic", "Method not allowed", None),
        }
    }

    /// 409 for a second request with an `Idempotency-Key` whose first request is still running.
    pub fn idempotency_conflict(self) -> Response {
        let message = "A request with this Idempotency-Key is still in progress";
        match self {
            Vendor::Partners => detail(
                StatusCode::CONFLICT,
                vec![Detail::new(vec![json!("header"), json!("Idempotency-Key")], message, "conflict", "conflict")],
            ),
            Vendor::Organizations => org_error(StatusCode::CONFLICT, "Generic", message, None),
        }
    }
}
