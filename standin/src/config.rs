//! Start-up configuration: who may call, which organizations are connected, and the initial faults.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};
use uuid::{Uuid, uuid};

use crate::Error;
use crate::faults::Faults;

/// The development client's id, so scripts and demos work without any flag.
pub const DEV_CLIENT_ID: &str = "partnerbook-dev";
/// The development client's secret (the stand-in is loopback-only, so a fixed secret is fine).
pub const DEV_CLIENT_SECRET: &str = "dev-secret";
/// The organization the development client belongs to: fixed, so local data survives restarts.
pub const DEV_ORG_ID: Uuid = uuid!("7c4a8d09-ca37-4e5b-9c1d-2f3e4a5b6c7d");
/// The development `apiKey` for the organizations API.
pub const DEV_API_KEY: &str = "dev-api-key";
/// The partners API's version prefix on the real service today.
pub const DEFAULT_PARTNERS_PREFIX: &str = "/v1-beta";
/// Default seed of the fault RNG, so two runs with the same flags inject the same faults.
pub const DEFAULT_SEED: u64 = 0x5EED;

/// An OAuth2 API client of the partners API; a client belongs to exactly one organization.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClientCredentials {
    pub client_id: String,
    pub client_secret: String,
    pub org_id: Uuid,
}

impl ClientCredentials {
    pub fn new(client_id: impl Into<String>, client_secret: impl Into<String>, org_id: Uuid) -> Self {
        Self { client_id: client_id.into(), client_secret: client_secret.into(), org_id }
    }

    /// The built-in development client.
    pub fn dev() -> Self {
        Self::new(DEV_CLIENT_ID, DEV_CLIENT_SECRET, DEV_ORG_ID)
    }
}

/// Everything [`crate::StandIn::start`] needs.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where to listen; `None` means 127.0.0.1 on a free port. Only loopback addresses are accepted.
    pub addr: Option<SocketAddr>,
    /// The SQLite file; `None` means a fresh file in a temporary folder, deleted with the server.
    pub db_path: Option<PathBuf>,
    /// The partners API's version prefix, e.g. `/v1-beta` or `/v1` (the vendor's docs disagree).
    pub partners_prefix: String,
    pub clients: Vec<ClientCredentials>,
    /// `(requester, target)` pairs: the requester may read the target organization's partners.
    pub connections: Vec<(Uuid, Uuid)>,
    /// `(requester, target)` pairs where the requester may also change and
    /// delete the target's partners (the assumed `PUT`/`DELETE`; creates stay
    /// Self only, as the vendor documents). Each implies the read connection.
    pub writable_connections: Vec<(Uuid, Uuid)>,
    /// Keys accepted in the organizations API's `apiKey` header.
    pub api_keys: Vec<String>,
    /// Lifetime of issued access tokens, reported as `expires_in`.
    pub token_ttl_secs: u64,
    /// Serve the undocumented `GET/PUT/DELETE /partners/{id}`; off answers 405 like a server without them.
    pub assumed_partner_ops: bool,
    pub faults: Faults,
    /// Seed of the RNG that decides which request gets which fault.
    pub seed: u64,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            addr: None,
            db_path: None,
            partners_prefix: DEFAULT_PARTNERS_PREFIX.to_owned(),
            clients: vec![ClientCredentials::dev()],
            connections: Vec::new(),
            writable_connections: Vec::new(),
            api_keys: vec![DEV_API_KEY.to_owned()],
            token_ttl_secs: 3600,
            assumed_partner_ops: true,
            faults: Faults::default(),
            seed: DEFAULT_SEED,
        }
    }
}

impl Config {
    /// Checks the settings a typo could break and returns the prefix in canonical form (`/x`, or empty).
    pub(crate) fn validated_prefix(&self) -> Result<String, Error> {
        self.faults.validate()?;
        if let Some(addr) = self.addr
            && !addr.ip().is_loopback()
        {
            return Err(Error::NonLoopback(addr));
        }
        let trimmed = self.partners_prefix.trim_matches('/');
        if trimmed.chars().any(|c| c.is_whitespace() || c == '?' || c == '#' || c == '{' || c == '}') {
            return Err(Error::Config(format!("partners prefix {:?} is not a plain path", self.partners_prefix)));
        }
        Ok(if trimmed.is_empty() { String::new() } else { format!("/{trimmed}") })
    }
}
