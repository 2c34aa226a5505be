//! The `partnerbook` command: parses arguments, calls the core, prints results.

pub mod args;
mod print;
mod sync;

use std::path::PathBuf;
use std::process::ExitCode;

use partnerbook::app;
use partnerbook::app::export::ExportJob;
use partnerbook::app::settings::Overlay;
use partnerbook::export::{ExportOptions, OrganizationExportOptions, Progress};
use partnerbook::store::{
    OrganizationFilter, OrganizationQuery, Organizations, PartnerQuery, PartnerSort, Partners, Resolution,
};
use partnerbook::{
    Contact, FieldError, LocationDraft, OrganizationDraft, PartnerDraft, PartnerPatch, Store, StoreError, SyncState,
    ValidationReport,
};
use partnerbook::{ErrorBody, ErrorKind};
use uuid::Uuid;

use args::*;

/// Errors of the command-line layer, each with its exit code.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Invalid(ValidationReport),
    #[error("{0}")]
    Usage(String),
    #[error("Could not read {}: {source}", path.display())]
    Read { path: PathBuf, source: std::io::Error },
    #[error(transparent)]
    Import(partnerbook::import::ImportError),
    #[error("No database path: set --db or PARTNERBOOK_DB (the platform has no app-data directory).")]
    NoDatabasePath,
    #[error(transparent)]
    Sync(#[from] partnerbook::sync::SyncFailure),
    /// A failure the app layer already put in the common vocabulary.
    #[error("{}", .0.message)]
    Body(ErrorBody),
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Invalid(_) | CliError::Store(StoreError::Invalid(_)) => 3,
            CliError::Store(StoreError::NotFound { .. } | StoreError::Ambiguous { .. }) => 4,
            CliError::Usage(_) => 2,
            CliError::Body(b) if b.kind == ErrorKind::Usage => 2,
            CliError::Body(b) if b.kind == ErrorKind::Validation => 3,
            CliError::Body(b) if matches!(b.kind, ErrorKind::NotFound | ErrorKind::Ambiguous) => 4,
            CliError::Body(b) if b.kind == ErrorKind::SendingElsewhere => 5,
            _ => 1,
        }
    }

    fn body(&self) -> ErrorBody {
        match self {
            CliError::Store(e) => e.into(),
            CliError::Invalid(report) => (&StoreError::Invalid(report.clone())).into(),
            CliError::Usage(m) => ErrorBody::new(ErrorKind::Usage, m.clone()),
            CliError::Import(e) => e.into(),
            CliError::Sync(e) => e.into(),
            CliError::Body(body) => body.clone(),
            CliError::Read { .. } | CliError::NoDatabasePath => ErrorBody::new(ErrorKind::Io, self.to_string()),
        }
    }

    /// Reports the error on stderr: JSON (`{"error": {kind, message, fields}}`) or words.
    pub fn report(&self, json: bool) -> ExitCode {
        if json {
            eprintln!("{}", serde_json::json!({ "error": self.body() }));
        } else {
            match self {
                CliError::Store(StoreError::Invalid(r)) | CliError::Invalid(r) => {
                    eprintln!("Not saved: {r}");
                }
                other => eprintln!("Error: {other}"),
            }
        }
        ExitCode::from(self.exit_code())
    }
}

type Result<T> = std::result::Result<T, CliError>;

