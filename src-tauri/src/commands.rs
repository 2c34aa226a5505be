//! The IPC commands: each parses its input, calls the core, and returns data or
//! a structured error `{kind, message, fields}`. No business rule lives here.

use std::sync::atomic::Ordering;

use partnerbook::export::{self, ExportError, ExportOptions, OrganizationExportOptions, Progress};
use partnerbook::import::{self, ImportError, ImportReport};
use partnerbook::remote::{self, ConnectionCheck};
use partnerbook::secrets::{Availability, SecretName, SecretStore};
use partnerbook::settings::{RemoteSettings, RemoteSettingsDraft};
use partnerbook::store::{Entity, OrganizationQuery, OutboxEntry, Page, PartnerQuery, Resolution};
use partnerbook::{ErrorBody, ErrorKind};
use partnerbook::{FieldError, Organization, OrganizationDraft, Partner, PartnerDraft, Store, StoreError};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tauri::{Emitter, State};
use uuid::Uuid;

use crate::AppState;
use partnerbook::app::LastSync;

/// What every command returns on failure; serialized as `{kind, message, fields}`.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct CommandError(ErrorBody);

impl From<StoreError> for CommandError {
    fn from(e: StoreError) -> Self {
        CommandError(ErrorBody::from(&e))
    }
}

impl CommandError {
    fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        CommandError(ErrorBody::new(kind, message))
    }
}

type Result<T> = std::result::Result<T, CommandError>;

/// Arguments arrive as raw JSON so that a value of the wrong type becomes a
/// clear `bad_request` error rather than Tauri's bare string.
fn parse<T: DeserializeOwned>(name: &str, value: Value) -> Result<T> {
    serde_json::from_value(value).map_err(|e| {
        CommandError::new(
            ErrorKind::BadRequest,
            format!("The app sent `{name}` in a shape Partnerbook does not understand: {e}."),
        )
    })
}

fn key(value: Value) -> Result<Uuid> {
    let text: String = parse("key", value)?;
    Uuid::parse_str(text.trim())
        .map_err(|_| CommandError::new(ErrorKind::BadRequest, format!("{text:?} is not a record key.")))
}

/// The window has painted its first partner list: logs how long start-up took
/// (the `partnerbook-bench` start measurement waits for this line).
#[tauri::command]
pub fn window_ready(state: State<'_, AppState>, partners: Value) -> Result<()> {
    let partners: u64 = parse("partners", partners)?;
    if !state.ready_logged.swap(true, Ordering::SeqCst) {
        let after_ms = crate::started().elapsed().as_millis() as u64;
        tracing::info!(after_ms, partners, "partner list shown");
    }
    Ok(())
}

#[tauri::command]
pub fn list_partners(state: State<'_, AppState>, query: Value) -> Result<Page<Partner>> {
    let query: PartnerQuery = parse("query", query)?;
    Ok(state.store().list_partners(&query)?)
}

#[tauri::command]
pub fn get_partner(state: State<'_, AppState>, key: Value) -> Result<Partner> {
    Ok(state.store().partner(self::key(key)?)?)
}

#[tauri::command]
pub fn validate_partner(draft: Value) -> Result<Vec<FieldError>> {
    let draft: PartnerDraft = parse("draft", draft)?;
    Ok(draft.validate_fields().err().map(|r| r.fields).unwrap_or_default())
}

#[tauri::command]
pub fn create_partner(state: State<'_, AppState>, draft: Value, target_org_id: Option<Value>) -> Result<Partner> {
    let draft: PartnerDraft = parse("draft", draft)?;
    let target: Option<Uuid> = match target_org_id {
        None | Some(Value::Null) => None,
        Some(v) => Some(key(v)?),
    };
    Ok(state.store().create_partner(&draft, target)?)
}

#[tauri::command]
pub fn update_partner(state: State<'_, AppState>, key: Value, draft: Value) -> Result<Partner> {
    let draft: PartnerDraft = parse("draft", draft)?;
    Ok(state.store().update_partner(self::key(key)?, &draft)?)
}

