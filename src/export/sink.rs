//! Where an export's rows go: one [`RowSink`] per format (CSV, JSON Lines,
//! XLSX), and [`write_file`], which gives every format the same safety: a
//! temporary file beside the target, renamed into place only when complete,
//! progress every thousand records and a cancel that leaves nothing behind.

use std::borrow::Cow;
use std::io::{BufWriter, Write};
use std::path::Path;

use super::{ExportError, ExportFormat, Progress, neutralise_cell};

/// Records between two progress reports.
const PROGRESS_EVERY: u64 = 1000;

/// One value of a row, borrowed from the database row where it can be.
pub(super) enum Cell<'a> {
    Text(Cow<'a, str>),
    Integer(i64),
    Number(f64),
    /// A time as the store keeps it (RFC 3339, UTC, milliseconds).
    Time(Cow<'a, str>),
    Empty,
}

impl Cell<'_> {
    pub(super) fn text(value: impl Into<String>) -> Cell<'static> {
        Cell::Text(Cow::Owned(value.into()))
    }

    pub(super) fn optional(value: &Option<String>) -> Cell<'static> {
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

/// A header cell and its spreadsheet width, in characters.
pub(super) struct Column {
    pub name: Cow<'static, str>,
    pub width: f64,
}

impl Column {
    pub(super) fn new(name: impl Into<Cow<'static, str>>, width: f64) -> Column {
        Column { name: name.into(), width }
    }
}

/// How the file is laid out (the CSV options are ignored by the other formats).
#[derive(Debug, Clone, Copy)]
pub(super) struct FileLayout {
    pub format: ExportFormat,
    pub semicolon: bool,
    pub bom: bool,
}

/// An open export file of one format.
trait RowSink {
    fn row(&mut self, cells: &mut dyn Iterator<Item = Cell<'_>>) -> Result<(), ExportError>;
    /// Writes what is buffered; the file at `path` is then complete.
    fn finish(self: Box<Self>, path: &Path) -> Result<(), ExportError>;
}

struct CsvSink<'f> {
    csv: csv::Writer<BufWriter<&'f std::fs::File>>,
    /// Reused to format numbers.
    scratch: String,
}

impl RowSink for CsvSink<'_> {
    fn row(&mut self, cells: &mut dyn Iterator<Item = Cell<'_>>) -> Result<(), ExportError> {
        use std::fmt::Write as _;
        // Field by field, straight from the row: no record is built.
        for cell in cells {
            let number = |scratch: &mut String, n: &dyn std::fmt::Display| {
                scratch.clear();
                let _ = write!(scratch, "{n}");
            };
            match cell {
                Cell::Text(t) | Cell::Time(t) => self.csv.write_field(neutralise_cell(&t).as_bytes())?,
                Cell::Integer(i) => {
                    number(&mut self.scratch, &i);
                    self.csv.write_field(self.scratch.as_bytes())?
                }
                Cell::Number(n) => {
                    number(&mut self.scratch, &n);
                    self.csv.write_field(self.scratch.as_bytes())?
                }
                Cell::Empty => self.csv.write_field([])?,
            }
        }
        self.csv.write_record(None::<&[u8]>)?;
        Ok(())
    }

    fn finish(self: Box<Self>, path: &Path) -> Result<(), ExportError> {
        let io = |source| ExportError::Io { path: path.to_path_buf(), source };
        self.csv.into_inner().map_err(|e| io(e.into_error()))?.flush().map_err(io)
    }
}

struct JsonlSink<'f> {
    file: BufWriter<&'f std::fs::File>,
    names: Vec<String>,
}

impl RowSink for JsonlSink<'_> {
    fn row(&mut self, cells: &mut dyn Iterator<Item = Cell<'_>>) -> Result<(), ExportError> {
        let mut line = serde_json::Map::new();
        for (name, cell) in self.names.iter().zip(cells) {
            let value = match cell {
                Cell::Integer(i) => serde_json::Value::from(i),
                Cell::Number(n) => serde_json::Value::from(n),
                Cell::Empty => serde_json::Value::Null,
                other => serde_json::Value::String(other.into_text()),
            };
            line.insert(name.clone(), value);
        }
        serde_json::to_writer(&mut self.file, &line)
            .map_err(std::io::Error::from)
            .and_then(|()| self.file.write_all(b"\n"))
            .map_err(|source| ExportError::Io { path: Default::default(), source })
    }

    fn finish(mut self: Box<Self>, path: &Path) -> Result<(), ExportError> {
        self.file.flush().map_err(|source| ExportError::Io { path: path.to_path_buf(), source })
    }
}

struct XlsxSink {
    workbook: rust_xlsxwriter::Workbook,
    row: u32,
    money: rust_xlsxwriter::Format,
    number: rust_xlsxwriter::Format,
    when: rust_xlsxwriter::Format,
}

impl XlsxSink {
    fn new(sheet_name: &str, columns: &[Column]) -> Result<XlsxSink, ExportError> {
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
        Ok(XlsxSink {
            workbook,
            row: 0,
            money: Format::new().set_num_format("#,##0"),
            number: Format::new().set_num_format("0.000000"),
            when: Format::new().set_num_format("yyyy-mm-dd hh:mm:ss"),
        })
    }
}

