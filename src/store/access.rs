//! What the central system has refused this side, remembered until it can
//! work (migration 0014): an API whose sign-in was refused, and connected
//! organizations that refused a write. The store only keeps these rows; when
//! one stops applying is decided by the sync engine (`sync/access.rs`).

use std::ops::{Deref, DerefMut};

use chrono::{DateTime, Utc};
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use uuid::Uuid;

use super::{Entity, Result, Store};

/// An API paused because its sign-in was refused.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SignInPause {
    /// The records its API serves.
    pub api: Entity,
    pub reason: String,
    /// HMAC of the credentials that were refused (see [`Access::credentials_salt`]).
    #[serde(skip)]
    pub credentials_mac: String,
    pub paused_at: DateTime<Utc>,
    /// When one request may try again without anything having changed.
    pub probe_at: DateTime<Utc>,
}

/// A connected organization that refused a write to its partners.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ReadOnlyOrganization {
    pub org_id: Uuid,
    pub reason: String,
    /// HMAC of the credentials and sync settings in force when it refused.
    #[serde(skip)]
    pub settings_mac: String,
    pub since: DateTime<Utc>,
}

fn at(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

/// The name a list's totals are kept under: partners per organization (`None`: one's own).
pub fn list_name(entity: Entity, org: Option<Uuid>) -> String {
    match (entity, org) {
        (Entity::Partner, Some(org)) => format!("partner:{org}"),
        (Entity::Partner, None) => "partner:own".into(),
        (Entity::Organization, _) => "organization".into(),
    }
}

/// What the central system refused, borrowed from the store: `store.access()`
/// reads the pauses and read-only organizations, `store.access_mut()` records
/// and lifts them.
pub struct Access<S> {
    store: S,
}

impl Store {
    pub fn access(&self) -> Access<&Store> {
        Access { store: self }
    }

    pub fn access_mut(&mut self) -> Access<&mut Store> {
        Access { store: self }
    }
}

impl<S: Deref<Target = Store>> Access<S> {
    /// The salt, if one was made (a database that never synced has none).
    pub fn existing_credentials_salt(&self) -> Result<Option<Vec<u8>>> {
        let text: Option<String> = self
            .store
            .conn
            .query_row("SELECT value FROM settings WHERE name = 'credentials_salt'", [], |r| r.get(0))
            .optional()?;
        Ok(text.and_then(|h| hex::decode(h).ok()).filter(|s| s.len() == 32))
    }

    pub fn sign_in_pause(&self, api: Entity) -> Result<Option<SignInPause>> {
        Ok(self
            .store
            .conn
            .query_row(
                "SELECT reason, credentials_mac, paused_at_ms, probe_at_ms FROM sign_in_pauses WHERE api = ?1",
                [api.as_str()],
                |r| {
                    Ok(SignInPause {
                        api,
                        reason: r.get(0)?,
                        credentials_mac: r.get(1)?,
                        paused_at: at(r.get(2)?),
                        probe_at: at(r.get(3)?),
                    })
                },
            )
            .optional()?)
    }

    /// Every paused API, partners first.
    pub fn sign_in_pauses(&self) -> Result<Vec<SignInPause>> {
        let mut pauses = Vec::new();
        for api in [Entity::Partner, Entity::Organization] {
            pauses.extend(self.sign_in_pause(api)?);
        }
        Ok(pauses)
    }

    pub fn read_only_organizations(&self) -> Result<Vec<ReadOnlyOrganization>> {
        let mut statement = self.store.conn.prepare_cached(
            "SELECT org_id, reason, settings_mac, since_ms FROM read_only_organizations ORDER BY org_id",
        )?;
        let rows = statement.query_map([], |r| {
            let id: String = r.get(0)?;
            Ok((id, r.get(1)?, r.get(2)?, r.get(3)?))
        })?;
        let mut found = Vec::new();
        for row in rows {
            let (id, reason, settings_mac, since): (String, String, String, i64) = row?;
            // A row that is no id (written by hand) is no organization: skipped, not an error.
            if let Ok(org_id) = Uuid::parse_str(&id) {
                found.push(ReadOnlyOrganization { org_id, reason, settings_mac, since: at(since) });
            }
        }
        Ok(found)
    }

    /// Why this organization's partners may not be changed here, if they may not.
    pub fn read_only_reason(&self, org_id: Uuid) -> Result<Option<String>> {
        Ok(self
            .store
            .conn
            .query_row("SELECT reason FROM read_only_organizations WHERE org_id = ?1", [org_id.to_string()], |r| {
                r.get(0)
            })
            .optional()?)
    }
}

impl<S: DerefMut<Target = Store>> Access<S> {
    /// This database's random key for remembering credentials as HMACs,
    /// made on first use. A copy of the database file gives an attacker the
    /// salt too, so the HMAC only keeps secrets from being read back or
    /// matched against other databases' rows; it is no vault.
    pub fn credentials_salt(&mut self) -> Result<Vec<u8>> {
        if let Some(salt) = self.existing_credentials_salt()? {
            return Ok(salt);
        }
        let mut salt = [0u8; 32];
        getrandom::fill(&mut salt).map_err(|e| super::StoreError::Damaged(format!("no random numbers: {e}")))?;
        // Two processes may race to make it: the first one written wins, and both read it back.
        self.store.conn.execute(
            "INSERT INTO settings (name, value) VALUES ('credentials_salt', ?1) ON CONFLICT (name) DO NOTHING",
            [hex::encode(salt)],
        )?;
        Ok(self.existing_credentials_salt()?.unwrap_or(salt.to_vec()))
    }

    /// Pauses an API (or moves its probe on, when it was paused already and
    /// the probe failed too). The first pause's time is kept.
    pub fn pause_sign_in(&mut self, pause: &SignInPause) -> Result<()> {
        self.store.conn.execute(
            "INSERT INTO sign_in_pauses (api, reason, credentials_mac, paused_at_ms, probe_at_ms)
             VALUES (?1, ?2, ?3, ?4, ?5)
             ON CONFLICT (api) DO UPDATE SET reason = excluded.reason, credentials_mac = excluded.credentials_mac,
                 probe_at_ms = excluded.probe_at_ms",
            params![
                pause.api.as_str(),
                pause.reason,
                pause.credentials_mac,
                pause.paused_at.timestamp_millis(),
                pause.probe_at.timestamp_millis()
            ],
        )?;
        Ok(())
    }

    /// Lifts a pause ("Try again", or the credentials changed); whether there was one.
    pub fn lift_sign_in_pause(&mut self, api: Entity) -> Result<bool> {
        Ok(self.store.conn.execute("DELETE FROM sign_in_pauses WHERE api = ?1", [api.as_str()])? > 0)
    }

    pub fn mark_read_only(&mut self, org: &ReadOnlyOrganization) -> Result<()> {
        self.store.conn.execute(
            "INSERT INTO read_only_organizations (org_id, reason, settings_mac, since_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (org_id) DO UPDATE SET reason = excluded.reason, settings_mac = excluded.settings_mac",
            params![org.org_id.to_string(), org.reason, org.settings_mac, org.since.timestamp_millis()],
        )?;
        Ok(())
    }

    /// Forgets that an organization refused writes; whether it had.
    pub fn forget_read_only(&mut self, org_id: Uuid) -> Result<bool> {
        Ok(self.store.conn.execute("DELETE FROM read_only_organizations WHERE org_id = ?1", [org_id.to_string()])? > 0)
    }
}

impl Store {
    /// Records of this list known to the central system: linked and live
    /// here, or deleted here with the delete not yet taken there. Its
    /// changes follow the server's total for this side's own writes.
    pub fn linked_count(&self, entity: Entity, org: Option<Uuid>) -> Result<i64> {
        let sql = match entity {
            Entity::Partner => {
                "SELECT count(*) FROM partners p WHERE p.server_id IS NOT NULL AND p.target_org_id IS ?1
                   AND (p.deleted_at IS NULL OR EXISTS (SELECT 1 FROM outbox o
                        WHERE o.entity = 'partner' AND o.record_key = p.key AND o.op = 'delete'))"
            }
            Entity::Organization => {
                "SELECT count(*) FROM organizations g WHERE g.sync_base IS NOT NULL AND ?1 IS NULL
                   AND (g.deleted_at IS NULL OR EXISTS (SELECT 1 FROM outbox o
                        WHERE o.entity = 'organization' AND o.record_key = g.key AND o.op = 'delete'))"
            }
        };
        Ok(self.conn.query_row(sql, [org.map(|o| o.to_string())], |r| r.get(0))?)
    }

    /// What a list held at its last full read: the server's total and [`Self::linked_count`].
    pub fn list_totals(&self, list: &str) -> Result<Option<(i64, i64)>> {
        Ok(self
            .conn
            .query_row("SELECT server_total, local_linked FROM list_totals WHERE list = ?1", [list], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?)
    }

    pub fn remember_list_totals(&mut self, list: &str, server_total: i64, local_linked: i64) -> Result<()> {
        self.conn.execute(
            "INSERT INTO list_totals (list, server_total, local_linked) VALUES (?1, ?2, ?3)
             ON CONFLICT (list) DO UPDATE SET server_total = excluded.server_total, local_linked = excluded.local_linked",
            params![list, server_total, local_linked],
        )?;
        Ok(())
    }
}
