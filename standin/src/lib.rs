//! A local stand-in of Partnerbook's two central APIs, for development, demos and the sync
//! engine's integration tests.
//!
//! - Partners, MyCreditApp style, under a version prefix (default `/v1-beta`): OAuth2 client
//!   tokens, `Requester-/Target-Organization-ID` headers, `POST`/`GET /partners`, and the
//!   undocumented (assumed) `GET/PUT/DELETE /partners/{id}` behind a switch.
//! - Organizations, Inspectorio style, under `/api/v1/organizations` with an `apiKey` header.
//! - Faults ([`Faults`]) injected per request by a seeded RNG: latency, 5xx, 429, connection
//!   resets before or after the write, timeouts, malformed bodies, expired tokens, and optional
//!   `Idempotency-Key` support.
//! - `/_admin` routes (and the methods of [`StandIn`]) to change faults, make server-side edits
//!   as another user would, and read everything stored.
//!
//! It listens on loopback only and has no real security: never expose it.

// Small helpers return an axum `Response` as their error so handlers can `return` it as is;
// boxing it would only add noise on a path that is not hot.
#![allow(clippy::result_large_err)]

mod admin;
mod auth;
mod clock;
mod config;
mod db;
mod envelope;
mod faults;
mod idempotency;
mod model;
mod organizations;
mod partners;
mod server;
mod state;
mod stats;

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;

use serde_json::Value;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

pub use config::{
    ClientCredentials, Config, DEFAULT_PARTNERS_PREFIX, DEFAULT_SEED, DEV_API_KEY, DEV_CLIENT_ID, DEV_CLIENT_SECRET,
    DEV_ORG_ID,
};
pub use faults::{Faults, IdempotencyMode};
pub use idempotency::{HEADER as IDEMPOTENCY_HEADER, REPLAYED_HEADER};
pub use stats::{FaultCounts, Stats};

use crate::auth::Auth;
use crate::db::Db;
use crate::state::{AppState, Shared};

/// What can go wrong starting the stand-in or changing its records from the library handle.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("refusing to listen on {0}: the stand-in has no real security and serves loopback addresses only")]
    NonLoopback(SocketAddr),
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
    #[error("database error: {0}")]
    Db(#[from] rusqlite::Error),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
    #[error("invalid record: {0}")]
    Invalid(String),
}

/// A running stand-in. Dropping it stops accepting connections; [`StandIn::shutdown`] also waits.
pub struct StandIn {
    addr: SocketAddr,
    prefix: String,
    app: AppState,
    stop: watch::Sender<bool>,
    task: JoinHandle<()>,
    /// Holds the temporary database folder (when no `db_path` was given) until the server goes.
    _temp_dir: Option<tempfile::TempDir>,
}

