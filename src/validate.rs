//! Turning `validator` results into per-field messages a salesperson can act on.
//!
//! The rules themselves live on the draft types (`#[derive(Validate)]`); this
//! module owns the shared custom rules and the wording, so the CLI, the desktop
//! app and sync all show the same sentence for the same problem.

use std::borrow::Cow;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};
use validator::{ValidationError, ValidationErrors, ValidationErrorsKind};

/// One failing field: a stable `code` for programs, a `message` for people.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// The field's name as the API spells it, e.g. `company_name` or `contacts[0].firstName`.
    pub field: String,
    /// `required`, `too_long`, `too_short`, `invalid_email`, `not_a_number`,
    /// `out_of_range`, `not_allowed`, `invalid_country`, ...
    pub code: String,
    pub message: String,
}

/// Every failing field of one record, found in one pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub struct ValidationReport {
    pub fields: Vec<FieldError>,
}

impl fmt::Display for ValidationReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.fields.len();
        write!(f, "{n} field{} need{} fixing", if n == 1 { "" } else { "s" }, if n == 1 { "s" } else { "" })?;
        for e in &self.fields {
            write!(f, "\n  - {} [{}]", e.message, e.field)?;
        }
        Ok(())
    }
}

impl ValidationReport {
    /// The error for `field`, if that field failed.
    pub fn field(&self, field: &str) -> Option<&FieldError> {
        self.fields.iter().find(|e| e.field == field)
    }

    /// Flattens `validator`'s nested result, one error per field (the first
    /// rule that failed, so an empty email says "required", not "invalid").
    /// Fields are listed in `order` (declaration order), nested ones after.
    pub(crate) fn from_validator(errors: &ValidationErrors, order: &[&str]) -> Self {
        let mut fields = Vec::new();
        flatten(errors, "", &mut fields);
        fields.sort_by_key(|e: &FieldError| {
            let root = e.field.split(['[', '.']).next().unwrap_or_default();
            (order.iter().position(|f| *f == root).unwrap_or(usize::MAX), e.field.clone())
        });
        ValidationReport { fields }
    }
}

/// `validator` reports Rust field names; people and the API use the serde names.
fn api_name(rust_name: &str) -> &str {
    match rust_name {
        "org_type" => "type",
        "office_id" => "officeId",
        "linked_to" => "linkedTo",
        "first_name" => "firstName",
        "last_name" => "lastName",
        "work_phone" => "workPhone",
        other => other,
    }
}

fn flatten(errors: &ValidationErrors, prefix: &str, out: &mut Vec<FieldError>) {
    for (name, kind) in errors.errors() {
        let name = api_name(name);
        let path = if prefix.is_empty() { name.to_string() } else { format!("{prefix}.{name}") };
        match kind {
            ValidationErrorsKind::Field(list) => {
                if let Some(first) = list.first() {
                    out.push(describe(&path, first));
                }
            }
            ValidationErrorsKind::Struct(inner) => flatten(inner, &path, out),
            ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    flatten(inner, &format!("{path}[{index}]"), out);
                }
            }
        }
    }
}

/// Words for a field name, e.g. `contacts[1].firstName` -> "Contact 2 first name".
pub fn label(field: &str) -> String {
    if let Some(rest) = field.strip_prefix("contacts[")
        && let Some((index, sub)) = rest.split_once("].")
    {
        let n = index.parse::<usize>().map(|i| i + 1).unwrap_or(0);
        return format!("Contact {n} {}", label(sub).to_lowercase());
    }
    match field {
        "company_name" => "Company name",
        "sales_amount" => "Sales amount",
        "partner_type" => "Partner type",
        "email" => "Email",
        "frequency" => "Frequency",
        "payment_terms" => "Payment terms",
        "target_org_id" => "Target organization",
        "name" => "Name",
        "type" => "Organization type",
        "address" => "Address",
        "address2" => "Address line 2",
        "city" => "City",
        "province" => "Province",
        "postal" => "Postal code",
        "country" => "Country",
        "phone" => "Phone",
        "billing_email" => "Billing email",
        "officeId" => "Office ID",
        "linkedTo" => "Linked organization",
        "description" => "Description",
        "contacts" => "Contacts",
        "location" => "Location",
        "location.latitude" | "latitude" => "Latitude",
        "location.longitude" | "longitude" => "Longitude",
        "firstName" => "First name",
        "lastName" => "Last name",
        "workPhone" => "Work phone",
        other => other,
    }
    .to_string()
}

fn param_u64(err: &ValidationError, name: &str) -> Option<u64> {
    err.params.get(name).and_then(|v| v.as_u64())
}

