//! Non-secret settings, stored as JSON by name.

use rusqlite::{OptionalExtension, params};

use super::{Result, Store};
use crate::settings::RemoteSettings;

const REMOTE: &str = "remote";

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
}
