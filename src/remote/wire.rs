//! The two vendors' JSON as it comes over the wire: records, dates and error
//! envelopes, parsed leniently (unknown fields ignored) and checked strictly
//! where the sync depends on a value.

use chrono::{DateTime, Datelike, NaiveDateTime, Utc};
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::model::{OrganizationDraft, OrganizationFields, PartnerDraft, PartnerFields};
use crate::validate::FieldError;

/// A partner as the partners API returns it.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerPartner {
    pub id: Uuid,
    pub fields: PartnerFields,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub invitation_status: Option<String>,
    pub guest_organization_id: Option<Uuid>,
}

/// An organization as the organizations API returns it (the `data` member).
#[derive(Debug, Clone, PartialEq)]
pub struct ServerOrganization {
    pub id: String,
    pub fields: OrganizationFields,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
}

/// What the store and the planner need of either kind of server record:
/// when the server made it and last changed it (its version), its fields as
/// compared and sent, and how it reads back from the JSON a question keeps.
pub trait ServerRecord: Sized {
    fn created_at(&self) -> Option<DateTime<Utc>>;
    fn updated_at(&self) -> Option<DateTime<Utc>>;
    fn field_map(&self) -> Map<String, Value>;
    fn read(value: &Value) -> Result<Self, Invalid>;
}

macro_rules! server_record {
    ($($record:ty => $fields:ident),+) => {$(
        impl ServerRecord for $record {
            fn created_at(&self) -> Option<DateTime<Utc>> {
                self.created_at
            }
            fn updated_at(&self) -> Option<DateTime<Utc>> {
                self.updated_at
            }
            fn field_map(&self) -> Map<String, Value> {
                $fields(&self.fields)
            }
            fn read(value: &Value) -> Result<Self, Invalid> {
                Self::from_json(value)
            }
        }
    )+};
}
server_record!(ServerPartner => partner_fields, ServerOrganization => organization_fields);

/// A record from the server that breaks the rules a typed one must meet. It
/// is left out of the pull on its own; `id` and `reason` are for the report.
#[derive(Debug, Clone, PartialEq)]
pub struct Invalid {
    /// The record's id as the server sent it (quoted and shortened if strange), if it had one.
    pub id: Option<String>,
    pub reason: String,
}

impl std::fmt::Display for Invalid {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.id {
            Some(id) => write!(f, "id {id}, {}", self.reason),
            None => write!(f, "a record without an id, {}", self.reason),
        }
    }
}

/// The earliest and latest years a server time may have. Before 1970 no
/// record was made; after 9999 RFC 3339 (what the store writes) has no spelling.
const YEARS: std::ops::RangeInclusive<i32> = 1970..=9999;

/// Parses Inspectorio's `2021-06-02 12:34:02.861000+00:00` (Python's
/// `str(datetime)`), RFC 3339, and a zone-less time taken as UTC; only years
/// 1970 to 9999 (chrono's `%Y` takes a sign and any number of digits).
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    let parsed = DateTime::parse_from_rfc3339(text)
        .or_else(|_| DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z"))
        .map(|t| t.with_timezone(&Utc))
        .ok()
        .or_else(|| {
            ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
                .map(|t| t.and_utc())
        })?;
    YEARS.contains(&parsed.year()).then_some(parsed)
}

/// A time member: absent or null is `None`; anything else must be a time in range.
fn time_field(map: &Map<String, Value>, name: &str) -> Result<Option<DateTime<Utc>>, String> {
    let value = match map.get(name) {
        None | Some(Value::Null) => return Ok(None),
        Some(value) => value,
    };
    match value.as_str().and_then(parse_time) {
        Some(t) => Ok(Some(t)),
        None => Err(format!("{name} {} is not a time between 1970 and 9999", shown(value))),
    }
}

