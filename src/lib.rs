//! Partnerbook's core: every decision the app makes, with no Tauri here, so
//! the command line, the desktop shell and the benchmarks all build on it alone.
//!
//! The roles, from the edge inwards:
//! - [`app`]: the plain functions both front ends call (the window's IPC
//!   commands and the CLI's subcommands are thin wrappers over them);
//! - [`model`] and [`validate`]: drafts turned into validated fields by one rule set;
//! - [`store`]: the local SQLite database, which knows nothing of sync;
//! - [`plan`] and [`merge`]: what to send and how to merge, decided as pure
//!   functions before any I/O; [`sync`] carries a plan out through [`remote`],
//!   the one module that talks to the central APIs;
//! - [`import`], [`export`], [`target`]: files in and out, within stated limits;
//! - [`duplicates`]: the matcher behind the forms' warning and the import's check;
//! - [`settings`], [`managed`], [`secrets`], [`paths`]: where configuration and data live
//!   (the user's settings, IT's managed file over them, the keychain, the database file);
//! - [`update`]: when to look for updates and what to say of them (the shell fetches them);
//! - [`error`]: the one vocabulary of error kinds every boundary speaks.

pub mod app;
pub mod duplicates;
pub mod error;
pub mod export;
pub mod import;
pub mod managed;
pub mod merge;
pub mod model;
pub mod paths;
pub mod plan;
pub mod remote;
pub mod secrets;
pub mod settings;
pub mod store;
pub mod sync;
pub mod target;
mod text_enum;
pub mod update;
pub mod validate;

pub use error::{ErrorBody, ErrorKind};
pub use model::*;
pub use store::{Store, StoreError};
pub use validate::{FieldError, ValidationReport};

/// This build's version (the workspace's one version).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// "0.1.0 (database schema 14)": what `--version` and the window's About say.
pub fn version_line() -> String {
    format!("{VERSION} (database schema {})", store::SCHEMA_VERSION)
}
