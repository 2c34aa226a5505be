//! The IPC commands: each takes typed arguments (Tauri refuses a value of
//! the wrong shape before the command runs, and the window reports it as
//! `bad_request`), calls the core, and returns data or a structured error
//! `{kind, message, fields}`. No business rule lives here: what a user's
//! action does is in `partnerbook::app` or the store.
//!
//! Nothing that touches the database or the keychain runs on the window's
//! main thread: those commands are `#[tauri::command(async)]` (the async
//! runtime's threads) or `async` with the heavy part on a blocking thread
//! (import, export, sync), so the window never waits on a lock, a disk or a
//! keyring prompt to repaint.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::Ordering;

use partnerbook::app::export::ExportJob;
use partnerbook::app::settings::{ConnectionReport, Overlay, SettingsView};
use partnerbook::app::status::Status;
use partnerbook::app::{self, LastSync};
use partnerbook::export::{ExportOptions, OrganizationExportOptions, Progress};
use partnerbook::import::ImportReport;
use partnerbook::settings::RemoteSettingsDraft;
use partnerbook::store::{
    Conflict, Entity, OrganizationQuery, Organizations, OutboxEntry, Page, PartnerQuery, Partners, Resolution,
};
use partnerbook::{ErrorBody, ErrorKind, SyncState};
use partnerbook::{FieldError, Organization, OrganizationDraft, Partner, PartnerDraft};
use serde::Serialize;
use tauri::{Emitter, State};
use uuid::Uuid;

use crate::AppState;

/// What every command returns on failure; serialized as `{kind, message, fields}`.
#[derive(Debug, Serialize)]
#[serde(transparent)]
pub struct CommandError(ErrorBody);

impl<E: Into<ErrorBody>> From<E> for CommandError {
    fn from(e: E) -> Self {
        CommandError(e.into())
    }
}

type Result<T> = std::result::Result<T, CommandError>;

fn internal(what: &str, e: impl std::fmt::Display) -> CommandError {
    CommandError(ErrorBody::new(ErrorKind::Internal, format!("{what} stopped unexpectedly: {e}")))
}

/// The window has painted its first partner list: logs how long start-up took
/// (the `partnerbook-bench` start measurement waits for this line).
#[tauri::command]
pub fn window_ready(state: State<'_, AppState>, partners: u64) {
    if !state.ready_logged.swap(true, Ordering::SeqCst) {
        let after_ms = crate::started().elapsed().as_millis() as u64;
        tracing::info!(after_ms, partners, "partner list shown");
    }
}

#[tauri::command(async)]
pub fn list_partners(state: State<'_, AppState>, query: PartnerQuery) -> Result<Page<Partner>> {
    Ok(state.store().list_partners(&query)?)
}

#[tauri::command(async)]
pub fn get_partner(state: State<'_, AppState>, key: Uuid) -> Result<Partner> {
    Ok(state.store().get::<Partners>(key)?)
}

#[tauri::command]
pub fn validate_partner(draft: PartnerDraft) -> Vec<FieldError> {
    draft.validate_fields().err().map(|r| r.fields).unwrap_or_default()
}

/// Stored partners the form's name and email may duplicate (`key`: the
/// partner being edited, left out), asked as the user leaves either field.
#[tauri::command(async)]
pub fn possible_duplicates(
    state: State<'_, AppState>,
    company_name: String,
    email: String,
    key: Option<Uuid>,
) -> Result<Vec<partnerbook::store::PossibleDuplicate>> {
    Ok(state.store().possible_duplicates(&company_name, &email, key)?)
}

/// The same for the organization form, by name and billing email.
#[tauri::command(async)]
pub fn possible_duplicate_organizations(
    state: State<'_, AppState>,
    name: String,
    billing_email: String,
    key: Option<Uuid>,
) -> Result<Vec<partnerbook::store::PossibleDuplicate>> {
    Ok(state.store().possible_duplicate_organizations(&name, &billing_email, key)?)
}

#[tauri::command(async)]
pub fn create_partner(state: State<'_, AppState>, draft: PartnerDraft, target_org_id: Option<Uuid>) -> Result<Partner> {
    Ok(app::partners::create(&mut state.store(), &Overlay::default(), &draft, target_org_id)?)
}

#[tauri::command(async)]
pub fn update_partner(state: State<'_, AppState>, key: Uuid, draft: PartnerDraft) -> Result<Partner> {
    Ok(app::partners::update(&mut state.store(), key, &draft)?)
}