/// A server value as the report shows it: JSON, control characters escaped, at most 60 characters.
fn shown(value: &Value) -> String {
    let text = value.to_string();
    let mut out: String = text.chars().take(60).flat_map(char::escape_default).collect();
    if text.chars().count() > 60 {
        out.push('…');
    }
    out
}

/// The reasons of a failed validation, with the server's value where it is a plain one.
fn reasons(value: &Value, report: &crate::ValidationReport) -> String {
    report
        .fields
        .iter()
        .map(|f| match value.get(&f.field).filter(|v| !v.is_object() && !v.is_array()) {
            Some(v) => format!("{} {} ({})", f.field, shown(v), f.message),
            None => format!("{} ({})", f.field, f.message),
        })
        .collect::<Vec<_>>()
        .join("; ")
}

/// A server record read as the draft a person would type, then held to the
/// same rules: the one rule set, for typed and pulled records alike.
fn checked<D: serde::de::DeserializeOwned, F>(
    value: &Value,
    validate: impl FnOnce(&D) -> Result<F, crate::ValidationReport>,
) -> Result<F, String> {
    let draft = D::deserialize(value).map_err(|e| format!("not in the expected shape ({e})"))?;
    validate(&draft).map_err(|r| reasons(value, &r))
}

fn record_id(map: &Map<String, Value>) -> Option<String> {
    map.get("id").map(|id| match id {
        Value::String(s) if s.len() <= 60 && s.chars().all(|c| c.is_ascii_graphic()) => s.clone(),
        other => shown(other),
    })
}

impl ServerPartner {
    /// Reads a partner and checks it with the rules a typed one meets.
    pub fn from_json(value: &Value) -> Result<ServerPartner, Invalid> {
        let Some(map) = value.as_object() else {
            return Err(Invalid { id: None, reason: format!("not a record: {}", shown(value)) });
        };
        let id_text = record_id(map);
        let invalid = |reason: String| Invalid { id: id_text.clone(), reason };
        let id = map
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| Uuid::parse_str(s).ok())
            .ok_or_else(|| invalid("the id is not a UUID".into()))?;
        let fields = checked(value, PartnerDraft::validate_fields).map_err(invalid)?;
        Ok(ServerPartner {
            id,
            fields,
            created_at: time_field(map, "created_at").map_err(invalid)?,
            updated_at: time_field(map, "updated_at").map_err(invalid)?,
            invitation_status: map.get("invitation_status").and_then(Value::as_str).map(str::to_string),
            guest_organization_id: map
                .get("guest_organization_id")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok()),
        })
    }
}

impl ServerOrganization {
    /// Reads a record, or the `{data: record}` wrapper around one, and checks
    /// it with the rules a typed one meets.
    pub fn from_json(value: &Value) -> Result<ServerOrganization, Invalid> {
        let value = value.get("data").filter(|d| d.is_object()).unwrap_or(value);
        let Some(map) = value.as_object() else {
            return Err(Invalid { id: None, reason: format!("not a record: {}", shown(value)) });
        };
        let id_text = record_id(map);
        let invalid = |reason: String| Invalid { id: id_text.clone(), reason };
        let id = map.get("id").and_then(Value::as_str).ok_or_else(|| invalid("it has no id".into()))?.to_string();
        let fields = checked(value, OrganizationDraft::validate_fields).map_err(invalid)?;
        Ok(ServerOrganization {
            id,
            fields,
            created_at: time_field(map, "createdAt").map_err(invalid)?,
            updated_at: time_field(map, "updatedAt").map_err(invalid)?,
        })
    }
}

