//! Partnerbook's desktop shell: opens the store, registers the commands, and
//! hands the window the static `ui/` folder. Everything else is in the core.

pub mod commands;
pub mod updates;

use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Instant;

use partnerbook::Store;
use partnerbook::app::SyncRunner;
use partnerbook::secrets::{CachedSecrets, KeychainSecrets, MemorySecrets, SecretStore};
use tauri::{Manager, Runtime};

/// Registers the commands the window may call; build.rs declares the same
/// list so that the capability file really gates them.
pub fn with_commands<R: Runtime>(builder: tauri::Builder<R>) -> tauri::Builder<R> {
    builder.invoke_handler(tauri::generate_handler![
        commands::window_ready,
        commands::list_partners,
        commands::get_partner,
        commands::validate_partner,
        commands::possible_duplicates,
        commands::possible_duplicate_organizations,
        commands::create_partner,
        commands::update_partner,
        commands::delete_partner,
        commands::list_organizations,
        commands::get_organization,
        commands::validate_organization,
        commands::create_organization,
        commands::update_organization,
        commands::delete_organization,
        commands::countries,
        commands::status,
        commands::about,
        commands::sync_now,
        commands::sync_tick,
        commands::network_changed,
        commands::try_sign_in_again,
        commands::partner_read_only,
        commands::get_settings,
        commands::save_settings,
        commands::test_connection,
        commands::export_partners,
        commands::export_organizations,
        commands::cancel_export,
        commands::import_partners,
        commands::cancel_import,
        commands::conflicts,
        commands::resolve_conflicts,
        commands::outbox,
        commands::outbox_page,
        commands::retry_change,
        commands::discard_change,
        commands::record_changes,
        commands::update_status,
        commands::check_for_updates,
        commands::install_update,
    ])
}

pub struct AppState {
    store: Mutex<Store>,
    pub secrets: Box<dyn SecretStore>,
    /// The database file, for work that reads on its own connection (exports).
    pub db_path: PathBuf,
    /// Set by `cancel_export`; the running export stops at its next progress tick.
    pub export_cancel: Arc<AtomicBool>,
    /// Set by `cancel_import`; the running import checks it between chunks of rows.
    pub import_cancel: Arc<AtomicBool>,
    /// Syncs, one at a time, and the last result.
    pub sync: Arc<SyncRunner>,
    /// `window_ready` logs the start-up time once.
    pub ready_logged: AtomicBool,
    /// A downloaded, verified update waiting for the user's click.
    pub pending_update: Mutex<Option<updates::Verified>>,
}

impl AppState {
    pub fn new(store: Store, db_path: PathBuf, secrets: Box<dyn SecretStore>) -> Self {
        AppState {
            ready_logged: AtomicBool::new(false),
            store: Mutex::new(store),
            secrets,
            db_path,
            export_cancel: Arc::default(),
            import_cancel: Arc::default(),
            // IT's managed file may set how often the central system is read.
            sync: Arc::new(SyncRunner::with_policy(partnerbook::app::settings::managed().cadence())),
            pending_update: Mutex::default(),
        }
    }

    /// The store; a panic in another command must not lock the user out
    /// (each store call is its own transaction, so the data stays consistent).
    pub fn store(&self) -> MutexGuard<'_, Store> {
        self.store.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The database file: `PARTNERBOOK_DB`, else the app-data directory shared with the CLI.
fn database_path(app: &tauri::App) -> PathBuf {
    partnerbook::paths::database_path(None)
        .or_else(|| app.path().app_data_dir().ok().map(|d| d.join("partnerbook.db")))
        .unwrap_or_else(|| PathBuf::from("partnerbook.db"))
}

/// Secrets go to the OS keychain unless `PARTNERBOOK_SECRETS=memory` (demos, tests).
fn secret_store() -> Box<dyn SecretStore> {
    match std::env::var("PARTNERBOOK_SECRETS").as_deref() {
        Ok("memory") => Box::new(MemorySecrets::default()),
        // Read once and kept (see CachedSecrets): no unlock prompt every few seconds.
        _ => Box::new(CachedSecrets::new(KeychainSecrets::default())),
    }
}

/// The start of `run`, the nearest the process can see of its own start.
static STARTED: OnceLock<Instant> = OnceLock::new();

/// When the app started (the first call, if `run` did not: the mock-runtime tests).
pub fn started() -> Instant {
    *STARTED.get_or_init(Instant::now)
}

pub fn run() {
    started();
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("PARTNERBOOK_LOG").unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();

    with_commands(tauri::Builder::default())
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            if let Some(window) = app.get_webview_window("main") {
                let _ = window.unminimize();
                let _ = window.show();
                let _ = window.set_focus();
            }
        }))
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .plugin(tauri_plugin_dialog::init())
        // The public key and requireSignedVersion come from tauri.conf.json; the address from Settings.
        .plugin(tauri_plugin_updater::Builder::new().build())
        .setup(|app| {
            let path = database_path(app);
            let store = Store::open(&path).map_err(|e| {
                tracing::error!(path = %path.display(), "cannot open the database: {e}");
                e
            })?;
            app.manage(AppState::new(store, path, secret_store()));
            Ok(())
        })
        .run(tauri::generate_context!())
        .expect("the Partnerbook window could not start");
}