pub fn run(cli: Cli) -> Result<()> {
    let json = cli.json;
    let path = partnerbook::paths::database_path(cli.db).ok_or(CliError::NoDatabasePath)?;
    let mut store = Store::open(&path)?;
    match cli.command {
        Command::Partner(cmd) => partner(&mut store, cmd, json),
        Command::Org(cmd) => org(&mut store, cmd, json),
        Command::Outbox(OutboxCommand::List) => {
            print::outbox(&store.outbox().all()?, json);
            Ok(())
        }
        Command::Info => {
            print::info(&store, json)?;
            Ok(())
        }
        Command::Sync(a) => sync::run(&mut store, a, json),
        Command::Doctor => {
            let raised = store.conflicts_mut().check_for_twins()?;
            if json {
                println!("{}", serde_json::json!({ "twins_on_server": raised }));
            } else if raised == 0 {
                println!("No partner is stored twice.");
            } else {
                println!(
                    "{raised} partner{} stored twice: see `partnerbook conflicts` (kind twin_on_server).",
                    if raised == 1 { " is" } else { "s are" }
                );
            }
            Ok(())
        }
        Command::Conflicts => {
            print::conflicts(&store.conflicts().unresolved()?, json);
            Ok(())
        }
        Command::Resolve { key, mine, theirs: _ } => {
            let (entity, key) = match store.resolve_key::<Partners>(&key) {
                Ok(k) => (partnerbook::store::Entity::Partner, k),
                Err(_) => (partnerbook::store::Entity::Organization, store.resolve_key::<Organizations>(&key)?),
            };
            let choice = if mine { Resolution::Mine } else { Resolution::Theirs };
            let state = store.conflicts_mut().resolve(entity, key, |_| choice)?;
            if json {
                println!("{}", serde_json::json!({"key": key, "sync_state": state}));
            } else {
                println!("Resolved; the record is now {}.", state.as_str());
            }
            Ok(())
        }
    }
}

fn partner(store: &mut Store, cmd: PartnerCommand, json: bool) -> Result<()> {
    match cmd {
        PartnerCommand::Add { fields, target_org } => {
            let draft = PartnerDraft {
                company_name: fields.company_name.unwrap_or_default(),
                sales_amount: fields.sales_amount.unwrap_or_default(),
                partner_type: fields.partner_type.unwrap_or_default(),
                email: fields.email.unwrap_or_default(),
                frequency: fields.frequency.unwrap_or_default(),
                payment_terms: fields.payment_terms.unwrap_or_default(),
            };
            // Check the target organization with the fields, so one run lists every problem.
            let target = match target_org.as_deref().map(|t| Uuid::parse_str(t.trim())) {
                Some(Err(_)) => {
                    let mut report = draft.validate_fields().err().unwrap_or(ValidationReport { fields: vec![] });
                    report.fields.push(FieldError {
                        field: "target_org_id".into(),
                        code: "invalid_uuid".into(),
                        message: "Target organization must be an organization ID like \
                                  3c90c3cc-0d44-4b50-8888-8dd25736052a."
                            .into(),
                    });
                    return Err(CliError::Invalid(report));
                }
                parsed => parsed.and_then(|t| t.ok()),
            };
            let overlay = Overlay::from_env().map_err(CliError::Body)?;
            let partner = app::partners::create(store, &overlay, &draft, target)?;
            print::partner_saved(&partner, "Added", json);
        }
        PartnerCommand::Export(a) => export(store, a, json)?,
        PartnerCommand::Import { file, dry_run, rejects } => {
            let report = partnerbook::import::import_partners(store, &file, dry_run, rejects.as_deref())
                .map_err(CliError::Import)?;
            print::import_report(&report, dry_run, json);
        }
        PartnerCommand::List(a) => {
            let query = PartnerQuery {
                sync_state: parse_state(a.sync_state)?,
                paging: a.page.into(),
                sort: match a.sort {
                    PartnerSortArg::CompanyName => PartnerSort::CompanyName,
                    PartnerSortArg::Email => PartnerSort::Email,
                    PartnerSortArg::SalesAmount => PartnerSort::SalesAmount,
                    PartnerSortArg::Created => PartnerSort::CreatedAt,
                    PartnerSortArg::Updated => PartnerSort::UpdatedAt,
                },
                ..partner_query(a.filter)?
            };
            print::partners(&store.list_partners(&query)?, json);
        }
        PartnerCommand::Show { id } => {
            let key = store.resolve_key::<Partners>(&id)?;
            print::partner(&store.get::<Partners>(key)?, json);
        }
        PartnerCommand::Edit { id, fields } => {
            let key = store.resolve_key::<Partners>(&id)?;
            let patch = PartnerPatch {
                company_name: fields.company_name,
                sales_amount: fields.sales_amount,
                partner_type: fields.partner_type,
                email: fields.email,
                frequency: fields.frequency,
                payment_terms: fields.payment_terms,
            };
            if patch.is_empty() {
                return Err(CliError::Usage("Nothing to change: give at least one field, e.g. --email.".into()));
            }
            let partner = partnerbook::app::partners::edit(store, key, &patch)?;
            print::partner_saved(&partner, "Saved", json);
        }
        PartnerCommand::Delete { id } => {
            let key = store.resolve_key::<Partners>(&id)?;
            let partner = partnerbook::app::partners::delete(store, key)?;
            print::partner_saved(&partner, "Deleted", json);
        }
    }
    Ok(())
}