/// The body sync sends: the fields plus the client-chosen `id`. `linkedTo` is
/// the server's to set, so it is left out, and so are empty values of fields
/// the API types as plain (non-nullable) strings: `address2` and a contact's
/// `email` and `workPhone` (it refuses `null` there).
pub fn organization_body(key: Option<Uuid>, fields: &OrganizationFields) -> Value {
    let mut body = serde_json::to_value(fields).expect("organization fields always serialize");
    if let Some(map) = body.as_object_mut() {
        map.remove("linkedTo");
        if map.get("address2").is_some_and(|v| v.is_null()) {
            map.remove("address2");
        }
        if let Some(Value::Array(contacts)) = map.get_mut("contacts") {
            for contact in contacts.iter_mut().filter_map(|c| c.as_object_mut()) {
                contact.retain(|k, v| !(v.is_null() && matches!(k.as_str(), "email" | "workPhone")));
            }
        }
        if let Some(key) = key {
            map.insert("id".into(), Value::String(key.to_string()));
        }
    }
    body
}

/// A partner's fields as compared and sent: its wire body (which carries no id).
pub fn partner_fields(fields: &PartnerFields) -> Map<String, Value> {
    match serde_json::to_value(fields) {
        Ok(Value::Object(map)) => map,
        _ => Map::new(),
    }
}

