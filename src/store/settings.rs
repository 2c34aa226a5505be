//! Non-secret settings, stored as JSON by name.

use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde::de::DeserializeOwned;

use super::{Result, Store};
use crate::settings::RemoteSettings;

const REMOTE: &str = "remote";
/// The last update check and what it found (see [`crate::update`]).
const UPDATE_CHECK: &str = "update_check";

impl Store {
    pub fn remote_settings(&self) -> Result<RemoteSettings> {
        // A document from another version that no longer parses falls back to defaults rather than blocking start-up.
        Ok(self.document(REMOTE)?.unwrap_or_default())
    }

    pub fn save_remote_settings(&mut self, settings: &RemoteSettings) -> Result<()> {
        self.save_document(REMOTE, settings)
    }

    /// The last update check, if one was made (a document that no longer parses counts as none).
    pub fn update_check(&self) -> Result<Option<crate::update::UpdateCheck>> {
        self.document(UPDATE_CHECK)
    }

    pub fn remember_update_check(&mut self, check: &crate::update::UpdateCheck) -> Result<()> {
        self.save_document(UPDATE_CHECK, check)
    }

    /// The JSON document saved under `name`; none if absent or no longer parseable.
    fn document<T: DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        let text: Option<String> =
            self.conn.query_row("SELECT value FROM settings WHERE name = ?1", [name], |r| r.get(0)).optional()?;
        Ok(text.and_then(|t| serde_json::from_str(&t).ok()))
    }

    fn save_document(&mut self, name: &str, value: &impl Serialize) -> Result<()> {
        let tx = self.write()?;
        tx.execute(
            "INSERT INTO settings (name, value) VALUES (?1, ?2) ON CONFLICT (name) DO UPDATE SET value = excluded.value",
            params![name, serde_json::to_string(value).expect("settings documents always serialize")],
        )?;
        tx.commit()?;
        Ok(())
    }
}
