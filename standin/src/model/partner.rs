//! A partner as MyCreditApp stores it, and the create body's validation (pydantic-style messages).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use uuid::Uuid;

use crate::clock;
use crate::envelope::Detail;

pub(crate) const PARTNER_TYPES: [&str; 2] = ["customer", "supplier"];
const INVITATION_STATUSES: [&str; 2] = ["invited", "accepted"];
/// The six documented body fields, the ones a client writes.
const BODY_FIELDS: [&str; 6] = ["company_name", "sales_amount", "partner_type", "email", "frequency", "payment_terms"];
/// Fields only the server (another user's action) sets; the admin API may change them.
const SERVER_FIELDS: [&str; 2] = ["invitation_status", "guest_organization_id"];

/// The client-writable part of a partner (stored as JSON).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct PartnerFields {
    pub company_name: String,
    pub sales_amount: i64,
    pub partner_type: String,
    pub email: String,
    pub frequency: String,
    pub payment_terms: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Partner {
    pub id: Uuid,
    /// The organization whose partner this is (the create's target).
    pub org_id: Uuid,
    pub fields: PartnerFields,
    pub invitation_status: Option<String>,
    pub guest_organization_id: Option<Uuid>,
    /// Microseconds since the epoch; set by the store.
    pub created_at: i64,
    pub updated_at: i64,
}

/// The wire form, fields in the vendor's documented order.
#[derive(Serialize)]
pub(crate) struct PartnerView<'a> {
    #[serde(flatten)]
    fields: &'a PartnerFields,
    id: Uuid,
    created_at: String,
    updated_at: String,
    invitation_status: Option<&'a str>,
    guest_organization_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    org_id: Option<Uuid>,
}

impl Partner {
    /// A new partner of `org_id` with a fresh server id; the store sets the timestamps.
    pub fn new(org_id: Uuid, fields: PartnerFields) -> Self {
        Self {
            id: Uuid::new_v4(),
            org_id,
            fields,
            invitation_status: None,
            guest_organization_id: None,
            created_at: 0,
            updated_at: 0,
        }
    }

    /// What the partners API returns.
    pub fn view(&self) -> PartnerView<'_> {
        PartnerView {
            fields: &self.fields,
            id: self.id,
            created_at: clock::rfc3339_micros(self.created_at),
            updated_at: clock::rfc3339_micros(self.updated_at),
            invitation_status: self.invitation_status.as_deref(),
            guest_organization_id: self.guest_organization_id,
            org_id: None,
        }
    }

    /// The API form plus `org_id`, for the admin API and the library handle.
    pub fn admin_json(&self) -> Value {
        serde_json::to_value(PartnerView { org_id: Some(self.org_id), ..self.view() }).unwrap_or(Value::Null)
    }

    /// Applies an admin edit (any body or server field), validating the result as a whole.
    pub fn apply_changes(&mut self, changes: &Value) -> Result<(), Vec<Detail>> {
        let changes = as_object(changes)?;
        reject_unknown(changes, &[&BODY_FIELDS[..], &SERVER_FIELDS[..]].concat())?;
        let mut merged = match serde_json::to_value(&self.fields) {
            Ok(Value::Object(map)) => map,
            _ => Map::new(),
        };
        for (key, value) in changes.iter().filter(|(k, _)| BODY_FIELDS.contains(&k.as_str())) {
            merged.insert(key.clone(), value.clone());
        }
        let fields = validate(&Value::Object(merged));
        let server = server_fields(changes, self);
        match (fields, server) {
            (Ok(fields), Ok((status, guest))) => {
                self.fields = fields;
                self.invitation_status = status;
                self.guest_organization_id = guest;
                Ok(())
            }
            (fields, server) => Err(fields.err().into_iter().chain(server.err()).flatten().collect()),
        }
    }

    /// Builds a partner from an admin insert: the six body fields plus, optionally, server fields.
    pub fn from_admin(org_id: Uuid, body: &Value) -> Result<Self, Vec<Detail>> {
        let object = as_object(body)?;
        reject_unknown(object, &[&BODY_FIELDS[..], &SERVER_FIELDS[..]].concat())?;
        let mut partner = Partner::new(org_id, validate(body)?);
        let (status, guest) = server_fields(object, &partner)?;
        partner.invitation_status = status;
        partner.guest_organization_id = guest;
        Ok(partner)
    }
}

fn loc(field: &str) -> Vec<Value> {
    vec![json!("body"), json!(field)]
}

fn as_object(body: &Value) -> Result<&Map<String, Value>, Vec<Detail>> {
    body.as_object().ok_or_else(|| {
        vec![Detail::field(
            vec![json!("body")],
            "Input should be a valid dictionary or object to extract fields from",
            "model_attributes_type",
        )]
    })
}

