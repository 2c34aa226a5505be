//! Creating and changing a partner: whose organization it goes to, and
//! whether that organization lets this side change it.
//!
//! The partners API creates every partner in the caller's own organization
//! (its role table: Self may create, Host and Guest may not), whatever
//! `Target-Organization-ID` says. A partner stored here under a connected
//! organization would then be missing from that organization's next pull,
//! which deleted it here. So a create names one's own organization or none.

use uuid::Uuid;

use crate::model::{Partner, PartnerDraft, PartnerPatch};
use crate::store::Partners;
use crate::store::{Store, StoreError};
use crate::validate::{FieldError, ValidationReport};

use super::settings::Overlay;

/// The organization a new partner is stored under: `None` (one's own) for no
/// target or one's own; a refusal naming the field for any other.
pub fn create_target(own: Option<Uuid>, target: Option<Uuid>) -> Result<Option<Uuid>, FieldError> {
    match target {
        None => Ok(None),
        Some(t) if Some(t) == own => Ok(None),
        Some(t) => Err(FieldError {
            field: "target_org_id".into(),
            code: "not_own_organization".into(),
            message: match own {
                Some(own) => format!(
                    "Partners can be created only in your own organization ({own}): the central system puts every \
                     new partner there, so one entered for {t} would be lost from its list. Partners of connected \
                     organizations arrive when they sync."
                ),
                None => format!(
                    "Partners can be created only in your own organization, and {t} is not set as yours: enter \
                     your organization ID in Settings (or PARTNERBOOK_REQUESTER_ORG), or leave the organization out."
                ),
            },
        }),
    }
}

/// One's own organization, as sync would use it (saved settings under the overlay).
pub fn own_organization(store: &Store, overlay: &Overlay) -> Result<Option<Uuid>, StoreError> {
    Ok(overlay.over(super::settings::effective(store)?).partners.requester_org_id)
}

/// Validates `draft` and the target together (one answer lists every
/// problem), then saves the partner under one's own organization.
pub fn create(
    store: &mut Store,
    overlay: &Overlay,
    draft: &PartnerDraft,
    target: Option<Uuid>,
) -> Result<Partner, StoreError> {
    let own = own_organization(store, overlay)?;
    let mut report = draft.validate_fields().err().unwrap_or(ValidationReport { fields: vec![] });
    let target = match create_target(own, target) {
        Ok(target) => target,
        Err(refused) => {
            report.fields.push(refused);
            None
        }
    };
    if !report.fields.is_empty() {
        return Err(StoreError::Invalid(report));
    }
    store.create_partner(draft, target)
}

/// Refuses a change to a partner of a connected organization that answered
/// a write with 403 (see [`crate::sync::access`]): the change would only wait here.
pub fn writable(store: &Store, key: Uuid) -> Result<(), StoreError> {
    let Some(org_id) = store.get::<Partners>(key)?.target_org_id else { return Ok(()) };
    match store.access().read_only_reason(org_id)? {
        Some(reason) => Err(StoreError::ReadOnly { org_id, reason }),
        None => Ok(()),
    }
}

/// Saves a whole form over a partner, if its organization lets this side change it.
pub fn update(store: &mut Store, key: Uuid, draft: &PartnerDraft) -> Result<Partner, StoreError> {
    writable(store, key)?;
    store.update_partner(key, draft)
}

/// Changes the fields given (the command line's `partner edit`), likewise.
pub fn edit(store: &mut Store, key: Uuid, patch: &PartnerPatch) -> Result<Partner, StoreError> {
    writable(store, key)?;
    store.edit_partner(key, patch)
}

/// Deletes a partner, likewise.
pub fn delete(store: &mut Store, key: Uuid) -> Result<Partner, StoreError> {
    writable(store, key)?;
    store.delete::<Partners>(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_create_names_ones_own_organization_or_none() {
        let (own, other) = (Uuid::from_u128(1), Uuid::from_u128(2));
        assert_eq!(create_target(Some(own), None), Ok(None));
        assert_eq!(create_target(Some(own), Some(own)), Ok(None));
        let refused = create_target(Some(own), Some(other)).unwrap_err();
        assert_eq!((refused.field.as_str(), refused.code.as_str()), ("target_org_id", "not_own_organization"));
        assert!(refused.message.contains("own organization"), "{}", refused.message);
        assert!(create_target(None, Some(other)).unwrap_err().message.contains("Settings"));
    }
}
