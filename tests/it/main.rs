//! Partnerbook's integration tests, in one binary (one link instead of ten,
//! and fixtures shared through `support`). Each module tests one promise
//! from the outside, through the library's public API or the `partnerbook`
//! command:
//!
//! - `store`, `store_failures`, `properties`: records, validation, the outbox,
//!   a full disk, a locked or damaged file, and model-based properties;
//! - `export`, `import`: files written and read back with the readers a user has;
//! - `cli`: the command line's words, JSON and exit codes;
//! - `golden`: databases of released versions, upgraded and synced;
//! - `sync`: against the stand-in (`partnerbook-standin`) and its fault switches;
//! - `hostile`: against a small server of its own that lies, stalls and redirects;
//! - `harness`: late delivery, lost answers, kills at every step, and the
//!   reference model beside the real engine;
//! - `contract`: every request and answer checked against the OpenAPI files by Prism.

mod support;

mod cli;
mod contract;
mod duplicates;
mod export;
mod golden;
mod harness;
mod hostile;
mod hostile_files;
mod import;
mod properties;
mod store;
mod store_failures;
mod sync;
