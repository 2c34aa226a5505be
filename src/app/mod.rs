//! What the two front ends do alike, so that neither holds a copy. The
//! desktop shell's commands and the command line parse their input, call a
//! function here (or the store), and show the result; the choices behind a
//! user's action live here:
//!
//! - [`sync`]: a sync run (runtime, one at a time, last result, summary sentence);
//! - [`settings`]: where sync's settings come from (database, secrets, the
//!   `PARTNERBOOK_*` overlay) and the order a save writes them in;
//! - [`status`]: what the status bar says;
//! - [`export`], [`import`]: an export or an import on its own connection, with progress and cancel;
//! - [`partners`]: whose organization a new partner goes to;
//! - [`about`]: the version and the database, for `info` and the window's About.
//!
//! Every failure leaves here as an [`ErrorBody`](crate::ErrorBody).

pub mod about;
pub mod export;
pub mod import;
pub mod partners;
pub mod settings;
pub mod status;
pub mod sync;

pub use sync::{LastSync, Reading, SyncRunner, summary, sync_runtime};