/// Maps one `validator` error to our code and sentence.
fn describe(field: &str, err: &ValidationError) -> FieldError {
    let what = label(field);
    let (code, message): (&str, String) = match err.code.as_ref() {
        "length" => {
            let min = param_u64(err, "min");
            let max = param_u64(err, "max");
            let len = match err.params.get("value") {
                Some(serde_json::Value::String(s)) => s.chars().count() as u64,
                Some(serde_json::Value::Array(a)) => a.len() as u64,
                _ => 0,
            };
            match (min, max) {
                (Some(1), _) if len == 0 && field == "contacts" => {
                    ("required", "Add at least one contact.".to_string())
                }
                (Some(min), _) if len == 0 && min > 0 => ("required", format!("{what} is required.")),
                (Some(min), _) if len < min => ("too_short", format!("{what} must be at least {min} characters.")),
                (_, Some(max)) if field == "contacts" => {
                    ("too_long", format!("At most {max} contacts can be added (there are {len})."))
                }
                (_, Some(max)) => (
                    "too_long",
                    format!("{what} can be at most {max} characters; it has {len}. Shorten it by {}.", len - max),
                ),
                _ => ("invalid", format!("{what} has the wrong length.")),
            }
        }
        "email" => ("invalid_email", format!("{what} is not a valid email address (like name@example.com).")),
        "required" => ("required", format!("{what} is required.")),
        code => {
            let message = err
                .message
                .as_ref()
                .map(|m| m.replace("{label}", &what))
                .unwrap_or_else(|| format!("{what} is not valid."));
            (code, message)
        }
    };
    FieldError { field: field.to_string(), code: code.to_string(), message }
}

/// A rule failure whose message is written at the rule; `{label}` becomes the field's words.
pub(crate) fn rule_error(code: &'static str, message: impl Into<Cow<'static, str>>) -> ValidationError {
    ValidationError::new(code).with_message(message.into())
}

/// Whole numbers in text, as typed: `"15000"`. Rejects `"1e3"`, `"1,000"`, `"12.5"`.
pub(crate) fn parse_whole(text: &str) -> Result<i64, ValidationError> {
    if text.is_empty() {
        return Err(ValidationError::new("required"));
    }
    text.parse::<i64>().map_err(|e| {
        use std::num::IntErrorKind::*;
        match e.kind() {
            PosOverflow | NegOverflow => rule_error("out_of_range", "{label} is far too large."),
            _ => rule_error(
                "not_a_number",
                "{label} must be a whole number, like 15000 (no spaces, commas or decimals).",
            ),
        }
    })
}

/// Decimal numbers in text, as typed: `"38.8951"`. Rejects NaN and infinities.
pub(crate) fn parse_decimal(text: &str) -> Result<f64, ValidationError> {
    if text.is_empty() {
        return Err(ValidationError::new("required"));
    }
    match text.parse::<f64>() {
        Ok(v) if v.is_finite() => Ok(v),
        _ => Err(rule_error("not_a_number", "{label} must be a number, like 38.8951.")),
    }
}

/// Email rule beyond `validator`'s syntax check: the central API also wants a
/// dotted domain (`name@localhost` is refused there), so refuse it here first.
pub(crate) fn dotted_domain(email: &str) -> Result<(), ValidationError> {
    match email.rsplit_once('@') {
        Some((_, domain)) if domain.contains('.') && !domain.ends_with('.') && !domain.starts_with('.') => Ok(()),
        _ => Err(ValidationError::new("email")),
    }
}

/// Accepts a JSON string or number for fields people type as text but APIs send as
/// numbers, so a bad value becomes a field error instead of a parse failure.
pub(crate) fn text_or_number<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Text(String),
        Int(i64),
        Float(f64),
        Null(()),
    }
    Ok(match Raw::deserialize(d)? {
        Raw::Text(s) => s,
        Raw::Int(i) => i.to_string(),
        Raw::Float(f) => f.to_string(),
        Raw::Null(()) => String::new(),
    })
}

/// Trims, and turns text that is empty after trimming into `None`.
pub(crate) fn trim_optional(value: &Option<String>) -> Option<String> {
    value.as_deref().map(str::trim).filter(|s| !s.is_empty()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_read_as_words() {
        assert_eq!(label("company_name"), "Company name");
        assert_eq!(label("contacts[1].firstName"), "Contact 2 first name");
    }

    #[test]
    fn whole_numbers_are_strict() {
        assert_eq!(parse_whole("2147483647").unwrap(), 2147483647);
        assert_eq!(parse_whole("-1").unwrap(), -1);
        assert_eq!(parse_whole("1,000").unwrap_err().code, "not_a_number");
        assert_eq!(parse_whole("12.5").unwrap_err().code, "not_a_number");
        assert_eq!(parse_whole("99999999999999999999").unwrap_err().code, "out_of_range");
        assert_eq!(parse_whole("").unwrap_err().code, "required");
    }

    #[test]
    fn decimals_refuse_nan() {
        assert_eq!(parse_decimal("NaN").unwrap_err().code, "not_a_number");
        assert_eq!(parse_decimal("inf").unwrap_err().code, "not_a_number");
        assert_eq!(parse_decimal("-77.0364").unwrap(), -77.0364);
    }

    #[test]
    fn dotted_domain_required() {
        assert!(dotted_domain("a@example.com").is_ok());
        assert!(dotted_domain("a@localhost").is_err());
        assert!(dotted_domain("a@example.").is_err());
    }
}