#[tauri::command]
pub fn delete_partner(state: State<'_, AppState>, key: Value) -> Result<Partner> {
    Ok(state.store().delete_partner(self::key(key)?)?)
}

#[tauri::command]
pub fn list_organizations(state: State<'_, AppState>, query: Value) -> Result<Page<Organization>> {
    let query: OrganizationQuery = parse("query", query)?;
    Ok(state.store().list_organizations(&query)?)
}

#[tauri::command]
pub fn get_organization(state: State<'_, AppState>, key: Value) -> Result<Organization> {
    Ok(state.store().organization(self::key(key)?)?)
}

#[tauri::command]
pub fn validate_organization(draft: Value) -> Result<Vec<FieldError>> {
    let draft: OrganizationDraft = parse("draft", draft)?;
    Ok(draft.validate_fields().err().map(|r| r.fields).unwrap_or_default())
}

#[tauri::command]
pub fn create_organization(state: State<'_, AppState>, draft: Value) -> Result<Organization> {
    let draft: OrganizationDraft = parse("draft", draft)?;
    Ok(state.store().create_organization(&draft)?)
}

#[tauri::command]
pub fn update_organization(state: State<'_, AppState>, key: Value, draft: Value) -> Result<Organization> {
    let draft: OrganizationDraft = parse("draft", draft)?;
    Ok(state.store().update_organization(self::key(key)?, &draft)?)
}

#[tauri::command]
pub fn delete_organization(state: State<'_, AppState>, key: Value) -> Result<Organization> {
    Ok(state.store().delete_organization(self::key(key)?)?)
}

#[derive(Serialize)]
pub struct Country {
    code: &'static str,
    name: &'static str,
}

#[tauri::command]
pub fn countries() -> Vec<Country> {
    partnerbook::countries().into_iter().map(|(code, name)| Country { code, name }).collect()
}

#[derive(Serialize)]
pub struct Status {
    pending_changes: u64,
    oldest_pending_change: Option<chrono::DateTime<chrono::Utc>>,
    last_sync_at: Option<chrono::DateTime<chrono::Utc>>,
    next_retry_at: Option<chrono::DateTime<chrono::Utc>>,
    sync_configured: bool,
    syncing: bool,
    open_conflicts: usize,
    message: String,
}

#[tauri::command]
pub fn status(state: State<'_, AppState>) -> Result<Status> {
    let store = state.store();
    let (pending_changes, oldest_pending_change) = store.outbox_summary()?;
    let next_retry_at = store.next_retry_at(chrono::Utc::now(), &[])?;
    let open_conflicts = store.conflicts()?.len();
    let settings = store.remote_settings()?;
    drop(store);
    let config = sync_config(&state, &settings);
    let last = state.sync.last();
    let message = if config.partners.is_none() && config.organizations.is_none() {
        "Sync is not set up: enter the central API in Settings. Every change is kept here meanwhile.".to_string()
    } else {
        last.message.clone()
    };
    Ok(Status {
        pending_changes,
        oldest_pending_change,
        last_sync_at: last.last_success,
        next_retry_at,
        sync_configured: config.partners.is_some() || config.organizations.is_some(),
        syncing: state.sync.is_running(),
        open_conflicts,
        message,
    })
}

fn sync_config(state: &AppState, settings: &RemoteSettings) -> partnerbook::sync::SyncConfig {
    let secret = |name| state.secrets.get(name).ok().flatten();
    settings.sync_config(secret(SecretName::PartnersClientSecret), secret(SecretName::OrganizationsApiKey))
}

/// Runs one sync on its own connection and thread (the store stays free for
/// the window meanwhile); a second call while one runs returns at once.
#[tauri::command]
pub async fn sync_now(state: State<'_, AppState>) -> Result<LastSync> {
    let settings = state.store().remote_settings()?;
    let config = sync_config(&state, &settings);
    if config.partners.is_none() && config.organizations.is_none() {
        return Err(CommandError::new(
            ErrorKind::NotConfigured,
            "Sync is not set up: enter the central API in Settings. Every change is kept here meanwhile.",
        ));
    }
    let (runner, db) = (state.sync.clone(), state.db_path.clone());
    tauri::async_runtime::spawn_blocking(move || runner.run_blocking(&db, &config))
        .await
        .map_err(|e| CommandError::new(ErrorKind::Internal, format!("Sync stopped unexpectedly: {e}")))
}

