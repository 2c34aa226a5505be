//! Partner and organization lists to CSV, XLSX and JSON Lines.
//!
//! Rows stream from SQLite to the file one at a time (memory stays flat
//! whatever the list's size), the file is written under a temporary name in
//! the same folder and renamed into place only when complete, and CSV cells
//! that a spreadsheet would run as a formula are neutralised (OWASP).

mod sink;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use rusqlite::types::ValueRef;
use serde::{Deserialize, Serialize};

pub use crate::store::PartnerColumn;
use crate::store::{OrganizationQuery, PartnerQuery, Store, StoreError};
use crate::{Contact, Organization};
use sink::{Cell, Column, FileLayout, write_file};

/// Parses one of a few named choices, each name with its aliases, for the
/// command line and old saved settings alike.
fn choice<T: Copy>(text: &str, choices: &[(&[&str], T)], what: &str, hint: &str) -> Result<T, String> {
    let text = text.to_ascii_lowercase();
    choices
        .iter()
        .find(|(names, _)| names.contains(&text.as_str()))
        .map(|&(_, value)| value)
        .ok_or_else(|| format!("unknown {what} {text:?}: use {hint}"))
}

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
        let formats: [(&[&str], _); 3] =
            [(&["csv"], ExportFormat::Csv), (&["xlsx"], ExportFormat::Xlsx), (&["jsonl", "json"], ExportFormat::Jsonl)];
        choice(s, &formats, "format", "csv, xlsx or jsonl")
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
    #[error("Nothing was written: {0}.")]
    Target(String),
    /// The file format cannot hold this list (a limit of XLSX); nothing was written.
    #[error("Nothing was written: {0}.")]
    Limit(String),
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

/// Whether a spreadsheet opening this CSV cell would take it for a formula
/// (OWASP's CSV-injection guidance, read completely): its first character,
/// once any leading quotes and any leading whitespace or control characters
/// (space, NUL, tab, line feed, carriage return, …) are passed over, is `=`,
/// `+`, `-` or `@`; or it starts with a tab, carriage return or line feed at
/// all (Excel reads those as a cue too).
fn would_run(value: &str) -> bool {
    let rest = value.trim_start_matches('\'');
    if rest.starts_with(['\t', '\r', '\n']) {
        return true;
    }
    let first = rest.chars().find(|c| !(c.is_whitespace() || c.is_control()));
    matches!(first, Some('=' | '+' | '-' | '@'))
}

/// Neutralises a CSV cell a spreadsheet would run as a formula (`would_run`)
/// with one more leading `'`. Round trip, stated: [`restore_cell`] takes that
/// one `'` off again and nothing else, so every value comes back exactly; a
/// value that really starts with `'` and would not run is written as it is;
/// one that starts with `'` and would run (`'=1`) gets a second (`''=1`) and
/// comes back as `'=1`. XLSX needs none of this: its cells are typed text, so
/// a phone number keeps its `+` there.
pub fn neutralise_cell(value: &str) -> std::borrow::Cow<'_, str> {
    if would_run(value) { format!("'{value}").into() } else { value.into() }
}

