//! Partner and organization lists to CSV, XLSX and JSON Lines.
//!
//! Rows stream from SQLite to the file one at a time (memory stays flat
//! whatever the list's size), the file is written under a temporary name in
//! the same folder and renamed into place only when complete, and CSV cells
//! that a spreadsheet would run as a formula are neutralised (OWASP).

use std::borrow::Cow;
use std::fmt;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::{Deserialize, Serialize};

use rusqlite::types::ValueRef;

use crate::store::{OrganizationQuery, PartnerQuery, Store, StoreError};
use crate::{Contact, Organization};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ExportFormat {
    #[default]
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

    /// The column's SQL over the partners table `p`: an export reads only what it writes.
    fn sql(self) -> &'static str {
        match self {
            PartnerColumn::Key => "p.key",
            PartnerColumn::CompanyName => "p.company_name",
            PartnerColumn::SalesAmount => "p.sales_amount",
            PartnerColumn::PartnerType => "p.partner_type",
            PartnerColumn::Email => "p.email",
            PartnerColumn::Frequency => "p.frequency",
            PartnerColumn::PaymentTerms => "p.payment_terms",
            PartnerColumn::TargetOrgId => "p.target_org_id",
            PartnerColumn::ServerId => "p.server_id",
            PartnerColumn::CreatedLocallyAt => "p.created_at",
            PartnerColumn::UpdatedLocallyAt => "p.updated_at",
            PartnerColumn::SyncState => "p.sync_state",
            PartnerColumn::SyncError => "p.sync_error ->> '$.message'",
        }
    }

    /// The cell for this column's value, borrowed from the row.
    fn cell(self, value: rusqlite::types::ValueRef<'_>) -> Cell<'_> {
        use rusqlite::types::ValueRef;
        match value {
            ValueRef::Null | ValueRef::Blob(_) => Cell::Empty,
            ValueRef::Integer(i) => Cell::Integer(i),
            ValueRef::Real(r) => Cell::Number(r),
            ValueRef::Text(bytes) => {
                let text = String::from_utf8_lossy(bytes);
                match self {
                    PartnerColumn::CreatedLocallyAt | PartnerColumn::UpdatedLocallyAt => Cell::Time(text),
                    _ => Cell::Text(text),
                }
            }
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

enum Cell<'a> {
    Text(Cow<'a, str>),
    Integer(i64),
    Number(f64),
    /// A time as the store keeps it (RFC 3339, UTC, milliseconds).
    Time(Cow<'a, str>),
    Empty,
}

impl Cell<'_> {
    fn text(value: impl Into<String>) -> Cell<'static> {
        Cell::Text(Cow::Owned(value.into()))
    }

    fn optional(value: &Option<String>) -> Cell<'static> {
        value.as_ref().map_or(Cell::Empty, |v| Cell::text(v.as_str()))
    }

    fn into_text(self) -> String {
        match self {
            Cell::Text(t) | Cell::Time(t) => t.into_owned(),
            Cell::Integer(i) => i.to_string(),
            Cell::Number(n) => n.to_string(),
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
    progress: impl FnMut(Progress) -> bool,
) -> Result<u64, ExportError> {
    let columns = options.resolved_columns();
    let headers: Vec<Column> = columns.iter().map(|c| Column::new(c.name(), c.width())).collect();
    let total = store.count_partners(query)?;
    let layout = FileLayout { format: options.format, semicolon: options.semicolon, bom: options.bom };
    let sql: Vec<&str> = columns.iter().map(|c| c.sql()).collect();
    write_file(path, layout, "Partners", &headers, total, progress, |out| {
        store.for_each_partner_values(query, &sql, |row| -> Result<(), ExportError> {
            out.row(columns.iter().enumerate().map(|(i, c)| c.cell(row.get_ref(i).unwrap_or(ValueRef::Null))))?;
            out.record_done()
        })
    })
}

/// How an organization's contacts are laid out in an export.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ContactLayout {
    /// One row per organization, with `contact_1_first_name`, `contact_2_first_name`, .. columns.
    #[default]
    Columns,
    /// One row per contact, the organization's fields repeated on each.
    Rows,
}

impl FromStr for ContactLayout {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "columns" | "flat" | "flattened" => Ok(ContactLayout::Columns),
            "rows" | "row-per-contact" => Ok(ContactLayout::Rows),
            other => Err(format!("unknown contact layout {other:?}: use columns or rows")),
        }
    }
}

