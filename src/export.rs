//! Partner lists to CSV, XLSX and JSON Lines.
//!
//! Rows stream from SQLite to the file one at a time (memory stays flat
//! whatever the list's size), the file is written under a temporary name in
//! the same folder and renamed into place only when complete, and CSV cells
//! that a spreadsheet would run as a formula are neutralised (OWASP).

use std::fmt;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use crate::Partner;
use crate::store::{PartnerQuery, Store, StoreError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    Csv,
    Xlsx,
    Jsonl,
}

impl FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "csv" => Ok(ExportFormat::Csv),
            "xlsx" => Ok(ExportFormat::Xlsx),
            "jsonl" | "json" => Ok(ExportFormat::Jsonl),
            other => Err(format!("unknown format {other:?}: use csv, xlsx or jsonl")),
        }
    }
}

/// A column of a partner export; its name is the header (and the field name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PartnerColumn {
    Key,
    CompanyName,
    SalesAmount,
    PartnerType,
    Email,
    Frequency,
    PaymentTerms,
    TargetOrgId,
    ServerId,
    CreatedLocallyAt,
    UpdatedLocallyAt,
    SyncState,
    SyncError,
}

impl PartnerColumn {
    pub const ALL: [PartnerColumn; 13] = [
        PartnerColumn::Key,
        PartnerColumn::CompanyName,
        PartnerColumn::SalesAmount,
        PartnerColumn::PartnerType,
        PartnerColumn::Email,
        PartnerColumn::Frequency,
        PartnerColumn::PaymentTerms,
        PartnerColumn::TargetOrgId,
        PartnerColumn::ServerId,
        PartnerColumn::CreatedLocallyAt,
        PartnerColumn::UpdatedLocallyAt,
        PartnerColumn::SyncState,
        PartnerColumn::SyncError,
    ];

    /// The six API fields, in the API's order: what an export holds by default.
    pub const FIELDS: [PartnerColumn; 6] = [
        PartnerColumn::CompanyName,
        PartnerColumn::SalesAmount,
        PartnerColumn::PartnerType,
        PartnerColumn::Email,
        PartnerColumn::Frequency,
        PartnerColumn::PaymentTerms,
    ];

    pub fn name(self) -> &'static str {
        match self {
            PartnerColumn::Key => "key",
            PartnerColumn::CompanyName => "company_name",
            PartnerColumn::SalesAmount => "sales_amount",
            PartnerColumn::PartnerType => "partner_type",
            PartnerColumn::Email => "email",
            PartnerColumn::Frequency => "frequency",
            PartnerColumn::PaymentTerms => "payment_terms",
            PartnerColumn::TargetOrgId => "target_org_id",
            PartnerColumn::ServerId => "server_id",
            PartnerColumn::CreatedLocallyAt => "created_locally_at",
            PartnerColumn::UpdatedLocallyAt => "updated_locally_at",
            PartnerColumn::SyncState => "sync_state",
            PartnerColumn::SyncError => "sync_error",
        }
    }

    /// Spreadsheet column width, in characters.
    fn width(self) -> f64 {
        match self {
            PartnerColumn::CompanyName | PartnerColumn::Email | PartnerColumn::SyncError => 36.0,
            PartnerColumn::Key | PartnerColumn::TargetOrgId | PartnerColumn::ServerId => 38.0,
            PartnerColumn::CreatedLocallyAt | PartnerColumn::UpdatedLocallyAt => 20.0,
            _ => 16.0,
        }
    }

    fn value(self, p: &Partner) -> Cell {
        let text = |s: &str| Cell::Text(s.to_string());
        let opt = |v: Option<String>| v.map(Cell::Text).unwrap_or(Cell::Empty);
        match self {
            PartnerColumn::Key => Cell::Text(p.key.to_string()),
            PartnerColumn::CompanyName => text(&p.fields.company_name),
            PartnerColumn::SalesAmount => Cell::Integer(p.fields.sales_amount),
            PartnerColumn::PartnerType => text(p.fields.partner_type.as_str()),
            PartnerColumn::Email => text(&p.fields.email),
            PartnerColumn::Frequency => text(&p.fields.frequency),
            PartnerColumn::PaymentTerms => text(&p.fields.payment_terms),
            PartnerColumn::TargetOrgId => opt(p.target_org_id.map(|t| t.to_string())),
            PartnerColumn::ServerId => opt(p.server.id.map(|t| t.to_string())),
            PartnerColumn::CreatedLocallyAt => Cell::Time(p.created_locally_at),
            PartnerColumn::UpdatedLocallyAt => Cell::Time(p.updated_locally_at),
            PartnerColumn::SyncState => text(p.sync_state.as_str()),
            PartnerColumn::SyncError => opt(p.sync_error.as_ref().map(|e| e.message.clone())),
        }
    }
}

