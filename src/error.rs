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
use crate::text_enum::text_enum;
use crate::validate::FieldError;

text_enum!(
    /// What went wrong, in words a script can match on.
    ErrorKind("error kind") {
        /// Some fields need fixing; `fields` names each.
        Validation = "validation",
        /// No record, change or file matches.
        NotFound = "not_found",
        /// A key prefix matches more than one record.
        Ambiguous = "ambiguous",
        /// The record was deleted and can no longer change.
        Deleted = "deleted",
        /// The database file is not one of Partnerbook's, or is damaged past opening.
        NotADatabase = "not_a_database",
        /// The database was written by a newer Partnerbook.
        TooNew = "too_new",
        /// The database could not be brought up to this version (it was left as it was).
        Migration = "migration",
        /// The record belongs to a connected organization that does not let you change its partners.
        ReadOnly = "read_only",
        /// Another Partnerbook holds the database.
        Locked = "locked",
        /// The database is damaged.
        Damaged = "damaged",
        /// Any other database failure.
        Database = "database",
        /// A file could not be read or written.
        Io = "io",
        /// A file was read but cannot be used (e.g. a column is missing).
        InvalidFile = "invalid_file",
        /// The command line was used wrongly.
        Usage = "usage",
        /// The window sent a value of the wrong shape (the window's bug, not the user's doing).
        BadRequest = "bad_request",
        /// Sync has no API set up.
        NotConfigured = "not_configured",
        /// An API address breaks the https-only rule.
        BadAddress = "bad_address",
        /// The user stopped it; nothing was written.
        Cancelled = "cancelled",
        /// Another process is sending this database's changes; none were sent from here.
        SendingElsewhere = "sending_elsewhere",
        /// Something stopped unexpectedly.
        Internal = "internal",
    }
);

/// A failure as data: `{kind, message, fields: [{field, code, message}], args}`.
///
/// `message` is the English sentence; `kind` (with each field's `code`) is
/// its stable code, and `args` the values the sentence names (`{"what":
/// "partner", "key": "01a2"}`), so a translation can word it again without
/// parsing English.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub kind: ErrorKind,
    pub message: String,
    #[serde(default)]
    pub fields: Vec<FieldError>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub args: std::collections::BTreeMap<String, String>,
}

impl ErrorBody {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> ErrorBody {
        ErrorBody { kind, message: message.into(), fields: Vec::new(), args: Default::default() }
    }

    /// The same, naming a value the message holds.
    pub fn with(mut self, name: &str, value: impl ToString) -> ErrorBody {
        self.args.insert(name.to_string(), value.to_string());
        self
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
            StoreError::ReadOnly { .. } => ErrorKind::ReadOnly,
        };
        let body = ErrorBody::new(kind, e.to_string());
        match e {
            StoreError::Invalid(report) => ErrorBody {
                message: "Some fields need fixing before this can be saved.".into(),
                fields: report.fields.clone(),
                ..body
            },
            StoreError::NotFound { kind, key } | StoreError::Ambiguous { kind, key } => {
                body.with("what", kind).with("key", key)
            }
            StoreError::Deleted { kind, at } => body.with("what", kind).with("at", at.to_rfc3339()),
            StoreError::ReadOnly { org_id, .. } => body.with("organization", org_id),
            StoreError::NotADatabase { path } => body.with("path", path.display()),
            StoreError::TooNew { path, found, supported } => {
                body.with("path", path.display()).with("found", found).with("supported", supported)
            }
            StoreError::Migration { path, cause } => body.with("path", path.display()).with("cause", cause),
            StoreError::CreateDir { path, source } => body.with("path", path.display()).with("cause", source),
            StoreError::Damaged(cause) => body.with("cause", cause),
            StoreError::Sqlite(cause) => body.with("cause", cause),
            StoreError::Locked => body,
        }
    }
}

impl From<&SyncFailure> for ErrorBody {
    fn from(e: &SyncFailure) -> ErrorBody {
        match e {
            SyncFailure::Store(e) => e.into(),
            SyncFailure::NotConfigured => ErrorBody::new(ErrorKind::NotConfigured, e.to_string()),
            SyncFailure::BadAddress(why) => ErrorBody::new(ErrorKind::BadAddress, e.to_string()).with("reason", why),
        }
    }
}

impl From<&ExportError> for ErrorBody {
    fn from(e: &ExportError) -> ErrorBody {
        match e {
            ExportError::Store(e) => e.into(),
            ExportError::Cancelled => ErrorBody::new(ErrorKind::Cancelled, e.to_string()),
            ExportError::Target(_) => ErrorBody::new(ErrorKind::Io, e.to_string()),
            ExportError::Limit(_) => ErrorBody::new(ErrorKind::InvalidFile, e.to_string()),
            ExportError::Io { path, source } => {
                ErrorBody::new(ErrorKind::Io, e.to_string()).with("path", path.display()).with("cause", source)
            }
            ExportError::Xlsx(cause) => ErrorBody::new(ErrorKind::Io, e.to_string()).with("cause", cause),
        }
    }
}

impl From<&ImportError> for ErrorBody {
    fn from(e: &ImportError) -> ErrorBody {
        match e {
            ImportError::Store(e) => e.into(),
            ImportError::Read { path, cause } => {
                ErrorBody::new(ErrorKind::Io, e.to_string()).with("path", path.display()).with("cause", cause)
            }
            ImportError::Write { path, source } => {
                ErrorBody::new(ErrorKind::Io, e.to_string()).with("path", path.display()).with("cause", source)
            }
            ImportError::Cancelled => ErrorBody::new(ErrorKind::Cancelled, e.to_string()),
            ImportError::Target(_) => ErrorBody::new(ErrorKind::Io, e.to_string()),
            ImportError::MissingColumn { path, missing } => ErrorBody::new(ErrorKind::InvalidFile, e.to_string())
                .with("path", path.display())
                .with("column", missing),
        }
    }
}

/// Owned errors convert as their references do, so `?` works where an [`ErrorBody`] is returned.
macro_rules! owned_into_body {
    ($($error:ty),*) => {$(
        impl From<$error> for ErrorBody {
            fn from(e: $error) -> ErrorBody {
                ErrorBody::from(&e)
            }
        }
    )*};
}
owned_into_body!(StoreError, SyncFailure, ExportError, ImportError);

impl From<crate::validate::ValidationReport> for ErrorBody {
    fn from(report: crate::validate::ValidationReport) -> ErrorBody {
        ErrorBody::from(&StoreError::Invalid(report))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A message's values travel beside it, for a translation to use.
    #[test]
    fn a_not_found_names_what_and_which() {
        let body = ErrorBody::from(&StoreError::NotFound { kind: "partner", key: "01a2".into() });
        let json = serde_json::to_value(&body).unwrap();
        assert_eq!(json["kind"], "not_found");
        assert_eq!(json["args"], serde_json::json!({"what": "partner", "key": "01a2"}));
        let plain = serde_json::to_value(ErrorBody::new(ErrorKind::Usage, "x")).unwrap();
        assert!(plain.get("args").is_none(), "no empty args: {plain}");
    }

    /// The JSON name and `as_str` are one spelling.
    #[test]
    fn kinds_serialize_as_their_names() {
        for kind in ErrorKind::ALL {
            assert_eq!(serde_json::to_value(kind).unwrap(), serde_json::json!(kind.as_str()));
        }
    }
}