/// What to export of organizations and how.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrganizationExportOptions {
    pub format: ExportFormat,
    pub contacts: ContactLayout,
    /// Adds a `sync_state` column.
    pub sync_state: bool,
    pub semicolon: bool,
    pub bom: bool,
}

/// An organization's own columns, in the API's order.
const ORG_COLUMNS: [(&str, f64); 16] = [
    ("key", 38.0),
    ("name", 36.0),
    ("type", 8.0),
    ("address", 36.0),
    ("address2", 24.0),
    ("city", 20.0),
    ("province", 16.0),
    ("postal", 12.0),
    ("country", 8.0),
    ("phone", 18.0),
    ("billing_email", 30.0),
    ("office_id", 16.0),
    ("linked_to", 16.0),
    ("description", 40.0),
    ("latitude", 12.0),
    ("longitude", 12.0),
];
const CONTACT_COLUMNS: [(&str, f64); 5] =
    [("first_name", 18.0), ("last_name", 18.0), ("email", 30.0), ("phone", 18.0), ("work_phone", 18.0)];

fn org_cells(o: &Organization) -> impl Iterator<Item = Cell<'static>> + '_ {
    let f = &o.fields;
    let coordinate = |v: Option<f64>| v.map(Cell::Number).unwrap_or(Cell::Empty);
    [
        Cell::text(o.key.to_string()),
        Cell::text(f.name.as_str()),
        Cell::text(f.org_type.code()),
        Cell::text(f.address.as_str()),
        Cell::optional(&f.address2),
        Cell::optional(&f.city),
        Cell::optional(&f.province),
        Cell::optional(&f.postal),
        Cell::text(f.country.as_str()),
        Cell::text(f.phone.as_str()),
        Cell::optional(&f.billing_email),
        Cell::optional(&f.office_id),
        Cell::optional(&f.linked_to),
        Cell::optional(&f.description),
        coordinate(f.location.map(|l| l.latitude)),
        coordinate(f.location.map(|l| l.longitude)),
    ]
    .into_iter()
}

fn contact_cells(c: &Contact) -> [Cell<'static>; 5] {
    [
        Cell::text(c.first_name.as_str()),
        Cell::optional(&c.last_name),
        Cell::optional(&c.email),
        Cell::optional(&c.phone),
        Cell::optional(&c.work_phone),
    ]
}

/// Exports the organizations `query` selects (paging ignored) with their
/// contacts, as [`export_partners`] does partners: streamed, neutralised, and
/// written under a temporary name until complete. Progress counts organizations.
pub fn export_organizations(
    store: &Store,
    query: &OrganizationQuery,
    options: &OrganizationExportOptions,
    path: &Path,
    progress: impl FnMut(Progress) -> bool,
) -> Result<u64, ExportError> {
    let (total, most_contacts) = store.count_organizations(query)?;
    let mut headers: Vec<Column> = ORG_COLUMNS.iter().map(|&(name, width)| Column::new(name, width)).collect();
    match options.contacts {
        ContactLayout::Rows => {
            headers.extend(CONTACT_COLUMNS.iter().map(|&(name, width)| Column::new(format!("contact_{name}"), width)))
        }
        ContactLayout::Columns => headers.extend((1..=most_contacts).flat_map(|n| {
            CONTACT_COLUMNS.iter().map(move |&(name, width)| Column::new(format!("contact_{n}_{name}"), width))
        })),
    }
    if options.sync_state {
        headers.push(Column::new("sync_state", 10.0));
    }
    let state = |o: &Organization| options.sync_state.then(|| Cell::text(o.sync_state.as_str()));
    let layout = FileLayout { format: options.format, semicolon: options.semicolon, bom: options.bom };
    write_file(path, layout, "Organizations", &headers, total, progress, |out| {
        store.for_each_organization(query, |o| -> Result<(), ExportError> {
            match options.contacts {
                ContactLayout::Rows => {
                    for c in &o.fields.contacts {
                        out.row(org_cells(&o).chain(contact_cells(c)).chain(state(&o)))?;
                    }
                }
                ContactLayout::Columns => {
                    let blank = (o.fields.contacts.len()..most_contacts).flat_map(|_| [(); 5].map(|_| Cell::Empty));
                    let contacts = o.fields.contacts.iter().flat_map(contact_cells);
                    out.row(org_cells(&o).chain(contacts).chain(blank).chain(state(&o)))?;
                }
            }
            out.record_done()
        })
    })
}