/// The inverse of [`neutralise_cell`], for importing our own exports.
pub fn restore_cell(value: &str) -> &str {
    match value.strip_prefix('\'') {
        Some(inner) if would_run(inner) => inner,
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
    let headers: Vec<Column> = columns.iter().map(|&c| Column::new(c.as_str(), width(c))).collect();
    let total = store.count_partners(query)?;
    let layout = FileLayout { format: options.format, semicolon: options.semicolon, bom: options.bom };
    write_file(store.path(), path, layout, "Partners", &headers, total, progress, |out| {
        store.for_each_partner_values(query, &columns, |row| -> Result<(), ExportError> {
            out.row(columns.iter().enumerate().map(|(i, &c)| cell(c, row.get_ref(i).unwrap_or(ValueRef::Null))))?;
            out.record_done()
        })
    })
}

/// A partner column's spreadsheet width, in characters.
fn width(column: PartnerColumn) -> f64 {
    match column {
        PartnerColumn::CompanyName | PartnerColumn::Email | PartnerColumn::SyncError => 36.0,
        PartnerColumn::Key | PartnerColumn::TargetOrgId | PartnerColumn::ServerId => 38.0,
        PartnerColumn::CreatedLocallyAt | PartnerColumn::UpdatedLocallyAt => 20.0,
        _ => 16.0,
    }
}

/// The cell for a partner column's value, borrowed from the row.
fn cell(column: PartnerColumn, value: ValueRef<'_>) -> Cell<'_> {
    match value {
        ValueRef::Null | ValueRef::Blob(_) => Cell::Empty,
        ValueRef::Integer(i) => Cell::Integer(i),
        ValueRef::Real(r) => Cell::Number(r),
        ValueRef::Text(bytes) if column.is_time() => Cell::Time(String::from_utf8_lossy(bytes)),
        ValueRef::Text(bytes) => Cell::Text(String::from_utf8_lossy(bytes)),
    }
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
        let layouts: [(&[&str], _); 2] = [
            (&["columns", "flat", "flattened"], ContactLayout::Columns),
            (&["rows", "row-per-contact"], ContactLayout::Rows),
        ];
        choice(s, &layouts, "contact layout", "columns or rows")
    }
}

crate::text_enum::text_enum!(
    /// A column an organization export can hold; `contacts` stands for the
    /// whole block of contact columns (laid out by [`ContactLayout`]).
    OrganizationColumn("column") {
        Key = "key",
        Name = "name",
        Type = "type",
        Address = "address",
        Address2 = "address2",
        City = "city",
        Province = "province",
        Postal = "postal",
        Country = "country",
        Phone = "phone",
        BillingEmail = "billing_email",
        OfficeId = "office_id",
        LinkedTo = "linked_to",
        Description = "description",
        Latitude = "latitude",
        Longitude = "longitude",
        Contacts = "contacts",
    }
);

/// How many of an organization's own fields an export can hold: every column but `contacts`.
const OWN_FIELDS: usize = OrganizationColumn::ALL.len() - 1;

impl OrganizationColumn {
    /// The field's place in `org_cells` (the order of [`OrganizationColumn::ALL`]); none for the contacts block.
    fn own_index(self) -> Option<usize> {
        Self::ALL.iter().position(|&c| c == self).filter(|&i| i < OWN_FIELDS)
    }

    /// Its spreadsheet width, in characters (the contacts block's columns have their own).
    fn width(self) -> f64 {
        use OrganizationColumn::*;
        match self {
            Key => 38.0,
            Name | Address => 36.0,
            Description => 40.0,
            BillingEmail => 30.0,
            Address2 => 24.0,
            City => 20.0,
            Phone => 18.0,
            Province | OfficeId | LinkedTo => 16.0,
            Postal | Latitude | Longitude => 12.0,
            Type | Country => 8.0,
            Contacts => 18.0,
        }
    }
}

/// What to export of organizations and how.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct OrganizationExportOptions {
    pub format: ExportFormat,
    /// Columns in order; empty means every field, then the contacts.
    /// Without `contacts` among them, there is one row per organization and no contact columns.
    pub columns: Vec<OrganizationColumn>,
    pub contacts: ContactLayout,
    /// Adds a `sync_state` column.
    pub sync_state: bool,
    pub semicolon: bool,
    pub bom: bool,
}

/// A contact's columns, with their spreadsheet widths (in characters).
const CONTACT_COLUMNS: [(&str, f64); 5] =
    [("first_name", 18.0), ("last_name", 18.0), ("email", 30.0), ("phone", 18.0), ("work_phone", 18.0)];

