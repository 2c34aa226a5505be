//! An organization as Inspectorio's QRM stores it, and the create/update body's validation.
//!
//! Messages follow marshmallow (Inspectorio's errors are `{field: [messages]}`); nested fields are
//! keyed with dots (`contacts.0.firstName`, `location.latitude`). Unknown and read-only fields are
//! ignored. Optional fields the spec does not mark nullable (`address2`, a contact's `email` and
//! `workPhone`) refuse `null`, as the spec says; absent ones are left out of answers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::clock;

const TYPES: [&str; 5] = ["F", "S", "B", "R", "V"];
/// Keys an admin edit may not change: identity and server-set dates.
const READ_ONLY: [&str; 3] = ["id", "createdAt", "updatedAt"];

pub(crate) type FieldErrors = BTreeMap<String, Vec<String>>;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Location {
    pub latitude: f64,
    pub longitude: f64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct Contact {
    #[serde(rename = "firstName")]
    pub first_name: String,
    #[serde(rename = "lastName")]
    pub last_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    pub phone: Option<String>,
    #[serde(rename = "workPhone", skip_serializing_if = "Option::is_none")]
    pub work_phone: Option<String>,
}

/// The client-writable part of an organization (stored as JSON; also its wire form).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub(crate) struct OrgFields {
    pub name: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub address: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub address2: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub postal: Option<String>,
    pub country: String,
    pub phone: String,
    pub billing_email: Option<String>,
    #[serde(rename = "officeId")]
    pub office_id: Option<String>,
    #[serde(rename = "linkedId")]
    pub linked_id: Option<String>,
    pub description: Option<String>,
    pub location: Option<Location>,
    pub contacts: Vec<Contact>,
    /// In the vendor's newer spec only: passed through when sent, left out otherwise.
    #[serde(rename = "organizationLabels", skip_serializing_if = "Option::is_none")]
    pub labels: Option<Vec<String>>,
}

#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Organization {
    /// Chosen by the client on create.
    pub id: String,
    pub fields: OrgFields,
    /// The global organization linked by the vendor; only the admin API sets it.
    pub linked_to: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Serialize)]
pub(crate) struct OrgView<'a> {
    id: &'a str,
    #[serde(flatten)]
    fields: &'a OrgFields,
    /// Left out when unset: Inspectorio's schema types it as a string, never null.
    #[serde(rename = "linkedTo", skip_serializing_if = "Option::is_none")]
    linked_to: Option<&'a str>,
    #[serde(rename = "createdAt")]
    created_at: String,
    #[serde(rename = "updatedAt")]
    updated_at: String,
}

impl Organization {
    pub fn new(id: String, fields: OrgFields) -> Self {
        Self { id, fields, linked_to: None, created_at: 0, updated_at: 0 }
    }

    pub fn view(&self) -> OrgView<'_> {
        OrgView {
            id: &self.id,
            fields: &self.fields,
            linked_to: self.linked_to.as_deref(),
            created_at: clock::python_utc(self.created_at),
            updated_at: clock::python_utc(self.updated_at),
        }
    }

    pub fn json(&self) -> Value {
        serde_json::to_value(self.view()).unwrap_or(Value::Null)
    }

    /// Applies an admin edit: top-level keys replace the stored ones (`contacts` as a whole);
    /// `linkedTo` may be set too. The result is validated like a PUT body.
    pub fn apply_changes(&mut self, changes: &Value) -> Result<(), FieldErrors> {
        let mut errors = FieldErrors::new();
        let Some(changes) = changes.as_object() else {
            push(&mut errors, "_schema", "Invalid input type.");
            return Err(errors);
        };
        for key in changes.keys().filter(|k| READ_ONLY.contains(&k.as_str())) {
            push(&mut errors, key, "Read-only field.");
        }
        let mut merged = match serde_json::to_value(&self.fields) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        for (key, value) in changes.iter().filter(|(k, _)| k.as_str() != "linkedTo") {
            merged.insert(key.clone(), value.clone());
        }
        let linked_to = match changes.get("linkedTo") {
            None => self.linked_to.clone(),
            Some(Value::Null) => None,
            Some(Value::String(s)) => Some(s.clone()),
            Some(_) => {
                push(&mut errors, "linkedTo", "Not a valid string.");
                None
            }
        };
        let fields = validate(&Value::Object(merged), &mut errors);
        match fields {
            Some(fields) if errors.is_empty() => {
                self.fields = fields;
                self.linked_to = linked_to;
                Ok(())
            }
            _ => Err(errors),
        }
    }
}

fn push(errors: &mut FieldErrors, key: &str, message: &str) {
    errors.entry(key.to_owned()).or_default().push(message.to_owned());
}