/// A header cell and its spreadsheet width, in characters.
struct Column {
    name: std::borrow::Cow<'static, str>,
    width: f64,
}

impl Column {
    fn new(name: impl Into<std::borrow::Cow<'static, str>>, width: f64) -> Column {
        Column { name: name.into(), width }
    }
}

#[derive(Debug, Clone, Copy)]
struct FileLayout {
    format: ExportFormat,
    semicolon: bool,
    bom: bool,
}

/// The open export file, in one of the three formats.
enum Table<'f> {
    Csv(csv::Writer<BufWriter<&'f std::fs::File>>),
    Jsonl { file: BufWriter<&'f std::fs::File>, names: Vec<String> },
    Xlsx { workbook: rust_xlsxwriter::Workbook, row: u32, formats: XlsxFormats },
}

struct XlsxFormats {
    money: rust_xlsxwriter::Format,
    number: rust_xlsxwriter::Format,
    when: rust_xlsxwriter::Format,
}

/// Where rows go, and the progress bookkeeping of an export.
struct Rows<'f, P> {
    table: Table<'f>,
    path: &'f Path,
    /// Reused to format numbers for CSV.
    scratch: String,
    done: u64,
    total: u64,
    progress: P,
}

impl<P: FnMut(Progress) -> bool> Rows<'_, P> {
    fn io(&self, source: std::io::Error) -> ExportError {
        ExportError::Io { path: self.path.to_path_buf(), source }
    }

    fn row<'c>(&mut self, cells: impl Iterator<Item = Cell<'c>>) -> Result<(), ExportError> {
        match &mut self.table {
            Table::Csv(csv) => {
                use std::fmt::Write as _;
                // Field by field, straight from the row: no record is built.
                for cell in cells {
                    match cell {
                        Cell::Text(t) | Cell::Time(t) => csv.write_field(neutralise_cell(&t).as_bytes())?,
                        Cell::Integer(i) => {
                            self.scratch.clear();
                            let _ = write!(self.scratch, "{i}");
                            csv.write_field(self.scratch.as_bytes())?
                        }
                        Cell::Number(n) => {
                            self.scratch.clear();
                            let _ = write!(self.scratch, "{n}");
                            csv.write_field(self.scratch.as_bytes())?
                        }
                        Cell::Empty => csv.write_field([])?,
                    }
                }
                csv.write_record(None::<&[u8]>)?;
            }
            Table::Jsonl { file, names } => {
                let mut line = serde_json::Map::new();
                for (name, cell) in names.iter().zip(cells) {
                    let value = match cell {
                        Cell::Integer(i) => serde_json::Value::from(i),
                        Cell::Number(n) => serde_json::Value::from(n),
                        Cell::Empty => serde_json::Value::Null,
                        other => serde_json::Value::String(other.into_text()),
                    };
                    line.insert(name.clone(), value);
                }
                let written = serde_json::to_writer(&mut *file, &line).map_err(std::io::Error::from);
                if let Err(e) = written.and_then(|()| file.write_all(b"\n")) {
                    return Err(self.io(e));
                }
            }
            Table::Xlsx { workbook, row, formats } => {
                *row += 1;
                let sheet = workbook.worksheet_from_index(0)?;
                for (col, cell) in cells.enumerate() {
                    let col = col as u16;
                    // Strings are stored as text cells, never as formulas: no neutralising needed.
                    match cell {
                        Cell::Text(t) => sheet.write_string(*row, col, t)?,
                        Cell::Integer(n) => sheet.write_number_with_format(*row, col, n as f64, &formats.money)?,
                        Cell::Number(n) => sheet.write_number_with_format(*row, col, n, &formats.number)?,
                        Cell::Time(t) => match chrono::DateTime::parse_from_rfc3339(&t) {
                            Ok(when) => {
                                let date = rust_xlsxwriter::ExcelDateTime::from_timestamp(when.timestamp())?;
                                sheet.write_datetime_with_format(*row, col, &date, &formats.when)?
                            }
                            Err(_) => sheet.write_string(*row, col, t)?,
                        },
                        Cell::Empty => sheet,
                    };
                }
            }
        }
        Ok(())
    }

    /// Counts one record; every thousand, reports progress and honours a cancel.
    fn record_done(&mut self) -> Result<(), ExportError> {
        self.done += 1;
        if self.done % PROGRESS_EVERY == 0 && !(self.progress)(Progress { done: self.done, total: self.total }) {
            return Err(ExportError::Cancelled);
        }
        Ok(())
    }
}