/// An organization's fields as compared and sent: its wire body without `id`
/// (the link to another organization is the server's, never sent).
pub fn organization_fields(fields: &OrganizationFields) -> Map<String, Value> {
    match organization_body(None, fields) {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

/// A body as `PUT` takes it: without `id`, which the path carries.
pub fn without_id(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(map) = body.as_object_mut() {
        map.remove("id");
    }
    body
}

/// Per-field reasons from either vendor's error body:
/// `{detail: [{loc, msg, type, code}]}` (partners) or `{errorCode, message, errors: {field: [msg]}}` (organizations).
pub fn field_errors(body: &Value) -> (Option<String>, Vec<FieldError>) {
    let mut fields = Vec::new();
    let mut message = None;
    match body.get("detail") {
        Some(Value::Array(items)) => {
            for item in items {
                let loc: Vec<String> = item
                    .get("loc")
                    .and_then(Value::as_array)
                    .map(|l| {
                        l.iter().map(|p| p.as_str().map(str::to_string).unwrap_or_else(|| p.to_string())).collect()
                    })
                    .unwrap_or_default();
                // `loc` is like ["body", "email"]: the field is what follows the part of the request.
                let field = match loc.first().map(String::as_str) {
                    Some("body" | "query" | "header" | "path") if loc.len() > 1 => loc[1..].join("."),
                    _ => loc.join("."),
                };
                let code = item.get("code").or_else(|| item.get("type")).and_then(Value::as_str).unwrap_or("invalid");
                let msg = item.get("msg").and_then(Value::as_str).unwrap_or("is not valid");
                fields.push(FieldError { field, code: code.to_string(), message: msg.to_string() });
            }
        }
        Some(Value::String(text)) => message = Some(text.clone()),
        _ => {}
    }
    if let Some(text) = body.get("message").and_then(Value::as_str) {
        message = Some(text.to_string());
    }
    if let Some(Value::Object(errors)) = body.get("errors") {
        for (field, messages) in errors {
            let list: Vec<&str> = match messages {
                Value::Array(items) => items.iter().filter_map(Value::as_str).collect(),
                Value::String(s) => vec![s.as_str()],
                _ => vec![],
            };
            let code = body.get("errorCode").and_then(Value::as_str).unwrap_or("invalid");
            fields.push(FieldError { field: field.clone(), code: code.to_string(), message: list.join(" ") });
        }
    }
    (message, fields)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_date_formats_parse_to_the_same_instant() {
        let python = parse_time("2021-06-02 12:34:02.861000+00:00").unwrap();
        let rfc = parse_time("2021-06-02T12:34:02.861Z").unwrap();
        assert_eq!(python, rfc);
        assert_eq!(parse_time("2021-06-02 14:34:02.861000+02:00"), Some(rfc));
        assert_eq!(parse_time("2025-12-01T12:34:56.123456").unwrap().timestamp(), 1_764_592_496);
        assert_eq!(parse_time("yesterday"), None);
        // chrono's %Y takes a sign and any number of digits; the store cannot write such a year.
        assert_eq!(parse_time("+12345-01-01 00:00:00"), None);
        assert_eq!(parse_time("1969-12-31T23:59:59Z"), None);
        assert!(parse_time("9999-12-31 23:59:59.999999+00:00").is_some());
    }

    #[test]
    fn both_error_envelopes_give_field_reasons() {
        let (_, fields) = field_errors(&json!({"detail": [
            {"loc": ["body", "email"], "msg": "value is not a valid email address", "type": "value_error", "code": "email"},
            {"loc": ["body", "sales_amount"], "msg": "too big", "type": "less_than_equal"}
        ]}));
        assert_eq!(fields[0].field, "email");
        assert_eq!(fields[0].code, "email");
        assert_eq!(fields[1].code, "less_than_equal");
        let (message, fields) = field_errors(&json!({"errorCode": "ValidationError", "message": "Input is not valid",
            "errors": {"type": ["Input type is not valid"], "contacts.0.firstName": ["required"]}}));
        assert_eq!(message.as_deref(), Some("Input is not valid"));
        assert_eq!(fields.len(), 2);
        assert!(fields.iter().any(|f| f.field == "type" && f.message == "Input type is not valid"));
        let (message, fields) = field_errors(&json!({"detail": "Not Found"}));
        assert_eq!((message.as_deref(), fields.len()), (Some("Not Found"), 0));
    }

    #[test]
    fn records_parse_leniently() {
        let p = ServerPartner::from_json(&json!({"id": "3c90c3cc-0d44-4b50-8888-8dd25736052a", "company_name": "A",
            "sales_amount": 5, "partner_type": "customer", "email": "a@b.example", "frequency": "f", "payment_terms": "p",
            "created_at": "2023-11-07T05:31:56Z", "updated_at": "2023-11-07T05:31:56Z", "invitation_status": null,
            "guest_organization_id": null, "address": "new field, ignored"}))
        .unwrap();
        assert_eq!(p.fields.sales_amount, 5);
        assert!(p.updated_at.is_some());
        assert!(ServerPartner::from_json(&json!({"id": "x"})).is_err());
        let o = ServerOrganization::from_json(&json!({"data": {"id": "abc", "name": "N", "type": "F", "address": "a",
            "country": "VN", "phone": "1", "contacts": [{"firstName": "Lan"}], "organizationLabels": ["x"],
            "createdAt": "2021-06-02 12:34:02.861000+00:00", "updatedAt": "2021-06-02 12:34:02.861000+00:00"}}))
        .unwrap();
        assert_eq!(o.id, "abc");
        // The rules of a typed record, each failure named with the server's value.
        let bad = ServerPartner::from_json(&json!({"id": "3c90c3cc-0d44-4b50-8888-8dd25736052a", "company_name": "A",
            "sales_amount": -1, "partner_type": "customer", "email": "a@b.example", "frequency": "f",
            "payment_terms": "p"}))
        .unwrap_err();
        assert_eq!(bad.id.as_deref(), Some("3c90c3cc-0d44-4b50-8888-8dd25736052a"));
        assert!(bad.reason.starts_with("sales_amount -1"), "{}", bad.reason);
        let far = ServerPartner::from_json(&json!({"id": "3c90c3cc-0d44-4b50-8888-8dd25736052a", "company_name": "A",
            "sales_amount": 1, "partner_type": "customer", "email": "a@b.example", "frequency": "f",
            "payment_terms": "p", "updated_at": "+12345-01-01 00:00:00"}))
        .unwrap_err();
        assert!(far.reason.contains("updated_at"), "{}", far.reason);
        let odd = ServerPartner::from_json(&json!({"id": "\u{1b}c", "company_name": "A"})).unwrap_err();
        assert!(!odd.id.unwrap().chars().any(char::is_control), "an id shown in a report is printable");
        assert_eq!(o.fields.contacts[0].first_name, "Lan");
        assert!(o.updated_at.is_some());
    }
}