fn reject_unknown(object: &Map<String, Value>, allowed: &[&str]) -> Result<(), Vec<Detail>> {
    let unknown: Vec<Detail> = object
        .keys()
        .filter(|k| !allowed.contains(&k.as_str()))
        .map(|k| Detail::field(loc(k), "Unknown or read-only field", "extra_forbidden"))
        .collect();
    if unknown.is_empty() { Ok(()) } else { Err(unknown) }
}

/// Reads `invitation_status` and `guest_organization_id` when present, keeping `current`'s otherwise.
fn server_fields(
    object: &Map<String, Value>,
    current: &Partner,
) -> Result<(Option<String>, Option<Uuid>), Vec<Detail>> {
    let mut errors = Vec::new();
    let status = match object.get("invitation_status") {
        None => current.invitation_status.clone(),
        Some(Value::Null) => None,
        Some(Value::String(s)) if INVITATION_STATUSES.contains(&s.as_str()) => Some(s.clone()),
        Some(_) => {
            errors.push(Detail::field(loc("invitation_status"), "Input should be 'invited' or 'accepted'", "enum"));
            None
        }
    };
    let guest = match object.get("guest_organization_id") {
        None => current.guest_organization_id,
        Some(Value::Null) => None,
        Some(value) => match value.as_str().and_then(|s| Uuid::parse_str(s).ok()) {
            Some(id) => Some(id),
            None => {
                errors.push(Detail::field(
                    loc("guest_organization_id"),
                    "Input should be a valid UUID",
                    "uuid_parsing",
                ));
                None
            }
        },
    };
    if errors.is_empty() { Ok((status, guest)) } else { Err(errors) }
}

/// Validates a create or update body, listing every failing field. Unknown fields are ignored.
pub(crate) fn validate(body: &Value) -> Result<PartnerFields, Vec<Detail>> {
    let object = as_object(body)?;
    let mut errors = Vec::new();
    let company_name = text(object, "company_name", 100, &mut errors);
    let sales_amount = integer(object, "sales_amount", 0, i64::from(i32::MAX), &mut errors);
    let partner_type = partner_type(object, &mut errors);
    let email = text(object, "email", 100, &mut errors).and_then(|email| match email_problem(&email) {
        None => Some(email),
        Some(problem) => {
            errors.push(Detail::field(
                loc("email"),
                format!("value is not a valid email address: {problem}"),
                "value_error",
            ));
            None
        }
    });
    let frequency = text(object, "frequency", 30, &mut errors);
    let payment_terms = text(object, "payment_terms", 50, &mut errors);
    match (company_name, sales_amount, partner_type, email, frequency, payment_terms) {
        (
            Some(company_name),
            Some(sales_amount),
            Some(partner_type),
            Some(email),
            Some(frequency),
            Some(payment_terms),
        ) if errors.is_empty() => {
            Ok(PartnerFields { company_name, sales_amount, partner_type, email, frequency, payment_terms })
        }
        _ => Err(errors),
    }
}

fn missing(field: &str) -> Detail {
    Detail::field(loc(field), "Field required", "missing")
}

/// A string of 1..=`max` characters (characters, not bytes), kept verbatim.
fn text(object: &Map<String, Value>, field: &str, max: usize, errors: &mut Vec<Detail>) -> Option<String> {
    let Some(value) = object.get(field) else {
        errors.push(missing(field));
        return None;
    };
    let Some(s) = value.as_str() else {
        errors.push(Detail::field(loc(field), "Input should be a valid string", "string_type"));
        return None;
    };
    let length = s.chars().count();
    if length == 0 {
        errors.push(Detail::field(loc(field), "String should have at least 1 character", "string_too_short"));
        None
    } else if length > max {
        errors.push(Detail::field(
            loc(field),
            format!("String should have at most {max} characters"),
            "string_too_long",
        ));
        None
    } else {
        Some(s.to_owned())
    }
}

/// A JSON integer in `min..=max`. Strings and fractional numbers are refused (stricter than pydantic's lax mode).
fn integer(object: &Map<String, Value>, field: &str, min: i64, max: i64, errors: &mut Vec<Detail>) -> Option<i64> {
    let Some(value) = object.get(field) else {
        errors.push(missing(field));
        return None;
    };
    let number = match value {
        Value::Number(n) if n.is_i64() || n.is_u64() => n,
        Value::Number(_) => {
            errors.push(Detail::field(
                loc(field),
                "Input should be a valid integer, got a number with a fractional part",
                "int_from_float",
            ));
            return None;
        }
        _ => {
            errors.push(Detail::field(loc(field), "Input should be a valid integer", "int_type"));
            return None;
        }
    };
    match number.as_i64() {
        Some(n) if n < min => {
            errors.push(Detail::field(
                loc(field),
                format!("Input should be greater than or equal to {min}"),
                "greater_than_equal",
            ));
            None
        }
        Some(n) if n <= max => Some(n),
        // Above `max`, including values beyond i64 (u64 only).
        _ => {
            errors.push(Detail::field(
                loc(field),
                format!("Input should be less than or equal to {max}"),
                "less_than_equal",
            ));
            None
        }
    }
}

