//! Where the database lives by default.

use std::path::PathBuf;

/// Shared with the desktop app's identifier, so the app and the CLI use one file.
pub const APP_IDENTIFIER: &str = "com.partnerbook.app";

/// Environment variable that overrides the database path.
pub const DB_ENV: &str = "PARTNERBOOK_DB";

/// The platform's app-data directory for Partnerbook
/// (`~/.local/share/com.partnerbook.app` on Linux, `~/Library/Application Support/...` on macOS,
/// `%APPDATA%\...` on Windows), the same one Tauri's `app_data_dir` gives the desktop app.
pub fn default_data_dir() -> Option<PathBuf> {
    directories::BaseDirs::new().map(|d| d.data_dir().join(APP_IDENTIFIER))
}

/// The database path: `explicit` (a `--db` flag) wins, then `PARTNERBOOK_DB`, then the app-data directory.
pub fn database_path(explicit: Option<PathBuf>) -> Option<PathBuf> {
    explicit
        .or_else(|| std::env::var_os(DB_ENV).filter(|v| !v.is_empty()).map(PathBuf::from))
        .or_else(|| default_data_dir().map(|d| d.join("partnerbook.db")))
}
