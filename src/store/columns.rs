//! The partner columns a reader may ask for (an export, the import's
//! duplicate check): typed, so no SQL crosses into the store from outside.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A column of the partners table; its name is an export's header (and the field name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartnerColumn {
    Key,
    CompanyName,
    SalesAmount,
    PartnerType,
    Email,
    Frequency,
    PaymentTerms,
    TargetOrgId,
    ServerId,
    CreatedLocallyAt,
    UpdatedLocallyAt,
    SyncState,
    SyncError,
}

impl PartnerColumn {
    pub const ALL: [PartnerColumn; 13] = [
        PartnerColumn::Key,
        PartnerColumn::CompanyName,
        PartnerColumn::SalesAmount,
        PartnerColumn::PartnerType,
        PartnerColumn::Email,
        PartnerColumn::Frequency,
        PartnerColumn::PaymentTerms,
        PartnerColumn::TargetOrgId,
        PartnerColumn::ServerId,
        PartnerColumn::CreatedLocallyAt,
        PartnerColumn::UpdatedLocallyAt,
        PartnerColumn::SyncState,
        PartnerColumn::SyncError,
    ];

    /// The six API fields, in the API's order: what an export holds by default.
    pub const FIELDS: [PartnerColumn; 6] = [
        PartnerColumn::CompanyName,
        PartnerColumn::SalesAmount,
        PartnerColumn::PartnerType,
        PartnerColumn::Email,
        PartnerColumn::Frequency,
        PartnerColumn::PaymentTerms,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PartnerColumn::Key => "key",
            PartnerColumn::CompanyName => "company_name",
            PartnerColumn::SalesAmount => "sales_amount",
            PartnerColumn::PartnerType => "partner_type",
            PartnerColumn::Email => "email",
            PartnerColumn::Frequency => "frequency",
            PartnerColumn::PaymentTerms => "payment_terms",
            PartnerColumn::TargetOrgId => "target_org_id",
            PartnerColumn::ServerId => "server_id",
            PartnerColumn::CreatedLocallyAt => "created_locally_at",
            PartnerColumn::UpdatedLocallyAt => "updated_locally_at",
            PartnerColumn::SyncState => "sync_state",
            PartnerColumn::SyncError => "sync_error",
        }
    }

    /// Whether the column holds a time (RFC 3339, UTC, milliseconds).
    pub fn is_time(self) -> bool {
        matches!(self, PartnerColumn::CreatedLocallyAt | PartnerColumn::UpdatedLocallyAt)
    }

    /// The column's SQL over the partners table `p`: a reader reads only what it writes.
    pub(super) fn sql(self) -> &'static str {
        match self {
            PartnerColumn::Key => "p.key",
            PartnerColumn::CompanyName => "p.company_name",
            PartnerColumn::SalesAmount => "p.sales_amount",
            PartnerColumn::PartnerType => "p.partner_type",
            PartnerColumn::Email => "p.email",
            PartnerColumn::Frequency => "p.frequency",
            PartnerColumn::PaymentTerms => "p.payment_terms",
            PartnerColumn::TargetOrgId => "p.target_org_id",
            PartnerColumn::ServerId => "p.server_id",
            PartnerColumn::CreatedLocallyAt => "p.created_at",
            PartnerColumn::UpdatedLocallyAt => "p.updated_at",
            PartnerColumn::SyncState => "p.sync_state",
            PartnerColumn::SyncError => "p.sync_error ->> '$.message'",
        }
    }
}

impl fmt::Display for PartnerColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PartnerColumn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        PartnerColumn::ALL.into_iter().find(|c| c.name() == s.trim()).ok_or_else(|| {
            let names: Vec<_> = PartnerColumn::ALL.iter().map(|c| c.name()).collect();
            format!("unknown column {s:?}; columns are {}", names.join(", "))
        })
    }
}