impl fmt::Display for PartnerColumn {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for PartnerColumn {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        PartnerColumn::ALL.into_iter().find(|c| c.name() == s.trim()).ok_or_else(|| {
            let names: Vec<_> = PartnerColumn::ALL.iter().map(|c| c.name()).collect();
            format!("unknown column {s:?}; columns are {}", names.join(", "))
        })
    }
}

enum Cell {
    Text(String),
    Integer(i64),
    Time(chrono::DateTime<chrono::Utc>),
    Empty,
}

impl Cell {
    fn into_text(self) -> String {
        match self {
            Cell::Text(t) => t,
            Cell::Integer(i) => i.to_string(),
            Cell::Time(t) => crate::store::time_text(&t),
            Cell::Empty => String::new(),
        }
    }
}

/// What to export and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ExportOptions {
    pub format: ExportFormat,
    /// Columns in order; empty means the six API fields.
    pub columns: Vec<PartnerColumn>,
    /// Adds a `sync_state` column (if not chosen already), so readers see what is not yet on the central API.
    pub sync_state: bool,
    /// CSV only: `;` instead of `,` (spreadsheets in many countries expect it).
    pub semicolon: bool,
    /// CSV only: a UTF-8 byte-order mark, so older Excel versions read accents right.
    pub bom: bool,
}

impl Default for ExportOptions {
    fn default() -> Self {
        ExportOptions {
            format: ExportFormat::Csv,
            columns: Vec::new(),
            sync_state: false,
            semicolon: false,
            bom: false,
        }
    }
}

impl ExportOptions {
    pub fn resolved_columns(&self) -> Vec<PartnerColumn> {
        let mut columns = if self.columns.is_empty() { PartnerColumn::FIELDS.to_vec() } else { self.columns.clone() };
        if self.sync_state && !columns.contains(&PartnerColumn::SyncState) {
            columns.push(PartnerColumn::SyncState);
        }
        columns
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("Could not write {}: {source}", path.display())]
    Io { path: PathBuf, source: std::io::Error },
    #[error("Could not write the spreadsheet: {0}")]
    Xlsx(#[from] rust_xlsxwriter::XlsxError),
    #[error("Export cancelled; no file was written.")]
    Cancelled,
}

impl From<csv::Error> for ExportError {
    fn from(e: csv::Error) -> Self {
        ExportError::Io { path: PathBuf::new(), source: std::io::Error::other(e) }
    }
}

/// How far an export has got, for a progress bar.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Progress {
    pub done: u64,
    pub total: u64,
}

/// Rows between two progress reports.
const PROGRESS_EVERY: u64 = 1000;

/// Neutralises a CSV cell a spreadsheet would run as a formula: a cell that
/// starts with `=`, `+`, `-`, `@`, tab or carriage return (after any leading
/// quotes) gets one more leading `'`. [`restore_cell`] undoes it exactly.
pub fn neutralise_cell(value: &str) -> std::borrow::Cow<'_, str> {
    let rest = value.trim_start_matches('\'');
    match rest.chars().next() {
        Some('=' | '+' | '-' | '@' | '\t' | '\r') => format!("'{value}").into(),
        _ => value.into(),
    }
}

/// The inverse of [`neutralise_cell`], for importing our own exports.
pub fn restore_cell(value: &str) -> &str {
    match value.strip_prefix('\'') {
        Some(inner)
            if matches!(inner.trim_start_matches('\'').chars().next(), Some('=' | '+' | '-' | '@' | '\t' | '\r')) =>
        {
            inner
        }
        _ => value,
    }
}