/// The partners a filter selects (the rest of the query at its defaults).
fn partner_query(f: PartnerFilterArgs) -> Result<PartnerQuery> {
    Ok(PartnerQuery {
        search: f.search,
        partner_type: f.partner_type.map(|t| t.trim().to_lowercase().parse()).transpose().map_err(CliError::Usage)?,
        organization: match f.target_org.as_deref().map(str::trim) {
            None => None,
            Some("own") => Some(OrganizationFilter::Own),
            Some(t) => Some(OrganizationFilter::Connected(
                Uuid::parse_str(t).map_err(|e| CliError::Usage(format!("--target-org: {e}")))?,
            )),
        },
        ..PartnerQuery::default()
    })
}

/// The organizations a filter selects (the rest of the query at its defaults).
fn org_query(f: OrgFilterArgs) -> Result<OrganizationQuery> {
    Ok(OrganizationQuery {
        search: f.search,
        org_type: f.org_type.map(|t| t.trim().parse()).transpose().map_err(CliError::Usage)?,
        country: f.country,
        ..OrganizationQuery::default()
    })
}

/// `partner export`: what `partner list` would show, to a file, with progress on a terminal.
fn export(store: &Store, a: PartnerExportArgs, json: bool) -> Result<()> {
    let query = PartnerQuery { sync_state: parse_state(a.state)?, ..partner_query(a.filter)? };
    let options = ExportOptions {
        format: a.file.format.parse().map_err(CliError::Usage)?,
        columns: parse_columns(&a.columns)?,
        sync_state: a.file.sync_state,
        semicolon: a.file.semicolon,
        bom: a.file.bom,
    };
    with_progress(store, ExportJob::Partners { query, options, path: a.file.out }, json, "partner")
}

/// `--columns a,b,c` as typed columns (blanks skipped), or a usage error naming the allowed ones.
fn parse_columns<C: std::str::FromStr<Err = String>>(names: &[String]) -> Result<Vec<C>> {
    names.iter().map(|c| c.trim()).filter(|c| !c.is_empty()).map(|c| c.parse().map_err(CliError::Usage)).collect()
}

/// `org export`: what `org list` would show, with contacts as columns or rows.
fn export_orgs(store: &Store, a: OrgExportArgs, json: bool) -> Result<()> {
    let query = OrganizationQuery { sync_state: parse_state(a.state)?, ..org_query(a.filter)? };
    let options = OrganizationExportOptions {
        format: a.file.format.parse().map_err(CliError::Usage)?,
        columns: parse_columns(&a.columns)?,
        contacts: a.contacts.parse().map_err(CliError::Usage)?,
        sync_state: a.file.sync_state,
        semicolon: a.file.semicolon,
        bom: a.file.bom,
    };
    with_progress(store, ExportJob::Organizations { query, options, path: a.file.out }, json, "organization")
}

/// Runs an export, showing progress when stderr is a terminal, then says what was written.
fn with_progress(store: &Store, job: ExportJob, json: bool, noun: &str) -> Result<()> {
    use std::io::IsTerminal;
    let show_progress = std::io::stderr().is_terminal();
    let rows = partnerbook::app::export::run(store.path(), &job, |p: Progress| {
        if show_progress && p.total > 0 {
            eprint!("\rExporting… {}/{} ({}%)", p.done, p.total, p.done * 100 / p.total);
        }
        true
    })
    .map_err(CliError::Body)?;
    let out = job.path();
    if show_progress {
        eprintln!();
    }
    if json {
        println!("{}", serde_json::json!({ "rows": rows, "file": out }));
    } else {
        println!("Exported {rows} {noun}{} to {}.", if rows == 1 { "" } else { "s" }, out.display());
    }
    Ok(())
}