#[tauri::command(async)]
pub fn delete_partner(state: State<'_, AppState>, key: Uuid) -> Result<Partner> {
    Ok(app::partners::delete(&mut state.store(), key)?)
}

#[tauri::command(async)]
pub fn list_organizations(state: State<'_, AppState>, query: OrganizationQuery) -> Result<Page<Organization>> {
    Ok(state.store().list_organizations(&query)?)
}

#[tauri::command(async)]
pub fn get_organization(state: State<'_, AppState>, key: Uuid) -> Result<Organization> {
    Ok(state.store().get::<Organizations>(key)?)
}

#[tauri::command]
pub fn validate_organization(draft: OrganizationDraft) -> Vec<FieldError> {
    draft.validate_fields().err().map(|r| r.fields).unwrap_or_default()
}

#[tauri::command(async)]
pub fn create_organization(state: State<'_, AppState>, draft: OrganizationDraft) -> Result<Organization> {
    Ok(state.store().create_organization(&draft)?)
}

#[tauri::command(async)]
pub fn update_organization(state: State<'_, AppState>, key: Uuid, draft: OrganizationDraft) -> Result<Organization> {
    Ok(state.store().update_organization(key, &draft)?)
}

#[tauri::command(async)]
pub fn delete_organization(state: State<'_, AppState>, key: Uuid) -> Result<Organization> {
    Ok(state.store().delete::<Organizations>(key)?)
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

fn sync_config(state: &AppState) -> Result<partnerbook::sync::SyncConfig> {
    Ok(app::settings::sync_config(&state.store(), state.secrets.as_ref(), &Overlay::default())?)
}

/// The window's About: this build's version, its database schema and the database file.
#[tauri::command(async)]
pub fn about(state: State<'_, AppState>) -> app::about::About {
    app::about::about(&state.store())
}

#[tauri::command(async)]
pub fn status(state: State<'_, AppState>) -> Result<Status> {
    let config = sync_config(&state)?;
    Ok(app::status::status(&state.store(), &state.sync, &config)?)
}

/// Runs one sync on its own connection and thread (the store stays free for
/// the window meanwhile); a second call while one runs returns at once.
#[tauri::command]
pub async fn sync_now(state: State<'_, AppState>) -> Result<LastSync> {
    let config = sync_config(&state)?;
    let (runner, db) = (state.sync.clone(), state.db_path.clone());
    tauri::async_runtime::spawn_blocking(move || app::sync::sync_now(&runner, &db, &config))
        .await
        .map_err(|e| internal("Sync", e))?
        .map_err(CommandError)
}

/// The window's timer, a save, or focus: pushes at once what was saved, and
/// reads the central system only when the schedule says (see
/// `partnerbook::sync::cadence`); otherwise returns the last result.
#[tauri::command]
pub async fn sync_tick(state: State<'_, AppState>, occasion: app::sync::Occasion) -> Result<LastSync> {
    let config = sync_config(&state)?;
    if !app::sync::is_configured(&config) {
        return Ok(state.sync.last());
    }
    let (runner, db) = (state.sync.clone(), state.db_path.clone());
    tauri::async_runtime::spawn_blocking(move || runner.tick_blocking(&db, &config, occasion))
        .await
        .map_err(|e| internal("Sync", e))
}

/// The network went away or came back.
#[tauri::command]
pub fn network_changed(state: State<'_, AppState>, online: bool) {
    state.sync.network_changed(online);
}

/// "Try again" beside "Needs sign-in": lifts the pause and syncs now.
#[tauri::command]
pub async fn try_sign_in_again(state: State<'_, AppState>) -> Result<LastSync> {
    app::sync::try_again(&mut state.store())?;
    sync_now(state).await
}

/// Why this partner may not be changed here (its connected organization refused writes), if it may not.
#[tauri::command(async)]
pub fn partner_read_only(state: State<'_, AppState>, key: Uuid) -> Result<Option<String>> {
    match app::partners::writable(&state.store(), key) {
        Ok(()) => Ok(None),
        Err(partnerbook::store::StoreError::ReadOnly { reason, .. }) => Ok(Some(reason)),
        Err(e) => Err(e.into()),
    }
}

/// Open conflicts (fields changed here and on the server), for the user to settle.
#[tauri::command(async)]
pub fn conflicts(state: State<'_, AppState>) -> Result<Vec<Conflict>> {
    Ok(state.store().conflicts().unresolved()?)
}

/// Settles a record's conflicts field by field: `choices` maps a field to
/// `mine` or `theirs`; a field not listed keeps the local value.
#[tauri::command(async)]
pub fn resolve_conflicts(
    state: State<'_, AppState>,
    entity: Entity,
    key: Uuid,
    choices: HashMap<String, Resolution>,
) -> Result<SyncState> {
    Ok(state
        .store()
        .conflicts_mut()
        .resolve(entity, key, |field| choices.get(field).copied().unwrap_or(Resolution::Mine))?)
}

/// The changes waiting for the central API, oldest first, with their attempts and last error.
#[tauri::command(async)]
pub fn outbox(state: State<'_, AppState>) -> Result<Vec<OutboxEntry>> {
    Ok(state.store().outbox().all()?)
}

/// One record's waiting changes, oldest first: what its form says about them
/// (e.g. "waiting to confirm with the central system").
/// One page of the waiting changes (`filter`: waiting, refused or held; none
/// for all), with every filter's count, for the Sync screen's virtual list.
#[tauri::command(async)]
pub fn outbox_page(
    state: State<'_, AppState>,
    filter: Option<partnerbook::store::OutboxFilter>,
    limit: u32,
    offset: u64,
) -> Result<OutboxPage> {
    let store = state.store();
    Ok(OutboxPage { page: store.outbox().page(filter, limit, offset)?, counts: store.outbox().counts()? })
}

#[derive(serde::Serialize)]
pub struct OutboxPage {
    #[serde(flatten)]
    page: partnerbook::store::Page<OutboxEntry>,
    counts: partnerbook::store::OutboxCounts,
}

#[tauri::command(async)]
pub fn record_changes(state: State<'_, AppState>, entity: Entity, key: Uuid) -> Result<Vec<OutboxEntry>> {
    Ok(state.store().outbox().of(entity, key)?)
}

#[tauri::command(async)]
pub fn retry_change(state: State<'_, AppState>, seq: i64) -> Result<OutboxEntry> {
    Ok(state.store().outbox_mut().retry(seq)?)
}

/// Gives up a change (the window asks first): the record goes back to the server's version.
#[tauri::command(async)]
pub fn discard_change(state: State<'_, AppState>, seq: i64) -> Result<()> {
    Ok(state.store().outbox_mut().discard(seq)?)
}

#[tauri::command(async)]
pub fn get_settings(state: State<'_, AppState>) -> Result<SettingsView> {
    Ok(app::settings::load(&state.store(), state.secrets.as_ref())?)
}

#[tauri::command(async)]
pub fn save_settings(state: State<'_, AppState>, settings: RemoteSettingsDraft) -> Result<SettingsView> {
    Ok(app::settings::save(&mut state.store(), state.secrets.as_ref(), &settings)?)
}

#[tauri::command]
pub async fn test_connection(state: State<'_, AppState>) -> Result<ConnectionReport> {
    let settings = app::settings::effective(&state.store())?;
    Ok(app::settings::test_connection(&settings, state.secrets.as_ref()).await)
}

/// Where an export or import file is, as the save/open dialog gave it.
fn chosen(path: PathBuf) -> Result<PathBuf> {
    if path.as_os_str().is_empty() || path.to_string_lossy().trim().is_empty() {
        return Err(CommandError(ErrorBody::new(ErrorKind::BadRequest, "Choose a file first.")));
    }
    Ok(path)
}

/// Runs an export off the UI thread, telling the window its progress
/// (`export-progress`) so large lists show a bar; `cancel_export` stops it.
async fn run_export<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    job: ExportJob,
) -> Result<u64> {
    let db = state.db_path.clone();
    let cancel = state.export_cancel.clone();
    cancel.store(false, Ordering::SeqCst);
    tauri::async_runtime::spawn_blocking(move || {
        app::export::run(&db, &job, |p: Progress| {
            let _ = app.emit("export-progress", p);
            !cancel.load(Ordering::SeqCst)
        })
    })
    .await
    .map_err(|e| internal("The export", e))?
    .map_err(CommandError)
}