impl StandIn {
    /// Opens the database and starts serving; binds 127.0.0.1 on a free port unless `config.addr` is set.
    pub async fn start(config: Config) -> Result<StandIn, Error> {
        let prefix = config.validated_prefix()?;
        let (db_path, temp_dir) = match &config.db_path {
            Some(path) => (path.clone(), None),
            None => {
                let dir = tempfile::Builder::new().prefix("partnerbook-standin-").tempdir()?;
                (dir.path().join("standin.sqlite3"), Some(dir))
            }
        };
        let db = Db::open(&db_path)?;
        let auth = Auth::new(config.clients, config.api_keys, config.token_ttl_secs);
        let writable: HashSet<(Uuid, Uuid)> = config.writable_connections.into_iter().collect();
        let connections: HashSet<(Uuid, Uuid)> =
            config.connections.into_iter().chain(writable.iter().copied()).collect();
        let app = Arc::new(Shared::new(
            db,
            auth,
            prefix.clone(),
            (connections, writable),
            config.assumed_partner_ops,
            Faults::default(),
            config.seed,
        ));
        app.set_faults(config.faults);

        let addr = config.addr.unwrap_or(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)));
        let listener = TcpListener::bind(addr).await.map_err(|source| Error::Bind { addr, source })?;
        let addr = listener.local_addr()?;
        let (stop, stopped) = watch::channel(false);
        let task = tokio::spawn(server::serve(listener, server::router(app.clone()), stopped));
        tracing::info!("stand-in listening on http://{addr}");
        Ok(StandIn { addr, prefix, app, stop, task, _temp_dir: temp_dir })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The partners API base, e.g. `http://127.0.0.1:PORT/v1-beta` (token URL: `{this}/oauth2/token`).
    pub fn partners_url(&self) -> String {
        format!("http://{}{}", self.addr, self.prefix)
    }

    /// The organizations API base, e.g. `http://127.0.0.1:PORT` (paths start `/api/v1/organizations`).
    pub fn organizations_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the faults. Rates outside `0.0..=1.0` are clamped (use `/_admin/faults` to get an error).
    pub fn set_faults(&self, faults: Faults) {
        self.app.set_faults(faults.clamped());
    }

    pub fn faults(&self) -> Faults {
        self.app.faults()
    }

    /// Expires every issued access token now.
    pub fn expire_tokens(&self) {
        self.app.auth.expire_all();
    }

    /// Removes a client; its tokens stop working at once.
    pub fn revoke_client(&self, client_id: &str) {
        self.app.auth.revoke_client(client_id);
    }

    /// Adds a client, or replaces one with the same id (whose old tokens then stop working).
    pub fn add_client(&self, client: ClientCredentials) {
        self.app.auth.add_client(client);
    }

    pub fn set_assumed_partner_ops(&self, on: bool) {
        self.app.set_assumed_partner_ops(on);
    }

    /// Every stored partner, of any organization, each with its `org_id`; oldest first.
    ///
    /// # Panics
    /// If the database cannot be read (a broken test setup, not a request problem).
    pub fn partners(&self) -> Vec<Value> {
        self.app.all_partners().unwrap_or_else(|e| panic!("stand-in: cannot read partners: {e}"))
    }

    /// Every stored organization, oldest first.
    ///
    /// # Panics
    /// If the database cannot be read.
    pub fn organizations(&self) -> Vec<Value> {
        self.app.all_organizations().unwrap_or_else(|e| panic!("stand-in: cannot read organizations: {e}"))
    }

    /// Another user's edit of a partner (any of the six fields, `invitation_status`,
    /// `guest_organization_id`); bumps `updated_at`. `None` when there is no such partner.
    ///
    /// # Panics
    /// If the changes are invalid; use [`StandIn::try_edit_partner`] to get the error instead.
    pub fn edit_partner(&self, id: Uuid, changes: Value) -> Option<Value> {
        self.try_edit_partner(id, changes).unwrap_or_else(|e| panic!("stand-in: edit_partner({id}): {e}"))
    }

    pub fn try_edit_partner(&self, id: Uuid, changes: Value) -> Result<Option<Value>, Error> {
        self.app.edit_partner(id, &changes)
    }

    /// Deletes a partner as another user would; false when there was none.
    ///
    /// # Panics
    /// If the database cannot be written.
    pub fn delete_partner(&self, id: Uuid) -> bool {
        self.app.delete_partner(id).unwrap_or_else(|e| panic!("stand-in: delete_partner({id}): {e}"))
    }

    /// Creates a partner of `org_id` as another user would; returns it with `org_id`.
    ///
    /// # Panics
    /// If the fields are invalid; use [`StandIn::try_insert_partner`] to get the error instead.
    pub fn insert_partner(&self, org_id: Uuid, fields: Value) -> Value {
        self.try_insert_partner(org_id, fields).unwrap_or_else(|e| panic!("stand-in: insert_partner: {e}"))
    }

    pub fn try_insert_partner(&self, org_id: Uuid, fields: Value) -> Result<Value, Error> {
        self.app.insert_partner(org_id, &fields)
    }

    /// Another user's edit of an organization (top-level fields, `linkedTo` too); bumps `updatedAt`.
    ///
    /// # Panics
    /// If the changes are invalid; use [`StandIn::try_edit_organization`] to get the error instead.
    pub fn edit_organization(&self, id: &str, changes: Value) -> Option<Value> {
        self.try_edit_organization(id, changes).unwrap_or_else(|e| panic!("stand-in: edit_organization({id}): {e}"))
    }

    pub fn try_edit_organization(&self, id: &str, changes: Value) -> Result<Option<Value>, Error> {
        self.app.edit_organization(id, &changes)
    }

    /// Deletes an organization as another user would; false when there was none.
    ///
    /// # Panics
    /// If the database cannot be written.
    pub fn delete_organization(&self, id: &str) -> bool {
        self.app.delete_organization(id).unwrap_or_else(|e| panic!("stand-in: delete_organization({id}): {e}"))
    }

    /// Creates an organization as another user would, from a POST body (`id` included).
    ///
    /// # Panics
    /// If the body is invalid or the id taken; use [`StandIn::try_insert_organization`] instead.
    pub fn insert_organization(&self, body: Value) -> Value {
        self.try_insert_organization(body).unwrap_or_else(|e| panic!("stand-in: insert_organization: {e}"))
    }

    pub fn try_insert_organization(&self, body: Value) -> Result<Value, Error> {
        self.app.insert_organization(&body)
    }

    pub fn stats(&self) -> Stats {
        self.app.stats.snapshot()
    }

    pub fn reset_stats(&self) {
        self.app.stats.reset();
    }

    /// Stops accepting, closes every open connection (held "timeouts" included) and waits.
    pub async fn shutdown(self) {
        let _ = self.stop.send(true);
        if let Err(e) = self.task.await {
            tracing::warn!("stand-in server task ended abnormally: {e}");
        }
    }
}