fn parse_state(state: Option<String>) -> Result<Option<SyncState>> {
    state.map(|s| s.trim().to_lowercase().parse()).transpose().map_err(CliError::Usage)
}

fn org(store: &mut Store, cmd: OrgCommand, json: bool) -> Result<()> {
    match cmd {
        OrgCommand::Add(fields) => {
            let draft = org_draft(OrganizationDraft::default(), fields)?;
            let org = store.create_organization(&draft)?;
            print::organization_saved(&org, "Added", json);
        }
        OrgCommand::List(a) => {
            let query = OrganizationQuery {
                sync_state: parse_state(a.sync_state)?,
                paging: a.page.into(),
                ..org_query(a.filter)?
            };
            print::organizations(&store.list_organizations(&query)?, json);
        }
        OrgCommand::Show { id } => {
            let key = store.resolve_key::<Organizations>(&id)?;
            print::organization(&store.get::<Organizations>(key)?, json);
        }
        OrgCommand::Edit { id, fields } => {
            let key = store.resolve_key::<Organizations>(&id)?;
            let current = store.get::<Organizations>(key)?;
            let draft = org_draft(current.fields.to_draft(), fields)?;
            let org = store.update_organization(key, &draft)?;
            print::organization_saved(&org, "Saved", json);
        }
        OrgCommand::Export(a) => export_orgs(store, a, json)?,
        OrgCommand::Delete { id } => {
            let key = store.resolve_key::<Organizations>(&id)?;
            let org = store.delete::<Organizations>(key)?;
            print::organization_saved(&org, "Deleted", json);
        }
    }
    Ok(())
}

/// Lays the given flags over `base` (empty for add, the current record for edit).
fn org_draft(mut d: OrganizationDraft, a: OrgFieldArgs) -> Result<OrganizationDraft> {
    let replace = |slot: &mut String, v: Option<String>| {
        if let Some(v) = v {
            *slot = v;
        }
    };
    replace(&mut d.name, a.name);
    replace(&mut d.org_type, a.org_type);
    replace(&mut d.address, a.address);
    replace(&mut d.country, a.country);
    replace(&mut d.phone, a.phone);
    let replace_opt = |slot: &mut Option<String>, v: Option<String>| {
        if v.is_some() {
            *slot = v;
        }
    };
    replace_opt(&mut d.address2, a.address2);
    replace_opt(&mut d.city, a.city);
    replace_opt(&mut d.province, a.province);
    replace_opt(&mut d.postal, a.postal);
    replace_opt(&mut d.billing_email, a.billing_email);
    replace_opt(&mut d.office_id, a.office_id);
    replace_opt(&mut d.description, a.description);
    if a.latitude.is_some() || a.longitude.is_some() {
        let old = d.location.take().unwrap_or_default();
        d.location = Some(LocationDraft {
            latitude: a.latitude.unwrap_or(old.latitude),
            longitude: a.longitude.unwrap_or(old.longitude),
        });
    }
    let mut contacts: Vec<Contact> = Vec::new();
    if let Some(path) = &a.contacts_file {
        let text = std::fs::read_to_string(path).map_err(|source| CliError::Read { path: path.clone(), source })?;
        let from_file: Vec<Contact> = serde_json::from_str(&text).map_err(|e| {
            CliError::Usage(format!(
                "{}: not a JSON list of contacts ({e}). Expected [{{\"firstName\": \"Ann\", \"email\": \"ann@example.com\"}}].",
                path.display()
            ))
        })?;
        contacts.extend(from_file);
    }
    contacts.extend(a.contacts.iter().map(|c| Contact::from_semicolon_list(c)));
    if !contacts.is_empty() {
        d.contacts = contacts;
    }
    Ok(d)
}