/// Exports the partners `query` selects (its paging is ignored) to `path`.
/// `progress` is told every thousand rows and may return `false` to cancel;
/// a cancelled or failed export leaves no file under `path` (and an existing
/// file there untouched). Returns the number of rows written.
pub fn export_partners(
    store: &Store,
    query: &PartnerQuery,
    options: &ExportOptions,
    path: &Path,
    mut progress: impl FnMut(Progress) -> bool,
) -> Result<u64, ExportError> {
    let io = |source| ExportError::Io { path: path.to_path_buf(), source };
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let mut builder = tempfile::Builder::new();
    builder.prefix(".partnerbook-export-").suffix(".part");
    // A temporary file is private (0600) by default; the export is the user's
    // document, so create it like any other file (0666 less the umask).
    #[cfg(unix)]
    builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(0o666));
    let temp = builder.tempfile_in(dir).map_err(io)?;
    let total = store.count_partners(query)?;
    let columns = options.resolved_columns();
    let mut done = 0u64;
    let mut tick = |done: u64| -> Result<(), ExportError> {
        if done % PROGRESS_EVERY == 0 && !progress(Progress { done, total }) {
            return Err(ExportError::Cancelled);
        }
        Ok(())
    };

    match options.format {
        ExportFormat::Csv => {
            let mut file = BufWriter::with_capacity(1 << 16, temp.as_file());
            if options.bom {
                file.write_all("\u{feff}".as_bytes()).map_err(io)?;
            }
            let mut csv = csv::WriterBuilder::new()
                .delimiter(if options.semicolon { b';' } else { b',' })
                .terminator(csv::Terminator::CRLF)
                .from_writer(file);
            csv.write_record(columns.iter().map(|c| c.name()))?;
            let mut record: Vec<String> = Vec::with_capacity(columns.len());
            store.for_each_partner(query, |p| -> Result<(), ExportError> {
                record.clear();
                record.extend(columns.iter().map(|c| neutralise_cell(&c.value(&p).into_text()).into_owned()));
                csv.write_record(&record)?;
                done += 1;
                tick(done)
            })?;
            csv.into_inner().map_err(|e| io(e.into_error()))?.flush().map_err(io)?;
        }
        ExportFormat::Jsonl => {
            let mut file = BufWriter::with_capacity(1 << 16, temp.as_file());
            store.for_each_partner(query, |p| -> Result<(), ExportError> {
                let mut line = serde_json::Map::new();
                for c in &columns {
                    let value = match c.value(&p) {
                        Cell::Integer(i) => serde_json::Value::from(i),
                        Cell::Empty => serde_json::Value::Null,
                        other => serde_json::Value::String(other.into_text()),
                    };
                    line.insert(c.name().to_string(), value);
                }
                serde_json::to_writer(&mut file, &line).map_err(|e| io(e.into()))?;
                file.write_all(b"\n").map_err(io)?;
                done += 1;
                tick(done)
            })?;
            file.flush().map_err(io)?;
        }
        ExportFormat::Xlsx => {
            use rust_xlsxwriter::{ExcelDateTime, Format, Workbook};
            let mut workbook = Workbook::new();
            let header = Format::new().set_bold();
            let money = Format::new().set_num_format("#,##0");
            let when = Format::new().set_num_format("yyyy-mm-dd hh:mm:ss");
            let sheet = workbook.add_worksheet_with_constant_memory()?;
            sheet.set_name("Partners")?;
            for (i, c) in columns.iter().enumerate() {
                sheet.set_column_width(i as u16, c.width())?;
                sheet.write_string_with_format(0, i as u16, c.name(), &header)?;
            }
            sheet.set_freeze_panes(1, 0)?;
            let mut row = 0u32;
            store.for_each_partner(query, |p| -> Result<(), ExportError> {
                row += 1;
                for (i, c) in columns.iter().enumerate() {
                    let col = i as u16;
                    // Strings are stored as text cells, never as formulas: no neutralising needed.
                    match c.value(&p) {
                        Cell::Text(t) => sheet.write_string(row, col, t)?,
                        Cell::Integer(n) => sheet.write_number_with_format(row, col, n as f64, &money)?,
                        Cell::Time(t) => {
                            let date = ExcelDateTime::from_timestamp(t.timestamp())?;
                            sheet.write_datetime_with_format(row, col, &date, &when)?
                        }
                        Cell::Empty => sheet,
                    };
                }
                done += 1;
                tick(done)
            })?;
            workbook.save(temp.path())?;
        }
    }
    progress(Progress { done, total });
    temp.as_file().sync_all().map_err(io)?;
    temp.persist(path).map_err(|e| io(e.error))?;
    Ok(done)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn neutralising_round_trips() {
        for value in ["=1+1", "+1", "-2", "@SUM(A1)", "\tx", "\rx", "'=x", "''@x", "'plain", "plain", "", "'", "a=b"] {
            let out = neutralise_cell(value);
            assert_eq!(restore_cell(&out), value, "{value:?} -> {out:?}");
            let first = out.trim_start_matches('\'').chars().next();
            if matches!(first, Some('=' | '+' | '-' | '@' | '\t' | '\r')) {
                assert!(out.starts_with('\''), "{value:?} is not neutralised: {out:?}");
            }
        }
        assert_eq!(neutralise_cell("=HYPERLINK(\"x\")"), "'=HYPERLINK(\"x\")");
        assert_eq!(neutralise_cell("Acme"), "Acme");
    }

    #[test]
    fn columns_parse_by_name() {
        assert_eq!("sales_amount".parse::<PartnerColumn>().unwrap(), PartnerColumn::SalesAmount);
        assert!("salary".parse::<PartnerColumn>().unwrap_err().contains("columns are key, company_name"));
        let options = ExportOptions { sync_state: true, ..Default::default() };
        assert_eq!(options.resolved_columns().last(), Some(&PartnerColumn::SyncState));
    }
}
