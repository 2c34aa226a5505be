//! Organizations in the central API's shape (Inspectorio QRM's `CreateOrUpdateOrganization`).
//!
//! The API documents no maximum lengths for these fields; the local limits
//! below are generous sanity bounds so a pasted novel cannot bloat the store.

use std::fmt;
use std::str::FromStr;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use validator::{Validate, ValidationError};

use super::SyncState;
use crate::validate::{self, ValidationReport, rule_error};

/// Local cap on short text fields (the API documents none).
pub const MAX_TEXT: u64 = 255;
/// Local cap on `description`.
pub const MAX_DESCRIPTION: u64 = 4000;
/// Local cap on contacts per organization.
pub const MAX_CONTACTS: u64 = 100;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum OrgType {
    #[serde(rename = "F")]
    Factory,
    #[serde(rename = "S")]
    Supplier,
    #[serde(rename = "B")]
    Brand,
    #[serde(rename = "R")]
    Retailer,
    #[serde(rename = "V")]
    Vendor,
}

impl OrgType {
    pub const ALL: [OrgType; 5] =
        [OrgType::Factory, OrgType::Supplier, OrgType::Brand, OrgType::Retailer, OrgType::Vendor];

    /// The one-letter code the API uses.
    pub fn code(self) -> &'static str {
        match self {
            OrgType::Factory => "F",
            OrgType::Supplier => "S",
            OrgType::Brand => "B",
            OrgType::Retailer => "R",
            OrgType::Vendor => "V",
        }
    }

    pub fn label(self) -> &'static str {
        match self {
            OrgType::Factory => "Factory",
            OrgType::Supplier => "Supplier",
            OrgType::Brand => "Brand",
            OrgType::Retailer => "Retailer",
            OrgType::Vendor => "Vendor",
        }
    }
}

impl fmt::Display for OrgType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for OrgType {
    type Err = String;
    /// Accepts the code (`F`) or the word (`factory`), in any case.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        OrgType::ALL
            .into_iter()
            .find(|t| t.code().eq_ignore_ascii_case(s) || t.label().eq_ignore_ascii_case(s))
            .ok_or_else(|| format!("unknown organization type {s:?}: use F, S, B, R or V"))
    }
}

/// A real ISO 3166-1 alpha-2 code, upper case; `None` when it is not one.
pub fn country_name(code: &str) -> Option<&'static str> {
    isocountry::CountryCode::for_alpha2(code).ok().map(|c| c.name())
}

/// Every ISO 3166-1 country as `(alpha-2 code, English name)`, sorted by name.
pub fn countries() -> Vec<(&'static str, &'static str)> {
    let mut all: Vec<_> = isocountry::CountryCode::iter().map(|c| (c.alpha2(), c.name())).collect();
    all.sort_by_key(|&(_, name)| name);
    all
}

/// A contact person; drafts and stored contacts share this shape.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Validate)]
#[serde(default)]
pub struct Contact {
    #[serde(rename = "firstName")]
    #[validate(length(min = 1, max = "MAX_TEXT"))]
    pub first_name: String,
    #[serde(rename = "lastName")]
    #[validate(length(max = "MAX_TEXT"))]
    pub last_name: Option<String>,
    #[validate(length(max = 100), email, custom(function = "validate::dotted_domain"))]
    pub email: Option<String>,
    #[validate(length(max = 50))]
    pub phone: Option<String>,
    #[serde(rename = "workPhone")]
    #[validate(length(max = 50))]
    pub work_phone: Option<String>,
}

impl Contact {
    fn normalized(&self) -> Contact {
        Contact {
            first_name: self.first_name.trim().to_string(),
            last_name: validate::trim_optional(&self.last_name),
            email: validate::trim_optional(&self.email),
            phone: validate::trim_optional(&self.phone),
            work_phone: validate::trim_optional(&self.work_phone),
        }
    }

