//! The two record kinds the stand-in stores, with their validation and wire forms.

pub(crate) mod organization;
pub(crate) mod partner;
