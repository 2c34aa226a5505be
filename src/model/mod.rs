//! Records as the rest of the app sees them: drafts (what a person typed),
//! validated fields (what the API takes) and stored records (fields plus bookkeeping).

mod organization;
mod partner;

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

pub use organization::{
    Contact, Location, LocationDraft, MAX_CONTACTS, MAX_DESCRIPTION, MAX_TEXT, OrgType, Organization,
    OrganizationDraft, OrganizationFields, OrganizationServerFields, countries, country_name,
};
pub use partner::{
    InvitationStatus, MAX_SALES_AMOUNT, Partner, PartnerDraft, PartnerFields, PartnerPatch, PartnerServerFields,
    PartnerType,
};

use crate::validate::FieldError;

/// Where a record stands with the central API.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SyncState {
    /// Saved locally; a change is waiting in the outbox.
    Pending,
    /// The central API has every local change.
    Synced,
    /// The central API refused the last change; `sync_error` says why.
    Rejected,
    /// Changed here and on the server since the last sync; the user chooses.
    Conflict,
}

impl SyncState {
    pub const ALL: [SyncState; 4] = [SyncState::Pending, SyncState::Synced, SyncState::Rejected, SyncState::Conflict];

    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::Pending => "pending",
            SyncState::Synced => "synced",
            SyncState::Rejected => "rejected",
            SyncState::Conflict => "conflict",
        }
    }
}

impl fmt::Display for SyncState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for SyncState {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        SyncState::ALL
            .into_iter()
            .find(|v| v.as_str() == s)
            .ok_or_else(|| format!("unknown sync state {s:?}: use pending, synced, rejected or conflict"))
    }
}

/// Why the central API refused a record, in the user's words where it gave them per field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncError {
    pub message: String,
    #[serde(default)]
    pub fields: Vec<FieldError>,
}
