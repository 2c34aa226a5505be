//! Talking to the central APIs. For now: checking that the settings work
//! ("Test connection"); the sync engine builds on the same client.

mod check;

pub use check::{ConnectionCheck, check_organizations, check_partners};

use std::time::Duration;

/// One HTTP client for the app: rustls, keep-alive, bounded timeouts.
pub fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(10))
        .timeout(Duration::from_secs(30))
        .user_agent(concat!("Partnerbook/", env!("CARGO_PKG_VERSION")))
        .build()
        .expect("a client with these options always builds")
}
