//! Partner lists from CSV and XLSX files with a header row.
//!
//! Columns are matched by name (the export's own names), every row is checked
//! with the same rules as the form, likely duplicates are found (same email, or
//! the same company name as [`crate::duplicates`] compares names, among stored
//! partners and within the file), and only then are the good rows written, all in one
//! transaction with their outbox entries.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::export::{PartnerColumn, Progress, restore_cell};
use crate::store::{PartnerQuery, Store, StoreError};
use crate::validate::FieldError;
use crate::{PartnerDraft, PartnerFields};

#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Could not read {}: {cause}", path.display())]
    Read { path: PathBuf, cause: String },
    #[error("{} has no column {missing}; its header row must name {}.", path.display(), REQUIRED.join(", "))]
    MissingColumn { path: PathBuf, missing: String },
    #[error("Could not write {}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
    #[error("The import was stopped; nothing was saved.")]
    Cancelled,
    #[error("Nothing was imported: {0}.")]
    Target(String),
}

const REQUIRED: [&str; 6] = ["company_name", "sales_amount", "partner_type", "email", "frequency", "payment_terms"];

mod read;
pub use read::{MAX_CELL_CHARS, MAX_COLUMNS, MAX_FILE_BYTES, MAX_ROWS};
use read::{NumberedRow, read_table};

/// What became of one data row (row 2 is the first row under the header).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RowReport {
    pub row: u64,
    /// `ok`, `invalid` or `duplicate`.
    pub status: &'static str,
    pub errors: Vec<FieldError>,
    /// For a duplicate: what it duplicates (`existing partner <key>` or `row N`).
    pub duplicate_of: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    pub rows: Vec<RowReport>,
    pub valid: u64,
    pub invalid: u64,
    pub duplicates: u64,
    /// Rows written (0 on a dry run).
    pub imported: u64,
    /// How the file was read: "UTF-8", "Windows-1252", "XLSX", …
    pub encoding: &'static str,
    /// The CSV delimiter found (`,` `;` or tab); none for XLSX.
    pub delimiter: Option<char>,
}

/// Company names match as the form's duplicate warning compares them (case,
/// accents, punctuation and legal forms set aside: "Müller GmbH" is
/// "MULLER"); emails ignoring case. Only these certain likenesses refuse a
/// row; a merely similar name is the form's warning, not a refusal.
fn name_key(name: &str) -> String {
    let normalized = crate::duplicates::normalized_name(name);
    if normalized.is_empty() { name.trim().to_lowercase() } else { normalized }
}

/// Checks `path` and, unless `dry_run`, writes its valid, non-duplicate rows
/// in one transaction. With `rejects`, the other rows go to that CSV file with
/// their row number and reason.
pub fn import_partners(
    store: &mut Store,
    path: &Path,
    dry_run: bool,
    rejects: Option<&Path>,
) -> Result<ImportReport, ImportError> {
    import_partners_with(store, path, dry_run, rejects, |_| true)
}

/// [`import_partners`], telling `progress` how far the check has come (rows
/// checked of the file's rows); `progress` returning false stops it, and then
/// nothing is saved ([`ImportError::Cancelled`]).
pub fn import_partners_with(
    store: &mut Store,
    path: &Path,
    dry_run: bool,
    rejects: Option<&Path>,
    mut progress: impl FnMut(Progress) -> bool + Send,
) -> Result<ImportReport, ImportError> {
    // The rejects file is checked before anything is read or written.
    if let Some(why) = rejects.and_then(|r| crate::target::refusal(r, store.path(), false)) {
        return Err(ImportError::Target(why));
    }
    let stored = StoredKeys::of(store)?;
    if dry_run {
        let table = read_table(path)?;
        let (mut report, refused) =
            check_rows(&table.rows, stored, |_| {}, &mut progress).ok_or(ImportError::Cancelled)?;
        (report.encoding, report.delimiter) = (table.encoding, table.delimiter);
        write_rejects(rejects, &refused)?;
        return Ok(report);
    }
    // A second thread reads and checks the file while this one writes the good
    // rows as they come: of a 100,000-row import, about 1 s and 5 s, which
    // overlap on two cores. The transaction commits only once the whole file
    // was checked and its rejects written.
    std::thread::scope(|scope| {
        let (hand_over, handed) = std::sync::mpsc::sync_channel::<Vec<PartnerFields>>(CHUNKS_WAITING);
        let checker = scope.spawn(move || -> Result<ImportReport, ImportError> {
            let table = read_table(path)?;
            let (rows, read_as) = (table.rows, (table.encoding, table.delimiter));
            let mut chunk = Vec::with_capacity(CHUNK);
            let mut writer_stopped = false;
            let (report, refused) = check_rows(
                &rows,
                stored,
                |fields| {
                    chunk.push(fields);
                    if chunk.len() == CHUNK && !writer_stopped {
                        writer_stopped = hand_over.send(std::mem::take(&mut chunk)).is_err();
                    }
                },
                &mut progress,
            )
            .ok_or(ImportError::Cancelled)?;
            if !writer_stopped {
                let _ = hand_over.send(chunk);
            }
            write_rejects(rejects, &refused)?;
            Ok(ImportReport { encoding: read_as.0, delimiter: read_as.1, ..report })
        });
        let finish = || checker.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic));
        // The database is locked for writing only once there is a good row: a
        // file that cannot be read, or has none, never waits for another writer.
        let mut good = handed.into_iter().flatten().peekable();
        if good.peek().is_none() {
            return finish();
        }
        let mut checked = None;
        let written = store.create_partners_streamed(good, None, || {
            checked = Some(finish()?);
            Ok::<_, ImportError>(())
        })?;
        let mut report = checked.expect("the check finished before the commit");
        report.imported = written.len() as u64;
        Ok(report)
    })
}

