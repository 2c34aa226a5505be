//! Non-secret settings, stored as JSON by name.

use rusqlite::{OptionalExtension, params};

use super::{Result, Store};
use crate::settings::RemoteSettings;

const REMOTE: &str = "remote";
/// The last update check and what it found (see [`crate::update`]).
const UPDATE_CHECK: &str = "update_check";

impl Store {
    pub fn remote_settings(&self) -> Result<RemoteSettings> {
        let text: Option<String> =
            self.conn.query_row("SELECT value FROM settings WHERE name = ?1", [REMOTE], |r| r.get(0)).optional()?;
        // A document from another version that no longer parses falls back to defaults rather than blocking start-up.
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()).unwrap_or_default())
    }

    pub fn save_remote_settings(&mut self, settings: &RemoteSettings) -> Result<()> {
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            params![REMOTE, serde_json::to_string(settings).expect("settings always serialize")],
        )?;
        tx.commit()?;
        Ok(())
    }

    /// The last update check, if one was made (a document that no longer parses counts as none).
    pub fn update_check(&self) -> Result<Option<crate::update::UpdateCheck>> {
        let text: Option<String> = self
            .conn
            .query_row("SELECT value FROM settings WHERE name = ?1", [UPDATE_CHECK], |r| r.get(0))
            .optional()?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    pub fn remember_update_check(&mut self, check: &crate::update::UpdateCheck) -> Result<()> {
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            params![UPDATE_CHECK, serde_json::to_string(check).expect("an update check always serializes")],
        )?;
        tx.commit()?;
        Ok(())
    }
}