/// Open conflicts (fields changed here and on the server), for the user to settle.
#[tauri::command]
pub fn conflicts(state: State<'_, AppState>) -> Result<Vec<partnerbook::store::Conflict>> {
    Ok(state.store().conflicts()?)
}

/// Settles a record's conflicts field by field: `choices` maps a field to
/// `mine` or `theirs`; a field not listed keeps the local value.
#[tauri::command]
pub fn resolve_conflicts(
    state: State<'_, AppState>,
    entity: Value,
    key: Value,
    choices: Value,
) -> Result<partnerbook::SyncState> {
    let entity: Entity = parse("entity", entity)?;
    let choices: std::collections::HashMap<String, Resolution> = parse("choices", choices)?;
    let key = self::key(key)?;
    Ok(state.store().resolve_conflicts(entity, key, |field| choices.get(field).copied().unwrap_or(Resolution::Mine))?)
}

/// The changes waiting for the central API, oldest first, with their attempts and last error.
#[tauri::command]
pub fn outbox(state: State<'_, AppState>) -> Result<Vec<OutboxEntry>> {
    Ok(state.store().outbox()?)
}

#[tauri::command]
pub fn retry_change(state: State<'_, AppState>, seq: Value) -> Result<OutboxEntry> {
    let seq: i64 = parse("seq", seq)?;
    Ok(state.store().retry_change(seq)?)
}

/// Gives up a change (the window asks first): the record goes back to the server's version.
#[tauri::command]
pub fn discard_change(state: State<'_, AppState>, seq: Value) -> Result<()> {
    let seq: i64 = parse("seq", seq)?;
    Ok(state.store().discard_change(seq)?)
}

#[derive(Serialize)]
pub struct PartnersSettingsView {
    #[serde(flatten)]
    settings: partnerbook::settings::PartnersApiSettings,
    has_client_secret: bool,
}

#[derive(Serialize)]
pub struct OrganizationsSettingsView {
    #[serde(flatten)]
    settings: partnerbook::settings::OrganizationsApiSettings,
    has_api_key: bool,
}

/// Settings as the screen shows them: never the secrets, only whether they are set.
#[derive(Serialize)]
pub struct SettingsView {
    partners: PartnersSettingsView,
    organizations: OrganizationsSettingsView,
    keychain: Availability,
}

fn has_secret(secrets: &dyn SecretStore, name: SecretName) -> bool {
    secrets.get(name).ok().flatten().is_some_and(|s| !s.is_empty())
}

fn settings_view(settings: RemoteSettings, secrets: &dyn SecretStore) -> SettingsView {
    SettingsView {
        partners: PartnersSettingsView {
            settings: settings.partners,
            has_client_secret: has_secret(secrets, SecretName::PartnersClientSecret),
        },
        organizations: OrganizationsSettingsView {
            settings: settings.organizations,
            has_api_key: has_secret(secrets, SecretName::OrganizationsApiKey),
        },
        keychain: secrets.availability(),
    }
}

#[tauri::command]
pub fn get_settings(state: State<'_, AppState>) -> Result<SettingsView> {
    let settings = state.store().remote_settings()?;
    Ok(settings_view(settings, state.secrets.as_ref()))
}

