//! Records as the rest of the app sees them: drafts (what a person typed),
//! validated fields (what the API takes) and stored records (fields plus bookkeeping).

mod organization;
mod partner;

use serde::{Deserialize, Serialize};

pub use organization::{
    Contact, Location, LocationDraft, MAX_CONTACTS, MAX_DESCRIPTION, MAX_TEXT, OrgType, Organization,
    OrganizationDraft, OrganizationFields, OrganizationServerFields, countries, country_name,
};
pub use partner::{
    InvitationStatus, MAX_SALES_AMOUNT, Partner, PartnerDraft, PartnerFields, PartnerPatch, PartnerServerFields,
    PartnerType,
};

use crate::text_enum::text_enum;
use crate::validate::FieldError;

text_enum!(
    /// Where a record stands with the central API.
    SyncState("sync state") {
        /// Saved locally; a change is waiting in the outbox.
        Pending = "pending",
        /// The central API has every local change.
        Synced = "synced",
        /// The central API refused the last change; `sync_error` says why.
        Rejected = "rejected",
        /// Changed here and on the server since the last sync; the user chooses.
        Conflict = "conflict",
    }
);

/// Why the central API refused a record, in the user's words where it gave them per field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncError {
    pub message: String,
    #[serde(default)]
    pub fields: Vec<FieldError>,
}