/// Writes a whole export: a temporary file beside `path`, the header, the
/// rows `fill` produces, then an atomic rename. Returns the records written.
fn write_file<P: FnMut(Progress) -> bool>(
    path: &Path,
    layout: FileLayout,
    sheet_name: &str,
    columns: &[Column],
    total: u64,
    progress: P,
    fill: impl FnOnce(&mut Rows<'_, P>) -> Result<(), ExportError>,
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

    // The writers borrow the temporary file: done with them before it is renamed.
    let done = {
        let table = match layout.format {
            ExportFormat::Csv => {
                let mut file = BufWriter::with_capacity(1 << 16, temp.as_file());
                if layout.bom {
                    file.write_all("\u{feff}".as_bytes()).map_err(io)?;
                }
                let mut csv = csv::WriterBuilder::new()
                    .delimiter(if layout.semicolon { b';' } else { b',' })
                    .terminator(csv::Terminator::CRLF)
                    .from_writer(file);
                csv.write_record(columns.iter().map(|c| c.name.as_ref()))?;
                Table::Csv(csv)
            }
            ExportFormat::Jsonl => Table::Jsonl {
                file: BufWriter::with_capacity(1 << 16, temp.as_file()),
                names: columns.iter().map(|c| c.name.to_string()).collect(),
            },
            ExportFormat::Xlsx => {
                use rust_xlsxwriter::{Format, Workbook};
                let mut workbook = Workbook::new();
                let header = Format::new().set_bold();
                let sheet = workbook.add_worksheet_with_constant_memory()?;
                sheet.set_name(sheet_name)?;
                for (i, c) in columns.iter().enumerate() {
                    sheet.set_column_width(i as u16, c.width)?;
                    sheet.write_string_with_format(0, i as u16, c.name.as_ref(), &header)?;
                }
                sheet.set_freeze_panes(1, 0)?;
                let formats = XlsxFormats {
                    money: Format::new().set_num_format("#,##0"),
                    number: Format::new().set_num_format("0.000000"),
                    when: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
                };
                Table::Xlsx { workbook, row: 0, formats }
            }
        };
        let mut rows = Rows { table, path, scratch: String::new(), done: 0, total, progress };
        fill(&mut rows)?;
        let Rows { table, done, mut progress, .. } = rows;
        match table {
            Table::Csv(csv) => csv.into_inner().map_err(|e| io(e.into_error()))?.flush().map_err(io)?,
            Table::Jsonl { mut file, .. } => file.flush().map_err(io)?,
            Table::Xlsx { mut workbook, .. } => workbook.save(temp.path())?,
        }
        progress(Progress { done, total });
        done
    };
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