#[tauri::command]
pub fn save_settings(state: State<'_, AppState>, settings: Value) -> Result<SettingsView> {
    let draft: RemoteSettingsDraft = parse("settings", settings)?;
    let valid = draft.validate().map_err(StoreError::Invalid)?;
    let secrets = state.secrets.as_ref();
    for (field, name, value) in [
        ("partners.client_secret", SecretName::PartnersClientSecret, &draft.partners.client_secret),
        ("organizations.api_key", SecretName::OrganizationsApiKey, &draft.organizations.api_key),
    ] {
        let outcome = match value.as_deref().map(str::trim) {
            None => Ok(()),
            Some("") => secrets.delete(name),
            Some(secret) => secrets.set(name, secret),
        };
        outcome.map_err(|e| {
            CommandError(ErrorBody {
                kind: ErrorKind::Validation,
                message: "The settings were not saved.".into(),
                fields: vec![FieldError { field: field.into(), code: "keychain".into(), message: e.to_string() }],
            })
        })?;
    }
    state.store().save_remote_settings(&valid)?;
    Ok(settings_view(valid, secrets))
}

#[derive(Serialize)]
pub struct ConnectionReport {
    partners: ConnectionCheck,
    organizations: ConnectionCheck,
}

#[tauri::command]
pub async fn test_connection(state: State<'_, AppState>) -> Result<ConnectionReport> {
    let settings = state.store().remote_settings()?;
    let secret = |name| state.secrets.get(name).ok().flatten();
    let (client_secret, api_key) = (secret(SecretName::PartnersClientSecret), secret(SecretName::OrganizationsApiKey));
    let client = remote::http_client();
    let (partners, organizations) = tokio::join!(
        remote::check_partners(&client, &settings.partners, client_secret.as_deref()),
        remote::check_organizations(&client, &settings.organizations, api_key.as_deref()),
    );
    Ok(ConnectionReport { partners, organizations })
}

/// Where an export or import file is, as the save/open dialog gave it.
fn file_path(value: Value) -> Result<std::path::PathBuf> {
    let text: String = parse("path", value)?;
    if text.trim().is_empty() {
        return Err(CommandError::new(ErrorKind::BadRequest, "Choose a file first."));
    }
    Ok(std::path::PathBuf::from(text))
}

/// Runs an export on its own connection, off the UI thread, telling the
/// window its progress (`export-progress`) so large lists show a bar.
async fn run_export<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    export: impl FnOnce(&Store, &mut dyn FnMut(Progress) -> bool) -> std::result::Result<u64, ExportError> + Send + 'static,
) -> Result<u64> {
    let db = state.db_path.clone();
    let cancel = state.export_cancel.clone();
    cancel.store(false, Ordering::SeqCst);
    tauri::async_runtime::spawn_blocking(move || {
        let store = Store::open(&db)?;
        export(&store, &mut |p: Progress| {
            let _ = app.emit("export-progress", p);
            !cancel.load(Ordering::SeqCst)
        })
        .map_err(|e: ExportError| CommandError(ErrorBody::from(&e)))
    })
    .await
    .map_err(|e| CommandError::new(ErrorKind::Internal, format!("The export stopped unexpectedly: {e}")))?
}

#[tauri::command]
pub async fn export_partners<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    query: Value,
    options: Value,
    path: Value,
) -> Result<u64> {
    let query: PartnerQuery = parse("query", query)?;
    let options: ExportOptions = parse("options", options)?;
    let path = file_path(path)?;
    run_export(app, state, move |store, progress| export::export_partners(store, &query, &options, &path, progress))
        .await
}

#[tauri::command]
pub async fn export_organizations<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    query: Value,
    options: Value,
    path: Value,
) -> Result<u64> {
    let query: OrganizationQuery = parse("query", query)?;
    let options: OrganizationExportOptions = parse("options", options)?;
    let path = file_path(path)?;
    run_export(app, state, move |store, progress| {
        export::export_organizations(store, &query, &options, &path, progress)
    })
    .await
}

/// Stops a running export; it leaves no file behind.
#[tauri::command]
pub fn cancel_export(state: State<'_, AppState>) {
    state.export_cancel.store(true, Ordering::SeqCst);
}

#[tauri::command]
pub fn import_partners(state: State<'_, AppState>, path: Value, dry_run: Value) -> Result<ImportReport> {
    let path = file_path(path)?;
    let dry_run: bool = parse("dryRun", dry_run)?;
    import::import_partners(&mut state.store(), &path, dry_run, None)
        .map_err(|e: ImportError| CommandError(ErrorBody::from(&e)))
}