    /// Parses the command line's `First;Last;email;phone;workPhone` (later parts optional).
    pub fn from_semicolon_list(text: &str) -> Contact {
        let mut parts = text.split(';').map(|s| Some(s.to_string()));
        Contact {
            first_name: parts.next().flatten().unwrap_or_default(),
            last_name: parts.next().flatten(),
            email: parts.next().flatten(),
            phone: parts.next().flatten(),
            work_phone: parts.next().flatten(),
        }
    }
}

/// Latitude and longitude; text in drafts so a typo is a field message.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[serde(default)]
pub struct LocationDraft {
    #[serde(deserialize_with = "validate::text_or_number")]
    #[validate(custom(function = "latitude_rule"))]
    pub latitude: String,
    #[serde(deserialize_with = "validate::text_or_number")]
    #[validate(custom(function = "longitude_rule"))]
    pub longitude: String,
}

fn latitude_rule(text: &str) -> Result<(), ValidationError> {
    within(text, 90)
}

fn longitude_rule(text: &str) -> Result<(), ValidationError> {
    within(text, 180)
}

/// A decimal from `-limit` to `limit` degrees.
fn within(text: &str, limit: i16) -> Result<(), ValidationError> {
    let v = validate::parse_decimal(text)?;
    if (-f64::from(limit)..=f64::from(limit)).contains(&v) {
        Ok(())
    } else {
        // `{label}` is filled in later, with the field's name.
        Err(rule_error("out_of_range", format!("{{label}} must be between -{limit} and {limit}.")))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Location {
    pub latitude: f64,
    pub longitude: f64,
}

/// What a person typed for an organization, untrusted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, Validate)]
#[serde(default)]
pub struct OrganizationDraft {
    #[validate(length(min = 1, max = "MAX_TEXT"))]
    pub name: String,
    #[serde(rename = "type")]
    #[validate(custom(function = "org_type_rule"))]
    pub org_type: String,
    #[validate(length(min = 1, max = "MAX_TEXT"))]
    pub address: String,
    #[validate(length(max = "MAX_TEXT"))]
    pub address2: Option<String>,
    #[validate(length(max = "MAX_TEXT"))]
    pub city: Option<String>,
    #[validate(length(max = "MAX_TEXT"))]
    pub province: Option<String>,
    #[validate(length(max = 30))]
    pub postal: Option<String>,
    #[validate(custom(function = "country_rule"))]
    pub country: String,
    #[validate(length(min = 1, max = 50))]
    pub phone: String,
    #[validate(length(max = 100), email, custom(function = "validate::dotted_domain"))]
    pub billing_email: Option<String>,
    #[serde(rename = "officeId")]
    #[validate(length(max = "MAX_TEXT"))]
    pub office_id: Option<String>,
    #[serde(rename = "linkedTo")]
    #[validate(length(max = "MAX_TEXT"))]
    pub linked_to: Option<String>,
    #[validate(length(max = "MAX_DESCRIPTION"))]
    pub description: Option<String>,
    #[validate(nested)]
    pub location: Option<LocationDraft>,
    #[validate(length(min = 1, max = "MAX_CONTACTS"), nested)]
    pub contacts: Vec<Contact>,
}

const ORG_FIELD_ORDER: &[&str] = &[
    "name",
    "type",
    "address",
    "address2",
    "city",
    "province",
    "postal",
    "country",
    "phone",
    "billing_email",
    "officeId",
    "linkedTo",
    "description",
    "location",
    "contacts",
];

fn org_type_rule(text: &str) -> Result<(), ValidationError> {
    match text {
        "" => Err(ValidationError::new("required")),
        t if t.parse::<OrgType>().is_ok() => Ok(()),
        _ => Err(rule_error(
            "not_allowed",
            "{label} must be F (Factory), S (Supplier), B (Brand), R (Retailer) or V (Vendor).",
        )),
    }
}

fn country_rule(code: &str) -> Result<(), ValidationError> {
    match code {
        "" => Err(ValidationError::new("required")),
        c if country_name(c).is_some() => Ok(()),
        _ => Err(rule_error("invalid_country", "{label} must be a two-letter ISO country code, like US, DE or VN.")),
    }
}

impl OrganizationDraft {
    /// Trims everything, drops empty optional text, upper-cases the country code
    /// and treats a location with both parts blank as no location.
    pub fn normalized(&self) -> OrganizationDraft {
        let t = validate::trim_optional;
        let location = self
            .location
            .as_ref()
            .map(|l| LocationDraft {
                latitude: l.latitude.trim().to_string(),
                longitude: l.longitude.trim().to_string(),
            })
            .filter(|l| !(l.latitude.is_empty() && l.longitude.is_empty()));
        OrganizationDraft {
            name: self.name.trim().to_string(),
            org_type: self.org_type.trim().to_string(),
            address: self.address.trim().to_string(),
            address2: t(&self.address2),
            city: t(&self.city),
            province: t(&self.province),
            postal: t(&self.postal),
            country: self.country.trim().to_uppercase(),
            phone: self.phone.trim().to_string(),
            billing_email: t(&self.billing_email),
            office_id: t(&self.office_id),
            linked_to: t(&self.linked_to),
            description: t(&self.description),
            location,
            contacts: self.contacts.iter().map(Contact::normalized).collect(),
        }
    }

    pub fn validate_fields(&self) -> Result<OrganizationFields, ValidationReport> {
        let d = self.normalized();
        if let Err(errors) = d.validate() {
            return Err(ValidationReport::from_validator(&errors, ORG_FIELD_ORDER));
        }
        Ok(OrganizationFields {
            org_type: d.org_type.parse().expect("checked by org_type_rule"),
            location: d.location.map(|l| Location {
                latitude: l.latitude.parse().expect("checked by latitude_rule"),
                longitude: l.longitude.parse().expect("checked by longitude_rule"),
            }),
            name: d.name,
            address: d.address,
            address2: d.address2,
            city: d.city,
            province: d.province,
            postal: d.postal,
            country: d.country,
            phone: d.phone,
            billing_email: d.billing_email,
            office_id: d.office_id,
            linked_to: d.linked_to,
            description: d.description,
            contacts: d.contacts,
        })
    }
}

/// An organization's fields, validated, in the API's spelling.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OrganizationFields {
    pub name: String,
    #[serde(rename = "type")]
    pub org_type: OrgType,
    pub address: String,
    pub address2: Option<String>,
    pub city: Option<String>,
    pub province: Option<String>,
    pub postal: Option<String>,
    pub country: String,
    pub phone: String,
    pub billing_email: Option<String>,
    #[serde(rename = "officeId")]
    pub office_id: Option<String>,
    /// Set by the API ("global organization linked to this one"); kept, never sent.
    #[serde(rename = "linkedTo")]
    pub linked_to: Option<String>,
    pub description: Option<String>,
    pub location: Option<Location>,
    pub contacts: Vec<Contact>,
}

impl OrganizationFields {
    pub fn to_draft(&self) -> OrganizationDraft {
        OrganizationDraft {
            name: self.name.clone(),
            org_type: self.org_type.code().to_string(),
            address: self.address.clone(),
            address2: self.address2.clone(),
            city: self.city.clone(),
            province: self.province.clone(),
            postal: self.postal.clone(),
            country: self.country.clone(),
            phone: self.phone.clone(),
            billing_email: self.billing_email.clone(),
            office_id: self.office_id.clone(),
            linked_to: self.linked_to.clone(),
            description: self.description.clone(),
            location: self
                .location
                .map(|l| LocationDraft { latitude: l.latitude.to_string(), longitude: l.longitude.to_string() }),
            contacts: self.contacts.clone(),
        }
    }
}

/// An organization as stored locally. Its `key` is also the `id` sent to the API.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Organization {
    pub key: Uuid,
    #[serde(flatten)]
    pub fields: OrganizationFields,
    pub server: OrganizationServerFields,
    pub sync_state: SyncState,
    pub sync_error: Option<super::SyncError>,
    pub created_locally_at: DateTime<Utc>,
    pub updated_locally_at: DateTime<Utc>,
    pub deleted_at: Option<DateTime<Utc>>,
}