#[tauri::command]
pub async fn export_partners<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    query: PartnerQuery,
    options: ExportOptions,
    path: PathBuf,
) -> Result<u64> {
    run_export(app, state, ExportJob::Partners { query, options, path: chosen(path)? }).await
}

#[tauri::command]
pub async fn export_organizations<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    query: OrganizationQuery,
    options: OrganizationExportOptions,
    path: PathBuf,
) -> Result<u64> {
    run_export(app, state, ExportJob::Organizations { query, options, path: chosen(path)? }).await
}

/// Stops a running export; it leaves no file behind.
#[tauri::command]
pub fn cancel_export(state: State<'_, AppState>) {
    state.export_cancel.store(true, Ordering::SeqCst);
}

/// Checks, and unless `dry_run` imports, a file on its own connection and
/// thread, so the window answers meanwhile; reports progress
/// (`import-progress`); `cancel_import` stops it with nothing saved.
#[tauri::command]
pub async fn import_partners<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    path: PathBuf,
    dry_run: bool,
) -> Result<ImportReport> {
    let (db, path) = (state.db_path.clone(), chosen(path)?);
    let cancel = state.import_cancel.clone();
    cancel.store(false, Ordering::SeqCst);
    tauri::async_runtime::spawn_blocking(move || {
        app::import::run(&db, &path, dry_run, |p: Progress| {
            let _ = app.emit("import-progress", p);
            !cancel.load(Ordering::SeqCst)
        })
    })
    .await
    .map_err(|e| internal("The import", e))?
    .map_err(CommandError)
}

