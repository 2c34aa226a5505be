//! Business partners, with exactly the fields and limits of the central API's `POST /partners`.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use validator::{Validate, ValidationError};

use super::SyncState;
use crate::text_enum::text_enum;
use crate::validate::{self, ValidationReport, rule_error};

/// Largest `sales_amount` the API takes (a signed 32-bit integer).
pub const MAX_SALES_AMOUNT: i64 = 2_147_483_647;

text_enum!(PartnerType("partner type") { Customer = "customer", Supplier = "supplier" });

/// The six fields the central API takes, already validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerFields {
    pub company_name: String,
    pub sales_amount: i64,
    pub partner_type: PartnerType,
    pub email: String,
    pub frequency: String,
    pub payment_terms: String,
}

impl PartnerFields {
    /// The same values as an editable draft (e.g. to apply a patch and re-validate).
    pub fn to_draft(&self) -> PartnerDraft {
        PartnerDraft {
            company_name: self.company_name.clone(),
            sales_amount: self.sales_amount.to_string(),
            partner_type: self.partner_type.as_str().to_string(),
            email: self.email.clone(),
            frequency: self.frequency.clone(),
            payment_terms: self.payment_terms.clone(),
        }
    }
}

/// What a person typed, untrusted. [`PartnerDraft::validate_fields`] trims it,
/// checks every field at once and returns the typed [`PartnerFields`].
///
/// `sales_amount` is text so that "12,5" or "-1" becomes a field message, not a
/// parse failure; JSON numbers are accepted too.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[serde(default)]
pub struct PartnerDraft {
    #[validate(length(min = 1, max = 100))]
    pub company_name: String,
    #[serde(deserialize_with = "validate::text_or_number")]
    #[validate(custom(function = "sales_amount_rule"))]
    pub sales_amount: String,
    #[validate(custom(function = "partner_type_rule"))]
    pub partner_type: String,
    #[validate(length(min = 1, max = 100), email, custom(function = "validate::dotted_domain"))]
    pub email: String,
    #[validate(length(min = 1, max = 30))]
    pub frequency: String,
    #[validate(length(min = 1, max = 50))]
    pub payment_terms: String,
}

const PARTNER_FIELD_ORDER: &[&str] =
    &["company_name", "sales_amount", "partner_type", "email", "frequency", "payment_terms"];

fn sales_amount_rule(text: &str) -> Result<(), ValidationError> {
    let amount = validate::parse_whole(text)?;
    if (0..=MAX_SALES_AMOUNT).contains(&amount) {
        Ok(())
    } else {
        Err(rule_error("out_of_range", "{label} must be between 0 and 2147483647."))
    }
}

fn partner_type_rule(text: &str) -> Result<(), ValidationError> {
    match text {
        "" => Err(ValidationError::new("required")),
        t if t.parse::<PartnerType>().is_ok() => Ok(()),
        _ => Err(rule_error("not_allowed", "{label} must be customer or supplier.")),
    }
}

impl PartnerDraft {
    /// Leading and trailing whitespace never counts; `partner_type` is matched
    /// case-insensitively ("Customer" is what people type).
    pub fn normalized(&self) -> PartnerDraft {
        PartnerDraft {
            company_name: self.company_name.trim().to_string(),
            sales_amount: self.sales_amount.trim().to_string(),
            partner_type: self.partner_type.trim().to_lowercase(),
            email: self.email.trim().to_string(),
            frequency: self.frequency.trim().to_string(),
            payment_terms: self.payment_terms.trim().to_string(),
        }
    }

    /// Checks every field; on success returns the typed fields, else every failing field.
    pub fn validate_fields(&self) -> Result<PartnerFields, ValidationReport> {
        let d = self.normalized();
        if let Err(errors) = d.validate() {
            return Err(ValidationReport::from_validator(&errors, PARTNER_FIELD_ORDER));
        }
        Ok(PartnerFields {
            sales_amount: d.sales_amount.parse().expect("checked by sales_amount_rule"),
            partner_type: d.partner_type.parse().expect("checked by partner_type_rule"),
            company_name: d.company_name,
            email: d.email,
            frequency: d.frequency,
            payment_terms: d.payment_terms,
        })
    }
}

/// A change to some fields of a partner; `None` keeps the current value.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct PartnerPatch {
    pub company_name: Option<String>,
    pub sales_amount: Option<String>,
    pub partner_type: Option<String>,
    pub email: Option<String>,
    pub frequency: Option<String>,
    pub payment_terms: Option<String>,
}

impl PartnerPatch {
    pub fn is_empty(&self) -> bool {
        *self == PartnerPatch::default()
    }

