//! Partnerbook's core: records, validation, the local store and (later) sync
//! and export. No Tauri here: the CLI, the desktop shell and the benchmarks all
//! build on this crate alone.

pub mod app;
pub mod duplicates;
pub mod error;
pub mod export;
pub mod import;
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
pub mod validate;

pub use error::{ErrorBody, ErrorKind};
pub use model::*;
pub use store::{Store, StoreError};
pub use validate::{FieldError, ValidationReport};