fn partner_type(object: &Map<String, Value>, errors: &mut Vec<Detail>) -> Option<String> {
    match object.get("partner_type") {
        None => {
            errors.push(missing("partner_type"));
            None
        }
        Some(Value::String(s)) if PARTNER_TYPES.contains(&s.as_str()) => Some(s.clone()),
        Some(_) => {
            errors.push(Detail::field(loc("partner_type"), "Input should be 'customer' or 'supplier'", "enum"));
            None
        }
    }
}

/// Why `email` is not an address (None when it is): the usual local@domain.tld shape, roughly
/// what the vendor's email-validator accepts, without DNS.
pub(crate) fn email_problem(email: &str) -> Option<&'static str> {
    if email.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("The email address contains invalid characters.");
    }
    let Some((local, domain)) = email.rsplit_once('@') else {
        return Some("An email address must have an @-sign.");
    };
    if local.contains('@') {
        return Some("The email address is not valid. It must have exactly one @-sign.");
    }
    if local.is_empty() {
        return Some("There must be something before the @-sign.");
    }
    if domain.is_empty() {
        return Some("There must be something after the @-sign.");
    }
    if local.starts_with('.') || local.ends_with('.') || local.contains("..") {
        return Some("The part before the @-sign is not valid.");
    }
    if !domain.contains('.') {
        return Some("The part after the @-sign is not valid. It should have a period.");
    }
    let label_ok = |label: &str| {
        !label.is_empty()
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label.chars().all(|c| c.is_alphanumeric() || c == '-')
    };
    if !domain.split('.').all(label_ok) {
        return Some("The part after the @-sign is not valid.");
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> Value {
        json!({
            "company_name": "Acme", "sales_amount": 10, "partner_type": "customer",
            "email": "a@acme.com", "frequency": "monthly", "payment_terms": "net 30"
        })
    }

    fn fields_of(errors: &[Detail]) -> Vec<String> {
        errors.iter().map(|d| d.loc.last().and_then(Value::as_str).unwrap_or_default().to_owned()).collect()
    }

    #[test]
    fn accepts_the_documented_body_and_ignores_extras() {
        let mut body = valid();
        body["unexpected"] = json!(true);
        let fields = validate(&body).expect("valid body");
        assert_eq!(fields.company_name, "Acme");
        assert_eq!(fields.sales_amount, 10);
    }

    #[test]
    fn lists_every_failing_field() {
        let body = json!({
            "company_name": "x".repeat(101), "sales_amount": 2_147_483_648_i64, "partner_type": "friend",
            "email": "nope", "frequency": "", "payment_terms": 5
        });
        let errors = validate(&body).expect_err("all invalid");
        assert_eq!(
            fields_of(&errors),
            ["company_name", "sales_amount", "partner_type", "email", "frequency", "payment_terms"]
        );
    }

    #[test]
    fn lengths_count_characters_not_bytes() {
        let mut body = valid();
        body["company_name"] = json!("é".repeat(100));
        assert!(validate(&body).is_ok());
        body["company_name"] = json!("é".repeat(101));
        assert!(validate(&body).is_err());
    }

    #[test]
    fn sales_amount_must_be_an_integer_in_range() {
        for bad in [json!(-1), json!(1.5), json!("5"), json!(null), json!(u64::MAX), json!(1e30)] {
            let mut body = valid();
            body["sales_amount"] = bad.clone();
            assert!(validate(&body).is_err(), "{bad} accepted");
        }
        let mut body = valid();
        body["sales_amount"] = json!(2_147_483_647);
        assert!(validate(&body).is_ok());
    }

    #[test]
    fn email_shapes() {
        for good in ["a@b.co", "first.last+tag@sub.example.org", "ü@exämple.de"] {
            assert_eq!(email_problem(good), None, "{good}");
        }
        for bad in ["", "plain", "@b.co", "a@", "a@b", "a b@c.de", "a@@b.co", "a@b..co", ".a@b.co", "a@-b.co"] {
            assert!(email_problem(bad).is_some(), "{bad} accepted");
        }
    }

    #[test]
    fn admin_changes_are_validated_as_a_whole() {
        let mut partner = Partner::new(Uuid::nil(), validate(&valid()).expect("valid"));
        partner.apply_changes(&json!({"company_name": "Renamed", "invitation_status": "invited"})).expect("valid");
        assert_eq!(partner.fields.company_name, "Renamed");
        assert_eq!(partner.invitation_status.as_deref(), Some("invited"));
        assert!(partner.apply_changes(&json!({"email": "broken"})).is_err());
        assert!(partner.apply_changes(&json!({"id": "x"})).is_err());
        assert_eq!(partner.fields.email, "a@acme.com");
    }
}