fn org_cells(o: &Organization) -> [Cell<'static>; OWN_FIELDS] {
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
    let columns = if options.columns.is_empty() { OrganizationColumn::ALL.to_vec() } else { options.columns.clone() };
    let with_contacts = columns.contains(&OrganizationColumn::Contacts);
    // Each chosen column as its field's place in `org_cells`, or `None` for the contact block: worked out once, not per row.
    let places: Vec<Option<usize>> = columns.iter().map(|c| c.own_index()).collect();
    let mut headers: Vec<Column> = Vec::new();
    for (&column, &place) in columns.iter().zip(&places) {
        match place {
            Some(_) => headers.push(Column::new(column.as_str(), column.width())),
            None => match options.contacts {
                ContactLayout::Rows => headers
                    .extend(CONTACT_COLUMNS.iter().map(|&(name, width)| Column::new(format!("contact_{name}"), width))),
                ContactLayout::Columns => headers.extend((1..=most_contacts).flat_map(|n| {
                    CONTACT_COLUMNS.iter().map(move |&(name, width)| Column::new(format!("contact_{n}_{name}"), width))
                })),
            },
        }
    }
    if options.sync_state {
        headers.push(Column::new("sync_state", 10.0));
    }
    // One row: the chosen fields in order, `contacts` standing for the given contact cells.
    let row = |o: &Organization, contacts: &mut dyn Iterator<Item = Cell<'static>>| {
        let mut own = org_cells(o).map(Some);
        let mut cells = Vec::with_capacity(headers.len());
        for &place in &places {
            match place {
                Some(i) => cells.push(own[i].take().unwrap_or(Cell::Empty)),
                None => cells.extend(&mut *contacts),
            }
        }
        if options.sync_state {
            cells.push(Cell::text(o.sync_state.as_str()));
        }
        cells.into_iter()
    };
    let layout = FileLayout { format: options.format, semicolon: options.semicolon, bom: options.bom };
    write_file(store.path(), path, layout, "Organizations", &headers, total, progress, |out| {
        store.for_each_organization(query, |o| -> Result<(), ExportError> {
            let blank = |n: usize| (0..n).map(|_| Cell::Empty);
            match options.contacts {
                _ if !with_contacts => out.row(row(&o, &mut std::iter::empty()))?,
                ContactLayout::Rows => {
                    for c in &o.fields.contacts {
                        out.row(row(&o, &mut contact_cells(c).into_iter()))?;
                    }
                    // An organization without contacts is one row with the contact cells empty, not left out.
                    if o.fields.contacts.is_empty() {
                        out.row(row(&o, &mut blank(CONTACT_COLUMNS.len())))?;
                    }
                }
                ContactLayout::Columns => {
                    let missing = (most_contacts - o.fields.contacts.len().min(most_contacts)) * CONTACT_COLUMNS.len();
                    let mut contacts = o.fields.contacts.iter().flat_map(contact_cells).chain(blank(missing));
                    out.row(row(&o, &mut contacts))?;
                }
            }
            out.record_done()
        })
    })
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

    /// Every trigger behind every leading run of whitespace or control
    /// characters (OWASP's full list), behind quotes or not: neutralised, and
    /// each value, neutralised or not, comes back exactly.
    #[test]
    fn every_formula_prefix_behind_whitespace_or_controls_is_neutralised() {
        let leads = ["", " ", "  ", "\0", "\n", "\r", "\t", " \n", "\u{b}", "\u{c}", "\u{a0}", "\u{3000}"];
        let quotes = ["", "'", "''"];
        for trigger in ['=', '+', '-', '@'] {
            for lead in leads {
                for quote in quotes {
                    let value = format!("{quote}{lead}{trigger}HYPERLINK(\"http://x\")");
                    let out = neutralise_cell(&value);
                    assert!(out.starts_with('\'') && out.len() == value.len() + 1, "{value:?} -> {out:?}");
                    assert_eq!(restore_cell(&out), value);
                }
            }
        }
        // A cell starting with tab, carriage return or line feed is marked whatever follows.
        for value in ["\tplain", "\rplain", "\nplain"] {
            assert!(neutralise_cell(value).starts_with('\''), "{value:?}");
        }
        // Ordinary values pass as they are, and so does a quote that would not run.
        for value in ["Acme", "a=b", "x-y", "net 30", "'quoted", "info@acme.example", "84 28 1234"] {
            assert_eq!(neutralise_cell(value), value);
            assert_eq!(restore_cell(value), value);
        }
        // A phone with its + must be marked in CSV (the XLSX writer keeps it as typed text).
        assert_eq!(neutralise_cell("+84 28 1234"), "'+84 28 1234");
        proptest::proptest!(|(value in "\\PC{0,12}|['=+@ \\t\\r\\n-]{0,6}\\PC{0,4}")| {
            let written = neutralise_cell(&value);
            proptest::prop_assert_eq!(restore_cell(&written), value.as_str());
        });
    }

    #[test]
    fn columns_parse_by_name() {
        assert_eq!("sales_amount".parse::<PartnerColumn>().unwrap(), PartnerColumn::SalesAmount);
        assert!("salary".parse::<PartnerColumn>().unwrap_err().contains("use key, company_name"));
        let options = ExportOptions { sync_state: true, ..Default::default() };
        assert_eq!(options.resolved_columns().last(), Some(&PartnerColumn::SyncState));
    }
}
