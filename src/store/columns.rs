//! The partner columns a reader may ask for (an export, the import's
//! duplicate check): typed, so no SQL crosses into the store from outside.

use crate::text_enum::text_enum;

text_enum!(
    /// A column of the partners table; its name is an export's header (and the field name).
    PartnerColumn("column") {
        Key = "key",
        CompanyName = "company_name",
        SalesAmount = "sales_amount",
        PartnerType = "partner_type",
        Email = "email",
        Frequency = "frequency",
        PaymentTerms = "payment_terms",
        TargetOrgId = "target_org_id",
        ServerId = "server_id",
        CreatedLocallyAt = "created_locally_at",
        UpdatedLocallyAt = "updated_locally_at",
        SyncState = "sync_state",
        SyncError = "sync_error",
    }
);

impl PartnerColumn {
    /// The six API fields, in the API's order (they follow the key in [`Self::ALL`]):
    /// what an export holds by default.
    pub const FIELDS: [PartnerColumn; 6] = {
        let all = Self::ALL;
        [all[1], all[2], all[3], all[4], all[5], all[6]]
    };

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
