//! What this build is and which database it works on: `partnerbook info`
//! and the window's About say the same.

use serde::Serialize;

use crate::store::Store;

#[derive(Debug, Clone, Serialize)]
pub struct About {
    pub version: &'static str,
    /// The schema this build writes (an older database is upgraded to it on open).
    pub schema_version: usize,
    /// "0.1.0 (database schema 14)".
    pub version_line: String,
    pub database: String,
}

pub fn about(store: &Store) -> About {
    About {
        version: crate::VERSION,
        schema_version: crate::store::SCHEMA_VERSION,
        version_line: crate::version_line(),
        database: store.path().display().to_string(),
    }
}
