//! Test helpers shared by the integration tests that include them.

pub mod proxy;