/// Good rows handed to the writer at a time, and chunks that may wait for it.
const CHUNK: usize = 1_000;
const CHUNKS_WAITING: usize = 16;

/// Who already uses an email or a company name (stored partners, then earlier
/// rows of the file): the duplicate check.
struct StoredKeys {
    by_email: HashMap<String, String>,
    by_name: HashMap<String, String>,
}

impl StoredKeys {
    /// The stored partners' (one pass, keys only).
    fn of(store: &Store) -> Result<Self, StoreError> {
        let mut keys = StoredKeys { by_email: HashMap::new(), by_name: HashMap::new() };
        let columns = [PartnerColumn::Key, PartnerColumn::Email, PartnerColumn::CompanyName];
        store.for_each_partner_values(&PartnerQuery::default(), &columns, |row| -> Result<(), StoreError> {
            let (key, email, name): (String, String, String) = (row.get(0)?, row.get(1)?, row.get(2)?);
            let who = format!("existing partner {key}");
            keys.by_email.entry(email.to_lowercase()).or_insert_with(|| who.clone());
            keys.by_name.entry(name_key(&name)).or_insert(who);
            Ok(())
        })?;
        Ok(keys)
    }
}

/// A refused row: its number, its cells, and why.
type Refused<'a> = (u64, &'a [String; 6], String);

/// Checks every row in file order, handing each good one to `accept` at
/// once; `None` when `progress` (told every [`CHUNK`] rows) said stop.
fn check_rows<'a>(
    rows: &'a [NumberedRow],
    mut seen: StoredKeys,
    mut accept: impl FnMut(PartnerFields),
    progress: &mut impl FnMut(Progress) -> bool,
) -> Option<(ImportReport, Vec<Refused<'a>>)> {
    let mut report = ImportReport {
        rows: Vec::new(),
        valid: 0,
        invalid: 0,
        duplicates: 0,
        imported: 0,
        encoding: "",
        delimiter: None,
    };
    let mut refused = Vec::new();
    let total = rows.len() as u64;
    for (done, (row, cells)) in rows.iter().enumerate() {
        if done % CHUNK == 0 && !progress(Progress { done: done as u64, total }) {
            return None;
        }
        let cell = |c: PartnerColumn| {
            REQUIRED.iter().position(|r| *r == c.as_str()).map(|i| cells[i].clone()).unwrap_or_default()
        };
        let draft = PartnerDraft {
            company_name: cell(PartnerColumn::CompanyName),
            sales_amount: cell(PartnerColumn::SalesAmount),
            partner_type: cell(PartnerColumn::PartnerType),
            email: cell(PartnerColumn::Email),
            frequency: cell(PartnerColumn::Frequency),
            payment_terms: cell(PartnerColumn::PaymentTerms),
        };
        let entry = match draft.validate_fields() {
            Err(invalid) => {
                report.invalid += 1;
                let reason = invalid.fields.iter().map(|f| f.message.as_str()).collect::<Vec<_>>().join(" ");
                refused.push((*row, cells, reason));
                RowReport { row: *row, status: "invalid", errors: invalid.fields, duplicate_of: None }
            }
            Ok(fields) => {
                let email = fields.email.to_lowercase();
                let name = name_key(&fields.company_name);
                match seen.by_email.get(&email).or_else(|| seen.by_name.get(&name)).cloned() {
                    Some(original) => {
                        report.duplicates += 1;
                        refused.push((*row, cells, format!("Looks like a duplicate of {original}.")));
                        RowReport { row: *row, status: "duplicate", errors: vec![], duplicate_of: Some(original) }
                    }
                    None => {
                        report.valid += 1;
                        seen.by_email.insert(email, format!("row {row}"));
                        seen.by_name.insert(name, format!("row {row}"));
                        accept(fields);
                        RowReport { row: *row, status: "ok", errors: vec![], duplicate_of: None }
                    }
                }
            }
        };
        report.rows.push(entry);
    }
    progress(Progress { done: total, total }).then_some((report, refused))
}

/// Writes the refused rows to `path`, if there is one.
/// Written beside `path` and renamed over it (never through a link, never in
/// place: see [`crate::target`]).
fn write_rejects(path: Option<&Path>, refused: &[Refused<'_>]) -> Result<(), ImportError> {
    let Some(path) = path else { return Ok(()) };
    let write_error = |e: std::io::Error| ImportError::Write { path: path.to_path_buf(), source: e };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(".partnerbook-rejects-");
    // The user's document, made like any other file (0666 less the umask), not a private temporary one.
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let temp = builder.tempfile_in(dir).map_err(write_error)?;
    let mut out = csv::Writer::from_writer(temp.as_file());
    let mut header = vec!["row".to_string()];
    header.extend(REQUIRED.iter().map(|s| s.to_string()));
    header.push("reason".into());
    out.write_record(&header).map_err(|e| write_error(e.into()))?;
    for (row, cells, reason) in refused {
        let mut record = vec![row.to_string()];
        record.extend(cells.iter().map(|c| crate::export::neutralise_cell(c).into_owned()));
        record.push(reason.clone());
        out.write_record(&record).map_err(|e| write_error(e.into()))?;
    }
    out.flush().map_err(write_error)?;
    drop(out);
    temp.as_file().sync_all().map_err(write_error)?;
    temp.persist(path).map_err(|e| write_error(e.error))?;
    crate::target::sync_folder(path).map_err(write_error)
}