/// The most an XLSX cell holds, and the most data rows a sheet holds (one
/// row of 1,048,576 is the header): Excel's own limits.
pub const XLSX_MAX_CELL_CHARS: usize = 32_767;
pub const XLSX_MAX_ROWS: u64 = 1_048_575;

impl RowSink for XlsxSink {
    fn row(&mut self, cells: &mut dyn Iterator<Item = Cell<'_>>) -> Result<(), ExportError> {
        self.row += 1;
        let row = self.row;
        if u64::from(row) > XLSX_MAX_ROWS {
            return Err(ExportError::Limit(format!(
                "an XLSX sheet holds at most {XLSX_MAX_ROWS} rows; export as CSV or JSON Lines instead"
            )));
        }
        let sheet = self.workbook.worksheet_from_index(0)?;
        for (col, cell) in cells.enumerate() {
            let col = col as u16;
            // Strings are stored as text cells, never as formulas: no neutralising needed.
            match cell {
                Cell::Text(t) if t.chars().count() > XLSX_MAX_CELL_CHARS => {
                    return Err(ExportError::Limit(format!(
                        "row {row}, column {} holds more than {XLSX_MAX_CELL_CHARS} characters, the most an XLSX \
                         cell holds; export as CSV or JSON Lines instead",
                        col + 1
                    )));
                }
                Cell::Text(t) => sheet.write_string(row, col, t)?,
                Cell::Integer(n) => sheet.write_number_with_format(row, col, n as f64, &self.money)?,
                Cell::Number(n) => sheet.write_number_with_format(row, col, n, &self.number)?,
                Cell::Time(t) => match chrono::DateTime::parse_from_rfc3339(&t) {
                    Ok(when) => {
                        let date = rust_xlsxwriter::ExcelDateTime::from_timestamp(when.timestamp())?;
                        sheet.write_datetime_with_format(row, col, &date, &self.when)?
                    }
                    Err(_) => sheet.write_string(row, col, t)?,
                },
                Cell::Empty => sheet,
            };
        }
        Ok(())
    }

    fn finish(mut self: Box<Self>, path: &Path) -> Result<(), ExportError> {
        self.workbook.save(path)?;
        Ok(())
    }
}

/// Where a fill sends rows, with the progress bookkeeping of an export.
pub(super) struct Rows<'f, P> {
    sink: Box<dyn RowSink + 'f>,
    path: &'f Path,
    done: u64,
    total: u64,
    progress: P,
}

impl<P: FnMut(Progress) -> bool> Rows<'_, P> {
    pub(super) fn row<'c>(&mut self, mut cells: impl Iterator<Item = Cell<'c>>) -> Result<(), ExportError> {
        self.sink.row(&mut cells).map_err(|e| match e {
            ExportError::Io { source, .. } => ExportError::Io { path: self.path.to_path_buf(), source },
            other => other,
        })
    }

    /// Counts one record; every thousand, reports progress and honours a cancel.
    pub(super) fn record_done(&mut self) -> Result<(), ExportError> {
        self.done += 1;
        if self.done.is_multiple_of(PROGRESS_EVERY) && !(self.progress)(Progress { done: self.done, total: self.total })
        {
            return Err(ExportError::Cancelled);
        }
        Ok(())
    }
}

/// Writes a whole export: a temporary file beside `path`, the header, the
/// rows `fill` produces, then an atomic rename. Returns the records written.
/// Refused before anything is written when `path` is the database's own file.
#[allow(clippy::too_many_arguments)]
pub(super) fn write_file<P: FnMut(Progress) -> bool>(
    database: &Path,
    path: &Path,
    layout: FileLayout,
    sheet_name: &str,
    columns: &[Column],
    total: u64,
    progress: P,
    fill: impl FnOnce(&mut Rows<'_, P>) -> Result<(), ExportError>,
) -> Result<u64, ExportError> {
    let io = |source| ExportError::Io { path: path.to_path_buf(), source };
    if let Some(why) = crate::target::refusal(path, database, true) {
        return Err(ExportError::Target(why));
    }
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
        let sink: Box<dyn RowSink + '_> = match layout.format {
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
                Box::new(CsvSink { csv, scratch: String::new() })
            }
            ExportFormat::Jsonl => Box::new(JsonlSink {
                file: BufWriter::with_capacity(1 << 16, temp.as_file()),
                names: columns.iter().map(|c| c.name.to_string()).collect(),
            }),
            ExportFormat::Xlsx => Box::new(XlsxSink::new(sheet_name, columns)?),
        };
        let mut rows = Rows { sink, path, done: 0, total, progress };
        fill(&mut rows)?;
        let Rows { sink, done, mut progress, .. } = rows;
        sink.finish(temp.path())?;
        progress(Progress { done, total });
        done
    };
    temp.as_file().sync_all().map_err(io)?;
    temp.persist(path).map_err(|e| io(e.error))?;
    crate::target::sync_folder(path).map_err(io)?;
    Ok(done)
}
