//! Partner lists from CSV and XLSX files with a header row.
//!
//! Columns are matched by name (the export's own names), every row is checked
//! with the same rules as the form, likely duplicates are found (same email, or
//! same company name ignoring case and spacing, among stored partners and
//! within the file), and only then are the good rows written, all in one
//! transaction with their outbox entries.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::export::{PartnerColumn, restore_cell};
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
}

const REQUIRED: [&str; 6] = ["company_name", "sales_amount", "partner_type", "email", "frequency", "payment_terms"];

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
}

/// Company names match ignoring case and runs of spaces; emails ignoring case.
fn name_key(name: &str) -> String {
    name.split_whitespace().collect::<Vec<_>>().join(" ").to_lowercase()
}

/// Reads every data row as (row number, cells by column name).
fn read_rows(path: &Path) -> Result<Vec<(u64, HashMap<String, String>)>, ImportError> {
    let fail = |cause: String| ImportError::Read { path: path.to_path_buf(), cause };
    let is_xlsx = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("xlsx"));
    let table: Vec<Vec<String>> = if is_xlsx {
        use calamine::{Data, Reader, Xlsx, open_workbook};
        let mut book: Xlsx<_> = open_workbook(path).map_err(|e: calamine::XlsxError| fail(e.to_string()))?;
        let range = book
            .worksheet_range_at(0)
            .ok_or_else(|| fail("the workbook has no sheet".into()))?
            .map_err(|e| fail(e.to_string()))?;
        range
            .rows()
            .map(|r| {
                r.iter()
                    .map(|c| match c {
                        Data::Float(f) if f.fract() == 0.0 => format!("{}", *f as i64),
                        Data::Empty => String::new(),
                        other => other.to_string(),
                    })
                    .collect()
            })
            .collect()
    } else {
        let bytes = std::fs::read(path).map_err(|e| fail(e.to_string()))?;
        let text = std::str::from_utf8(&bytes).map_err(|_| fail("it is not UTF-8 text".into()))?;
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let header_line = text.lines().next().unwrap_or_default();
        let delimiter = if header_line.matches(';').count() > header_line.matches(',').count() { b';' } else { b',' };
        let mut reader = csv::ReaderBuilder::new()
            .delimiter(delimiter)
            .has_headers(false)
            .flexible(true)
            .from_reader(text.as_bytes());
        reader
            .records()
            .map(|r| {
                r.map(|r| r.iter().map(|c| restore_cell(c).to_string()).collect()).map_err(|e| fail(e.to_string()))
            })
            .collect::<Result<_, _>>()?
    };
    let mut rows = table.into_iter();
    let header: Vec<String> = rows.next().unwrap_or_default().iter().map(|h| h.trim().to_lowercase()).collect();
    if let Some(missing) = REQUIRED.iter().find(|r| !header.iter().any(|h| h == *r)) {
        return Err(ImportError::MissingColumn { path: path.to_path_buf(), missing: missing.to_string() });
    }
    Ok(rows
        .enumerate()
        .filter(|(_, cells)| cells.iter().any(|c| !c.trim().is_empty()))
        .map(|(i, cells)| (i as u64 + 2, header.iter().cloned().zip(cells).collect()))
        .collect())
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
    let rows = read_rows(path)?;
    // What is stored already, for duplicate checks (one pass, keys only).
    let mut by_email: HashMap<String, String> = HashMap::new();
    let mut by_name: HashMap<String, String> = HashMap::new();
    let columns = ["p.key", "p.email", "p.company_name"];
    store.for_each_partner_values(&PartnerQuery::default(), &columns, |row| -> Result<(), StoreError> {
        let (key, email, name): (String, String, String) = (row.get(0)?, row.get(1)?, row.get(2)?);
        let who = format!("existing partner {key}");
        by_email.entry(email.to_lowercase()).or_insert_with(|| who.clone());
        by_name.entry(name_key(&name)).or_insert(who);
        Ok(())
    })?;

    let mut report = ImportReport { rows: Vec::new(), valid: 0, invalid: 0, duplicates: 0, imported: 0 };
    let mut accepted: Vec<PartnerFields> = Vec::new();
    let mut refused: Vec<(u64, &HashMap<String, String>, String)> = Vec::new();
    for (row, cells) in &rows {
        let cell = |c: PartnerColumn| cells.get(c.name()).cloned().unwrap_or_default();
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
                match by_email.get(&email).or_else(|| by_name.get(&name)).cloned() {
                    Some(original) => {
                        report.duplicates += 1;
                        refused.push((*row, cells, format!("Looks like a duplicate of {original}.")));
                        RowReport { row: *row, status: "duplicate", errors: vec![], duplicate_of: Some(original) }
                    }
                    None => {
                        report.valid += 1;
                        by_email.insert(email, format!("row {row}"));
                        by_name.insert(name, format!("row {row}"));
                        accepted.push(fields);
                        RowReport { row: *row, status: "ok", errors: vec![], duplicate_of: None }
                    }
                }
            }
        };
        report.rows.push(entry);
    }

    if let Some(rejects) = rejects {
        write_rejects(rejects, &refused)?;
    }
    if !dry_run {
        report.imported = store.create_partners(&accepted, None)?.len() as u64;
    }
    Ok(report)
}

fn write_rejects(path: &Path, refused: &[(u64, &HashMap<String, String>, String)]) -> Result<(), ImportError> {
    let write_error = |e: std::io::Error| ImportError::Write { path: path.to_path_buf(), source: e };
    let mut out = csv::Writer::from_path(path).map_err(|e| write_error(e.into()))?;
    let mut header = vec!["row".to_string()];
    header.extend(REQUIRED.iter().map(|s| s.to_string()));
    header.push("reason".into());
    out.write_record(&header).map_err(|e| write_error(e.into()))?;
    for (row, cells, reason) in refused {
        let mut record = vec![row.to_string()];
        record.extend(
            REQUIRED.iter().map(|c| crate::export::neutralise_cell(cells.get(*c).map_or("", |v| v)).into_owned()),
        );
        record.push(reason.clone());
        out.write_record(&record).map_err(|e| write_error(e.into()))?;
    }
    out.flush().map_err(write_error)
}
