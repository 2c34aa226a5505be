//! The two vendors' JSON as it comes over the wire: records, dates and error
//! envelopes, parsed leniently (unknown fields ignored) and checked strictly
//! where the sync depends on a value.

use chrono::{DateTime, NaiveDateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};
use uuid::Uuid;

use crate::model::{OrganizationFields, PartnerFields};
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

/// Parses Inspectorio's `2021-06-02 12:34:02.861000+00:00` (Python's
/// `str(datetime)`), RFC 3339, and a zone-less time taken as UTC.
pub fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.with_timezone(&Utc));
    }
    if let Ok(t) = DateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f%:z") {
        return Some(t.with_timezone(&Utc));
    }
    ["%Y-%m-%d %H:%M:%S%.f", "%Y-%m-%dT%H:%M:%S%.f"]
        .iter()
        .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
        .map(|t| t.and_utc())
}

fn time_field(map: &Map<String, Value>, name: &str) -> Option<DateTime<Utc>> {
    map.get(name).and_then(Value::as_str).and_then(parse_time)
}

impl ServerPartner {
    pub fn from_json(value: &Value) -> Option<ServerPartner> {
        let map = value.as_object()?;
        let id = Uuid::parse_str(map.get("id")?.as_str()?).ok()?;
        let fields = PartnerFields::deserialize(value).ok()?;
        Some(ServerPartner {
            id,
            fields,
            created_at: time_field(map, "created_at"),
            updated_at: time_field(map, "updated_at"),
            invitation_status: map.get("invitation_status").and_then(Value::as_str).map(str::to_string),
            guest_organization_id: map
                .get("guest_organization_id")
                .and_then(Value::as_str)
                .and_then(|s| Uuid::parse_str(s).ok()),
        })
    }
}

impl ServerOrganization {
    /// Reads a record, or the `{data: record}` wrapper around one.
    pub fn from_json(value: &Value) -> Option<ServerOrganization> {
        let value = value.get("data").filter(|d| d.is_object()).unwrap_or(value);
        let map = value.as_object()?;
        let id = map.get("id")?.as_str()?.to_string();
        let fields = OrganizationFields::deserialize(value).ok()?;
        Some(ServerOrganization {
            id,
            fields,
            created_at: time_field(map, "createdAt"),
            updated_at: time_field(map, "updatedAt"),
        })
    }
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
        assert!(ServerPartner::from_json(&json!({"id": "x"})).is_none());
        let o = ServerOrganization::from_json(&json!({"data": {"id": "abc", "name": "N", "type": "F", "address": "a",
            "country": "VN", "phone": "1", "contacts": [{"firstName": "Lan"}], "organizationLabels": ["x"],
            "createdAt": "2021-06-02 12:34:02.861000+00:00", "updatedAt": "2021-06-02 12:34:02.861000+00:00"}}))
        .unwrap();
        assert_eq!(o.id, "abc");
        assert_eq!(o.fields.contacts[0].first_name, "Lan");
        assert!(o.updated_at.is_some());
    }
}