/// Stops a running import; nothing of it is saved.
#[tauri::command]
pub fn cancel_import(state: State<'_, AppState>) {
    state.import_cancel.store(true, Ordering::SeqCst);
}

/// The About section's update line.
#[derive(Debug, Serialize)]
pub struct UpdateView {
    pub status: partnerbook::update::UpdateStatus,
    pub sentence: String,
    pub checked_at: Option<chrono::DateTime<chrono::Utc>>,
    /// A verified update waits: the Install button shows.
    pub can_install: bool,
}

fn update_view(state: &AppState) -> Result<UpdateView> {
    use partnerbook::update::UpdateStatus;
    let store = state.store();
    let set_up = !app::settings::effective(&store)?.updates.address.is_empty();
    let last = store.update_check()?;
    drop(store);
    let can_install = state.pending_update.lock().unwrap_or_else(|p| p.into_inner()).is_some();
    let (status, checked_at) = match (set_up, last) {
        (false, _) => (UpdateStatus::NotSetUp, None),
        (true, None) => (UpdateStatus::NeverChecked, None),
        (true, Some(check)) => (check.status, Some(check.checked_at)),
    };
    let sentence = status.sentence(partnerbook::VERSION);
    Ok(UpdateView { status, sentence, checked_at, can_install })
}

/// Where updates stand, from the last check (no request is made).
#[tauri::command(async)]
pub fn update_status(state: State<'_, AppState>) -> Result<UpdateView> {
    update_view(&state)
}

/// Checks for an update when a day has passed since the last check, or at
/// once when `now` (the user's "Check now"); a newer version is downloaded
/// and verified before it is offered.
#[tauri::command]
pub async fn check_for_updates<R: tauri::Runtime>(
    app: tauri::AppHandle<R>,
    state: State<'_, AppState>,
    now: bool,
) -> Result<UpdateView> {
    use partnerbook::update::{UpdateCheck, check_address, check_due};
    let (address, last) = {
        let store = state.store();
        (app::settings::effective(&store)?.updates.address, store.update_check()?)
    };
    let Ok(Some(address)) = check_address(&address) else {
        return update_view(&state);
    };
    let holding = state.pending_update.lock().unwrap_or_else(|p| p.into_inner()).is_some();
    if !now && !check_due(last.as_ref(), holding, chrono::Utc::now()) {
        return update_view(&state);
    }
    let source = crate::updates::Source { address, root_certificate: None };
    let (status, verified) = crate::updates::check(&app, &source, crate::updates::installer()).await;
    *state.pending_update.lock().unwrap_or_else(|p| p.into_inner()) = verified;
    state.store().remember_update_check(&UpdateCheck { checked_at: chrono::Utc::now(), status })?;
    update_view(&state)
}

/// Installs the verified update, on the user's click only.
#[tauri::command]
pub async fn install_update(state: State<'_, AppState>) -> Result<String> {
    let verified = state.pending_update.lock().unwrap_or_else(|p| p.into_inner()).take();
    let Some(verified) = verified else {
        return Err(CommandError(ErrorBody::new(
            ErrorKind::NotFound,
            "No verified update is waiting; check for updates first.",
        )));
    };
    let version = verified.version().to_string();
    tauri::async_runtime::spawn_blocking(move || verified.install())
        .await
        .map_err(|e| internal("The update", e))?
        .map_err(|m| CommandError(ErrorBody::new(ErrorKind::Internal, m)))?;
    Ok(format!("Version {version} is installed; it starts the next time Partnerbook opens."))
}