/// Validates a POST body: the `id` plus the fields.
pub(crate) fn validate_create(body: &Value) -> Result<(String, OrgFields), FieldErrors> {
    let mut errors = FieldErrors::new();
    let Some(object) = body.as_object() else {
        push(&mut errors, "_schema", "Invalid input type.");
        return Err(errors);
    };
    let id = required_str(object, "id", "id", &mut errors);
    let fields = validate(body, &mut errors);
    match (id, fields) {
        (Some(id), Some(fields)) if errors.is_empty() => Ok((id, fields)),
        _ => Err(errors),
    }
}

/// Validates a PUT body (any `id` in it is ignored: the path names the organization).
pub(crate) fn validate_update(body: &Value) -> Result<OrgFields, FieldErrors> {
    let mut errors = FieldErrors::new();
    match validate(body, &mut errors) {
        Some(fields) if errors.is_empty() => Ok(fields),
        _ => Err(errors),
    }
}

/// Checks every field, adding each problem to `errors`; returns the fields when all are valid.
fn validate(body: &Value, errors: &mut FieldErrors) -> Option<OrgFields> {
    let Some(o) = body.as_object() else {
        push(errors, "_schema", "Invalid input type.");
        return None;
    };
    let before = count(errors);
    let name = required_str(o, "name", "name", errors);
    let kind = required_str(o, "type", "type", errors).filter(|t| {
        let ok = TYPES.contains(&t.as_str());
        if !ok {
            push(errors, "type", "Must be one of: F, S, B, R, V.");
        }
        ok
    });
    let address = required_str(o, "address", "address", errors);
    let country = required_str(o, "country", "country", errors).filter(|c| {
        let ok = c.len() == 2 && c.chars().all(|ch| ch.is_ascii_uppercase());
        if !ok {
            push(errors, "country", "Not a valid ISO 3166-1 alpha-2 country code (two upper-case letters).");
        }
        ok
    });
    let phone = required_str(o, "phone", "phone", errors);
    let fields = OrgFields {
        name: name.unwrap_or_default(),
        kind: kind.unwrap_or_default(),
        address: address.unwrap_or_default(),
        address2: optional_str(o, "address2", "address2", false, errors),
        city: optional_str(o, "city", "city", true, errors),
        province: optional_str(o, "province", "province", true, errors),
        postal: optional_str(o, "postal", "postal", true, errors),
        country: country.unwrap_or_default(),
        phone: phone.unwrap_or_default(),
        billing_email: optional_str(o, "billing_email", "billing_email", true, errors),
        office_id: optional_str(o, "officeId", "officeId", true, errors),
        linked_id: optional_str(o, "linkedId", "linkedId", true, errors),
        description: optional_str(o, "description", "description", true, errors),
        location: location(o.get("location"), errors),
        contacts: contacts(o.get("contacts"), errors),
        labels: labels(o.get("organizationLabels"), errors),
    };
    (count(errors) == before).then_some(fields)
}

fn count(errors: &FieldErrors) -> usize {
    errors.values().map(Vec::len).sum()
}

fn required_str(o: &Map<String, Value>, field: &str, key: &str, errors: &mut FieldErrors) -> Option<String> {
    match o.get(field) {
        None => push(errors, key, "Missing data for required field."),
        Some(Value::Null) => push(errors, key, "Field may not be null."),
        Some(Value::String(s)) if s.is_empty() => push(errors, key, "Shorter than minimum length 1."),
        Some(Value::String(s)) => return Some(s.clone()),
        Some(_) => push(errors, key, "Not a valid string."),
    }
    None
}

fn optional_str(
    o: &Map<String, Value>,
    field: &str,
    key: &str,
    nullable: bool,
    errors: &mut FieldErrors,
) -> Option<String> {
    match o.get(field) {
        None => None,
        Some(Value::Null) if nullable => None,
        Some(Value::Null) => {
            push(errors, key, "Field may not be null.");
            None
        }
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            push(errors, key, "Not a valid string.");
            None
        }
    }
}

fn location(value: Option<&Value>, errors: &mut FieldErrors) -> Option<Location> {
    let o = match value {
        None | Some(Value::Null) => return None,
        Some(Value::Object(o)) => o,
        Some(_) => {
            push(errors, "location", "Invalid input type.");
            return None;
        }
    };
    let mut coordinate = |name: &str, limit: f64| {
        let key = format!("location.{name}");
        match o.get(name) {
            None => push(errors, &key, "Missing data for required field."),
            Some(Value::Number(n)) => match n.as_f64() {
                Some(x) if (-limit..=limit).contains(&x) => return Some(x),
                _ => push(
                    errors,
                    &key,
                    &format!("Must be greater than or equal to -{limit} and less than or equal to {limit}."),
                ),
            },
            Some(_) => push(errors, &key, "Not a valid number."),
        }
        None
    };
    let latitude = coordinate("latitude", 90.0);
    let longitude = coordinate("longitude", 180.0);
    Some(Location { latitude: latitude?, longitude: longitude? })
}

