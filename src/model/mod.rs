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

/// What the store hands out of either kind of record: its validated fields
/// and when it was deleted here, if it was.
pub trait Saved {
    type Fields: PartialEq;
    fn fields(&self) -> &Self::Fields;
    fn deleted_at(&self) -> Option<chrono::DateTime<chrono::Utc>>;
}

macro_rules! saved {
    ($($record:ty => $fields:ty),+) => {$(
        impl Saved for $record {
            type Fields = $fields;
            fn fields(&self) -> &$fields {
                &self.fields
            }
            fn deleted_at(&self) -> Option<chrono::DateTime<chrono::Utc>> {
                self.deleted_at
            }
        }
    )+};
}
saved!(Partner => PartnerFields, Organization => OrganizationFields);

/// Why the central API refused a record, in the user's words where it gave them per field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncError {
    pub message: String,
    #[serde(default)]
    pub fields: Vec<FieldError>,
}
