//! One vocabulary of failures for every boundary: the command line's `--json`,
//! the window's IPC answers and the logs all say `{kind, message, fields}`
//! with a `kind` from [`ErrorKind`]. Each layer's error becomes an
//! [`ErrorBody`] here, in one place, so the two front ends cannot disagree
//! (they did: a missing import file was `io` on the command line and
//! `import` in the window, a sync with nothing set up `io` and `not_configured`).

use serde::{Deserialize, Serialize};

use crate::export::ExportError;
use crate::import::ImportError;
use crate::store::StoreError;
use crate::sync::SyncFailure;
use crate::validate::FieldError;

/// What went wrong, in words a script can match on (snake_case in JSON).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// Some fields need fixing; `fields` names each.
    Validation,
    /// No record, change or file matches.
    NotFound,
    /// A key prefix matches more than one record.
    Ambiguous,
    /// The record was deleted and can no longer change.
    Deleted,
    /// The database file is not one of Partnerbook's, or is damaged past opening.
    NotADatabase,
    /// The database was written by a newer Partnerbook.
    TooNew,
    /// The database could not be brought up to this version (it was left as it was).
    Migration,
    /// Another Partnerbook holds the database.
    Locked,
    /// The database is damaged.
    Damaged,
    /// Any other database failure.
    Database,
    /// A file could not be read or written.
    Io,
    /// A file was read but cannot be used (e.g. a column is missing).
    InvalidFile,
    /// The command line was used wrongly.
    Usage,
    /// The window sent a value of the wrong shape (the window's bug, not the user's doing).
    BadRequest,
    /// Sync has no API set up.
    NotConfigured,
    /// An API address breaks the https-only rule.
    BadAddress,
    /// The user stopped it; nothing was written.
    Cancelled,
    /// Something stopped unexpectedly.
    Internal,
}

impl ErrorKind {
    /// The name as it appears in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::Validation => "validation",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Ambiguous => "ambiguous",
            ErrorKind::Deleted => "deleted",
            ErrorKind::NotADatabase => "not_a_database",
            ErrorKind::TooNew => "too_new",
            ErrorKind::Migration => "migration",
            ErrorKind::Locked => "locked",
            ErrorKind::Damaged => "damaged",
            ErrorKind::Database => "database",
            ErrorKind::Io => "io",
            ErrorKind::InvalidFile => "invalid_file",
            ErrorKind::Usage => "usage",
            ErrorKind::BadRequest => "bad_request",
            ErrorKind::NotConfigured => "not_configured",
            ErrorKind::BadAddress => "bad_address",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::Internal => "internal",
        }
    }
}

impl std::fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failure as data: `{kind, message, fields: [{field, code, message}]}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub kind: ErrorKind,
    pub message: String,
    #[serde(default)]
    pub fields: Vec<FieldError>,
}

impl ErrorBody {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ErrorBody {
        ErrorBody { kind, message: message.into(), fields: Vec::new() }
    }
}

impl From<&StoreError> for ErrorBody {
    fn from(e: &StoreError) -> ErrorBody {
        let kind = match e {
            StoreError::Invalid(_) => ErrorKind::Validation,
            StoreError::NotFound { .. } => ErrorKind::NotFound,
            StoreError::Ambiguous { .. } => ErrorKind::Ambiguous,
            StoreError::Deleted { .. } => ErrorKind::Deleted,
            StoreError::NotADatabase { .. } => ErrorKind::NotADatabase,
            StoreError::TooNew { .. } => ErrorKind::TooNew,
            StoreError::Migration { .. } => ErrorKind::Migration,
            StoreError::Locked => ErrorKind::Locked,
            StoreError::CreateDir { .. } => ErrorKind::Io,
            StoreError::Damaged(_) => ErrorKind::Damaged,
            StoreError::Sqlite(_) => ErrorKind::Database,
        };
        match e {
            StoreError::Invalid(report) => ErrorBody {
                kind,
                message: "Some fields need fixing before this can be saved.".into(),
                fields: report.fields.clone(),
            },
            other => ErrorBody::new(kind, other.to_string()),
        }
    }
}

impl From<&SyncFailure> for ErrorBody {
    fn from(e: &SyncFailure) -> ErrorBody {
        match e {
            SyncFailure::Store(e) => e.into(),
            SyncFailure::NotConfigured => ErrorBody::new(ErrorKind::NotConfigured, e.to_string()),
            SyncFailure::BadAddress(_) => ErrorBody::new(ErrorKind::BadAddress, e.to_string()),
        }
    }
}

impl From<&ExportError> for ErrorBody {
    fn from(e: &ExportError) -> ErrorBody {
        match e {
            ExportError::Store(e) => e.into(),
            ExportError::Cancelled => ErrorBody::new(ErrorKind::Cancelled, e.to_string()),
            ExportError::Io { .. } | ExportError::Xlsx(_) => ErrorBody::new(ErrorKind::Io, e.to_string()),
        }
    }
}

impl From<&ImportError> for ErrorBody {
    fn from(e: &ImportError) -> ErrorBody {
        match e {
            ImportError::Store(e) => e.into(),
            ImportError::Read { .. } | ImportError::Write { .. } => ErrorBody::new(ErrorKind::Io, e.to_string()),
            ImportError::MissingColumn { .. } => ErrorBody::new(ErrorKind::InvalidFile, e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The JSON name and `as_str` are one spelling.
    #[test]
    fn kinds_serialize_as_their_names() {
        use ErrorKind::*;
        for kind in [
            Validation,
            NotFound,
            Ambiguous,
            Deleted,
            NotADatabase,
            TooNew,
            Migration,
            Locked,
            Damaged,
            Database,
            Io,
            InvalidFile,
            Usage,
            BadRequest,
            NotConfigured,
            BadAddress,
            Cancelled,
            Internal,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::json!(kind.as_str()));
        }
    }
}