/// Fields only the central API sets.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrganizationServerFields {
    #[serde(rename = "createdAt")]
    pub created_at: Option<DateTime<Utc>>,
    #[serde(rename = "updatedAt")]
    pub updated_at: Option<DateTime<Utc>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn good() -> OrganizationDraft {
        OrganizationDraft {
            name: "Acme Corp".into(),
            org_type: "S".into(),
            address: "5 Madison Avenue".into(),
            country: "us".into(),
            phone: "1505111222".into(),
            contacts: vec![Contact { first_name: "John".into(), ..Default::default() }],
            ..Default::default()
        }
    }

    #[test]
    fn valid_draft_normalizes() {
        let f = good().validate_fields().unwrap();
        assert_eq!(f.country, "US");
        assert_eq!(f.org_type, OrgType::Supplier);
        assert_eq!(f.address2, None);
    }

    #[test]
    fn country_must_be_real() {
        let mut d = good();
        d.country = "XX".into();
        let r = d.validate_fields().unwrap_err();
        assert_eq!(r.field("country").unwrap().code, "invalid_country");
        d.country = "USA".into();
        assert_eq!(d.validate_fields().unwrap_err().field("country").unwrap().code, "invalid_country");
    }

    #[test]
    fn contacts_need_one_with_a_first_name() {
        let mut d = good();
        d.contacts.clear();
        let r = d.validate_fields().unwrap_err();
        assert_eq!(r.field("contacts").unwrap().message, "Add at least one contact.");
        d.contacts = vec![
            Contact::default(),
            Contact { first_name: "Ann".into(), email: Some("bad".into()), ..Default::default() },
        ];
        let r = d.validate_fields().unwrap_err();
        assert_eq!(r.field("contacts[0].firstName").unwrap().message, "Contact 1 first name is required.");
        assert_eq!(r.field("contacts[1].email").unwrap().code, "invalid_email");
    }

    #[test]
    fn location_bounds_and_nan() {
        let mut d = good();
        d.location = Some(LocationDraft { latitude: "90.0001".into(), longitude: "NaN".into() });
        let r = d.validate_fields().unwrap_err();
        assert_eq!(r.field("location.latitude").unwrap().code, "out_of_range");
        assert_eq!(r.field("location.longitude").unwrap().code, "not_a_number");
        d.location = Some(LocationDraft { latitude: "-90".into(), longitude: "180".into() });
        assert!(d.validate_fields().is_ok());
        d.location = Some(LocationDraft { latitude: " ".into(), longitude: "".into() });
        assert_eq!(d.validate_fields().unwrap().location, None);
    }

    #[test]
    fn org_type_accepts_codes_and_words() {
        assert_eq!("factory".parse::<OrgType>().unwrap(), OrgType::Factory);
        assert_eq!("v".parse::<OrgType>().unwrap(), OrgType::Vendor);
        let mut d = good();
        d.org_type = "X".into();
        assert_eq!(d.validate_fields().unwrap_err().field("type").unwrap().code, "not_allowed");
    }

    #[test]
    fn semicolon_contacts() {
        let c = Contact::from_semicolon_list("Ann;Lee;ann@x.example;;123");
        assert_eq!(c.first_name, "Ann");
        assert_eq!(c.phone.as_deref(), Some(""));
        assert_eq!(c.normalized().phone, None);
        assert_eq!(c.work_phone.as_deref(), Some("123"));
    }

    #[test]
    fn countries_listed() {
        let all = countries();
        assert!(all.len() >= 249);
        assert!(all.iter().any(|&(c, _)| c == "VN"));
    }
}