    /// The draft that results from applying this patch to `current`.
    pub fn apply_to(&self, current: &PartnerFields) -> PartnerDraft {
        let mut d = current.to_draft();
        let set = |slot: &mut String, v: &Option<String>| {
            if let Some(v) = v {
                slot.clone_from(v);
            }
        };
        set(&mut d.company_name, &self.company_name);
        set(&mut d.sales_amount, &self.sales_amount);
        set(&mut d.partner_type, &self.partner_type);
        set(&mut d.email, &self.email);
        set(&mut d.frequency, &self.frequency);
        set(&mut d.payment_terms, &self.payment_terms);
        d
    }
}

/// Invitation state the central API reports for a partner.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InvitationStatus {
    Invited,
    Accepted,
}

/// Fields only the central API sets; all empty until the first successful sync.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct PartnerServerFields {
    pub id: Option<Uuid>,
    pub created_at: Option<DateTime<Utc>>,
    pub updated_at: Option<DateTime<Utc>>,
    pub invitation_status: Option<InvitationStatus>,
    pub guest_organization_id: Option<Uuid>,
}

/// A partner as stored locally.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partner {
    /// Local key (UUID v7), stable from the moment the record is first saved.
    pub key: Uuid,
    /// The organization whose partner this is; `None` means the user's own organization.
    pub target_org_id: Option<Uuid>,
    #[serde(flatten)]
    pub fields: PartnerFields,
    pub server: PartnerServerFields,
    pub sync_state: SyncState,
    pub sync_error: Option<super::SyncError>,
    pub created_locally_at: DateTime<Utc>,
    pub updated_locally_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> PartnerDraft {
        PartnerDraft {
            company_name: "Acme".into(),
            sales_amount: "1000".into(),
            partner_type: "customer".into(),
            email: "buyer@acme.example".into(),
            frequency: "monthly".into(),
            payment_terms: "net 30".into(),
        }
    }

    #[test]
    fn valid_draft_becomes_fields() {
        let f = good().validate_fields().unwrap();
        assert_eq!(f.sales_amount, 1000);
        assert_eq!(f.partner_type, PartnerType::Customer);
    }

    #[test]
    fn every_failing_field_is_reported_once_in_order() {
        let d = PartnerDraft::default();
        let report = d.validate_fields().unwrap_err();
        let fields: Vec<_> = report.fields.iter().map(|e| (e.field.as_str(), e.code.as_str())).collect();
        assert_eq!(
            fields,
            vec![
                ("company_name", "required"),
                ("sales_amount", "required"),
                ("partner_type", "required"),
                ("email", "required"),
                ("frequency", "required"),
                ("payment_terms", "required"),
            ]
        );
        assert_eq!(report.fields[0].message, "Company name is required.");
    }

    #[test]
    fn whitespace_is_trimmed_before_checks() {
        let mut d = good();
        d.company_name = "   ".into();
        assert_eq!(d.validate_fields().unwrap_err().fields[0].code, "required");
        d.company_name = format!("  {}  ", "x".repeat(100));
        assert_eq!(d.validate_fields().unwrap().company_name.len(), 100);
    }

    #[test]
    fn partner_type_is_case_insensitive_but_closed() {
        let mut d = good();
        d.partner_type = "Supplier".into();
        assert_eq!(d.validate_fields().unwrap().partner_type, PartnerType::Supplier);
        d.partner_type = "vendor".into();
        let r = d.validate_fields().unwrap_err();
        assert_eq!(r.field("partner_type").unwrap().message, "Partner type must be customer or supplier.");
    }

    #[test]
    fn json_accepts_numbers_and_strings_for_sales_amount() {
        let d: PartnerDraft = serde_json::from_str(r#"{"sales_amount": 12}"#).unwrap();
        assert_eq!(d.sales_amount, "12");
        let d: PartnerDraft = serde_json::from_str(r#"{"sales_amount": "12"}"#).unwrap();
        assert_eq!(d.sales_amount, "12");
        let d: PartnerDraft = serde_json::from_str(r#"{"sales_amount": 1.5}"#).unwrap();
        assert_eq!(d.validate_fields().unwrap_err().field("sales_amount").unwrap().code, "not_a_number");
    }

    #[test]
    fn patch_changes_only_given_fields() {
        let f = good().validate_fields().unwrap();
        let p = PartnerPatch { email: Some("new@acme.example".into()), ..Default::default() };
        let g = p.apply_to(&f).validate_fields().unwrap();
        assert_eq!(g.email, "new@acme.example");
        assert_eq!(g.company_name, f.company_name);
    }
}