fn contacts(value: Option<&Value>, errors: &mut FieldErrors) -> Vec<Contact> {
    let items = match value {
        None => {
            push(errors, "contacts", "Missing data for required field.");
            return Vec::new();
        }
        Some(Value::Null) => {
            push(errors, "contacts", "Field may not be null.");
            return Vec::new();
        }
        Some(Value::Array(items)) if items.is_empty() => {
            push(errors, "contacts", "Shorter than minimum length 1.");
            return Vec::new();
        }
        Some(Value::Array(items)) => items,
        Some(_) => {
            push(errors, "contacts", "Not a valid list.");
            return Vec::new();
        }
    };
    let mut contacts = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let Some(o) = item.as_object() else {
            push(errors, &format!("contacts.{i}"), "Invalid input type.");
            continue;
        };
        let key = |field: &str| format!("contacts.{i}.{field}");
        let first_name = required_str(o, "firstName", &key("firstName"), errors);
        let contact = Contact {
            first_name: first_name.unwrap_or_default(),
            last_name: optional_str(o, "lastName", &key("lastName"), true, errors),
            email: optional_str(o, "email", &key("email"), false, errors),
            phone: optional_str(o, "phone", &key("phone"), true, errors),
            work_phone: optional_str(o, "workPhone", &key("workPhone"), false, errors),
        };
        contacts.push(contact);
    }
    contacts
}

fn labels(value: Option<&Value>, errors: &mut FieldErrors) -> Option<Vec<String>> {
    match value {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => {
            let mut labels = Vec::with_capacity(items.len());
            for (i, item) in items.iter().enumerate() {
                match item.as_str() {
                    Some(s) => labels.push(s.to_owned()),
                    None => push(errors, &format!("organizationLabels.{i}"), "Not a valid string."),
                }
            }
            Some(labels)
        }
        Some(_) => {
            push(errors, "organizationLabels", "Not a valid list.");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn valid() -> Value {
        json!({
            "id": "org-1", "name": "Acme", "type": "S", "address": "5 Madison Avenue", "country": "US",
            "phone": "1505111222", "contacts": [{"firstName": "John"}]
        })
    }

    #[test]
    fn accepts_the_minimal_body() {
        let (id, fields) = validate_create(&valid()).expect("valid");
        assert_eq!(id, "org-1");
        assert_eq!(fields.contacts[0].first_name, "John");
        assert_eq!(fields.location, None);
    }

    #[test]
    fn reports_nested_keys() {
        let mut body = valid();
        body["contacts"] = json!([{"firstName": ""}, {"lastName": "Doe", "workPhone": null}]);
        body["location"] = json!({"latitude": 91, "longitude": "x"});
        body["type"] = json!("X");
        body["country"] = json!("usa");
        let errors = validate_create(&body).expect_err("invalid");
        let keys: Vec<&str> = errors.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "contacts.0.firstName",
                "contacts.1.firstName",
                "contacts.1.workPhone",
                "country",
                "location.latitude",
                "location.longitude",
                "type"
            ]
        );
    }

    #[test]
    fn required_set() {
        let errors = validate_create(&json!({})).expect_err("empty");
        let keys: Vec<&str> = errors.keys().map(String::as_str).collect();
        assert_eq!(keys, ["address", "contacts", "country", "id", "name", "phone", "type"]);
        assert!(validate_update(&json!([])).is_err());
    }

    #[test]
    fn wire_form_has_dates_and_link() {
        let (id, fields) = validate_create(&valid()).expect("valid");
        let mut org = Organization::new(id, fields);
        org.created_at = 1_622_637_242_861_000;
        org.updated_at = org.created_at;
        let json = org.json();
        assert_eq!(json["createdAt"], "2021-06-02 12:34:02.861000+00:00");
        assert_eq!(json["linkedTo"], Value::Null);
        assert_eq!(json["city"], Value::Null);
        assert!(json.get("address2").is_none());
        assert!(json.get("organizationLabels").is_none());
    }

    #[test]
    fn admin_edit_merges_and_validates() {
        let (id, fields) = validate_create(&valid()).expect("valid");
        let mut org = Organization::new(id, fields);
        org.apply_changes(&json!({"name": "Renamed", "linkedTo": "3111222"})).expect("valid edit");
        assert_eq!((org.fields.name.as_str(), org.linked_to.as_deref()), ("Renamed", Some("3111222")));
        assert!(org.apply_changes(&json!({"type": "Q"})).is_err());
        assert!(org.apply_changes(&json!({"id": "other"})).is_err());
        assert_eq!(org.fields.kind, "S");
    }
}
