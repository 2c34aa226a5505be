//! Reading a file from a stranger: CSV (UTF-8, UTF-16 with a BOM, or
//! Windows-1252; comma, semicolon or tab) and XLSX, with limits a person never
//! reaches and a hostile file cannot pass, checked while reading and before
//! anything is allocated for what the file claims.
//!
//! The limits, and why:
//! - [`MAX_FILE_BYTES`], 256 MB: a 1,000,000-row export of partners at every
//!   field's limit is under 200 MB as CSV.
//! - [`MAX_ROWS`], 1,000,000 data rows: ten times the largest book of partners
//!   the benchmarks import; past it a file is refused, not read in part.
//! - [`MAX_COLUMNS`], 256: the export has 15; a header wider than this is no
//!   partner list. Only the six columns the import uses are kept per row, so
//!   a wide file costs no more memory than a narrow one.
//! - [`MAX_CELL_CHARS`], 32,767: Excel's own limit for a cell; every field the
//!   import keeps is at most 100 characters, so this is a bound, not a rule.
//! - XLSX: each zip entry at most [`MAX_ENTRY_BYTES`] (64 MB) unpacked and at
//!   most [`MAX_RATIO`] (100) times its packed size, all entries together at
//!   most 256 MB, each measured by unpacking it (the sizes the zip declares
//!   are the file author's word, as is the sheet's `<dimension>`, which is
//!   never used). A 100,000-row sheet is about 25 MB unpacked, at a ratio of
//!   about 8.

use std::io::Read;
use std::path::Path;

use super::{ImportError, REQUIRED};

pub const MAX_FILE_BYTES: u64 = 256 << 20;
pub const MAX_ROWS: usize = 1_000_000;
pub const MAX_COLUMNS: usize = 256;
pub const MAX_CELL_CHARS: usize = 32_767;
pub const MAX_ENTRY_BYTES: u64 = 64 << 20;
pub const MAX_TOTAL_UNPACKED: u64 = 256 << 20;
pub const MAX_RATIO: u64 = 100;

/// A data row: its number in the file (the header is row 1) and the six
/// columns the import uses, in [`REQUIRED`]'s order.
pub type NumberedRow = (u64, [String; 6]);

/// What was read, and how.
pub struct Table {
    pub rows: Vec<NumberedRow>,
    /// "UTF-8", "UTF-8 with BOM", "UTF-16LE", "UTF-16BE", "Windows-1252", or "XLSX".
    pub encoding: &'static str,
    /// `,`, `;` or tab for CSV; `None` for XLSX.
    pub delimiter: Option<char>,
}

fn refuse(path: &Path, cause: impl Into<String>) -> ImportError {
    ImportError::Read { path: path.to_path_buf(), cause: cause.into() }
}

/// Reads every data row of `path` (CSV, or XLSX by its extension).
pub fn read_table(path: &Path) -> Result<Table, ImportError> {
    let size = std::fs::metadata(path).map_err(|e| refuse(path, e.to_string()))?.len();
    if size > MAX_FILE_BYTES {
        return Err(refuse(
            path,
            format!("it is {} MB; an import reads files of at most {} MB", size >> 20, MAX_FILE_BYTES >> 20),
        ));
    }
    if path.extension().is_some_and(|e| e.eq_ignore_ascii_case("xlsx")) { read_xlsx(path) } else { read_csv(path) }
}

/// Collects rows: the header decides which columns are kept; every limit is
/// checked on the way.
struct Rows<'p> {
    path: &'p Path,
    /// For each of [`REQUIRED`], its column in the file.
    columns: Option<[usize; 6]>,
    rows: Vec<NumberedRow>,
}

impl<'p> Rows<'p> {
    fn new(path: &'p Path) -> Self {
        Rows { path, columns: None, rows: Vec::new() }
    }

    fn cell_ok(&self, line: u64, column: usize, text: &str) -> Result<(), ImportError> {
        if text.len() > MAX_CELL_CHARS && text.chars().count() > MAX_CELL_CHARS {
            return Err(refuse(
                self.path,
                format!("row {line}, column {} holds more than {MAX_CELL_CHARS} characters", column + 1),
            ));
        }
        Ok(())
    }

    fn header(&mut self, cells: &[String]) -> Result<(), ImportError> {
        if cells.len() > MAX_COLUMNS {
            return Err(refuse(
                self.path,
                format!("its header has {} columns; an import reads at most {MAX_COLUMNS}", cells.len()),
            ));
        }
        let names: Vec<String> = cells.iter().map(|h| h.trim().to_lowercase()).collect();
        let mut columns = [0; 6];
        for (i, required) in REQUIRED.iter().enumerate() {
            columns[i] = names.iter().position(|n| n == required).ok_or_else(|| ImportError::MissingColumn {
                path: self.path.to_path_buf(),
                missing: required.to_string(),
            })?;
        }
        self.columns = Some(columns);
        Ok(())
    }

    /// One data row, `cell(i)` giving the file's column `i` (empty when absent).
    fn row(&mut self, line: u64, cell: impl Fn(usize) -> Option<String>) -> Result<(), ImportError> {
        let columns = self.columns.expect("the header comes first");
        let kept: [String; 6] = columns.map(|c| cell(c).unwrap_or_default());
        if kept.iter().all(|c| c.trim().is_empty()) {
            return Ok(());
        }
        if self.rows.len() == MAX_ROWS {
            return Err(refuse(self.path, format!("it has more than {MAX_ROWS} rows; an import reads at most that")));
        }
        self.rows.push((line, kept));
        Ok(())
    }
}

/// The encoding of a CSV file, decided by streaming over it once: UTF-8
/// (with or without a BOM) and UTF-16 with a BOM are taken as such; a file
/// that is not valid UTF-8 is Windows-1252 (what Excel on Windows saves as
/// "CSV"), unless it also holds valid UTF-8 beyond ASCII before its first bad
/// byte (or has a UTF-8 BOM): then it is UTF-8 with a bad byte, and that line
/// is named rather than read as something else.
fn sniff(path: &Path) -> Result<(&'static encoding_rs::Encoding, &'static str), ImportError> {
    let open = || std::fs::File::open(path).map_err(|e| refuse(path, e.to_string()));
    let mut head = [0u8; 3];
    let got = read_up_to(&mut open()?, &mut head).map_err(|e| refuse(path, e.to_string()))?;
    let head = &head[..got];
    if head.starts_with(b"\xFF\xFE") {
        return Ok((encoding_rs::UTF_16LE, "UTF-16LE"));
    }
    if head.starts_with(b"\xFE\xFF") {
        return Ok((encoding_rs::UTF_16BE, "UTF-16BE"));
    }
    let bom = head.starts_with(b"\xEF\xBB\xBF");
    // Validate the whole file as UTF-8, 64 KB at a time, counting lines.
    let mut file = open()?;
    let (mut carry, mut chunk) = (Vec::new(), vec![0u8; 64 << 10]);
    let (mut lines, mut beyond_ascii) = (1usize, false);
    loop {
        let n = file.read(&mut chunk).map_err(|e| refuse(path, e.to_string()))?;
        if n == 0 {
            if carry.is_empty() {
                return Ok((encoding_rs::UTF_8, if bom { "UTF-8 with BOM" } else { "UTF-8" }));
            }
            break; // a sequence cut off by the end of the file
        }
        carry.extend_from_slice(&chunk[..n]);
        let (valid, bad) = match std::str::from_utf8(&carry) {
            Ok(_) => (carry.len(), false),
            Err(e) => (e.valid_up_to(), e.error_len().is_some()),
        };
        lines += carry[..valid].iter().filter(|b| **b == b'\n').count();
        beyond_ascii |= carry[..valid].iter().any(|b| *b >= 0x80);
        if bad {
            break;
        }
        carry.drain(..valid);
    }
    if bom || beyond_ascii {
        return Err(refuse(
            path,
            format!("line {lines} is not valid UTF-8 (the rest of the file is); save it as UTF-8 again"),
        ));
    }
    Ok((encoding_rs::WINDOWS_1252, "Windows-1252"))
}

fn read_up_to(file: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// A file decoded to UTF-8 as it is read (a BOM dropped), so a large file
/// is never held whole, in its own encoding or in UTF-8.
struct Decoding<R> {
    inner: R,
    decoder: encoding_rs::Decoder,
    raw: Vec<u8>,
    out: Vec<u8>,
    at: usize,
    done: bool,
}

impl<R: Read> Decoding<R> {
    fn new(inner: R, encoding: &'static encoding_rs::Encoding) -> Self {
        let decoder = encoding.new_decoder_with_bom_removal();
        Decoding { inner, decoder, raw: vec![0; 64 << 10], out: Vec::new(), at: 0, done: false }
    }
}

impl<R: Read> Read for Decoding<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        while self.at == self.out.len() {
            if self.done {
                return Ok(0);
            }
            let n = self.inner.read(&mut self.raw)?;
            let last = n == 0;
            let room = self.decoder.max_utf8_buffer_length(n).unwrap_or(n * 3 + 16);
            self.out.resize(room, 0);
            let (_, _, written, _) = self.decoder.decode_to_utf8(&self.raw[..n], &mut self.out, last);
            self.out.truncate(written);
            self.at = 0;
            self.done = last;
        }
        let n = buf.len().min(self.out.len() - self.at);
        buf[..n].copy_from_slice(&self.out[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

fn read_csv(path: &Path) -> Result<Table, ImportError> {
    use std::io::BufRead;
    let (encoding, name) = sniff(path)?;
    let file = std::fs::File::open(path).map_err(|e| refuse(path, e.to_string()))?;
    let mut decoded = std::io::BufReader::with_capacity(256 << 10, Decoding::new(file, encoding));
    // The delimiter: whichever of comma, semicolon and tab the header line has most of.
    let head = decoded.fill_buf().map_err(|e| refuse(path, e.to_string()))?;
    let header_line = head.split(|b| *b == b'\n').next().unwrap_or_default();
    let delimiter = [b',', b';', b'\t']
        .into_iter()
        .max_by_key(|d| header_line.iter().filter(|b| *b == d).count())
        .expect("three candidates");
    let mut reader =
        csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(decoded);
    let mut rows = Rows::new(path);
    let mut record = csv::StringRecord::new();
    let mut line: u64 = 0;
    loop {
        match reader.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(refuse(path, e.to_string())),
        }
        line += 1;
        if record.len() > MAX_COLUMNS {
            return Err(refuse(path, format!("row {line} has {} columns; at most {MAX_COLUMNS}", record.len())));
        }
        for (column, cell) in record.iter().enumerate() {
            rows.cell_ok(line, column, cell)?;
        }
        if line == 1 {
            let cells: Vec<String> = record.iter().map(str::to_string).collect();
            rows.header(&cells)?;
        } else {
            rows.row(line, |c| record.get(c).map(|v| super::restore_cell(v).to_string()))?;
        }
    }
    if rows.columns.is_none() {
        return Err(refuse(path, "it is empty"));
    }
    Ok(Table { rows: rows.rows, encoding: name, delimiter: Some(delimiter as char) })
}

/// Unpacks every zip entry once, counting, before calamine reads any: the
/// sizes the zip declares are not trusted.
fn check_zip(path: &Path) -> Result<(), ImportError> {
    let file = std::fs::File::open(path).map_err(|e| refuse(path, e.to_string()))?;
    let mut zip = zip::ZipArchive::new(file).map_err(|e| refuse(path, format!("it is not an XLSX file ({e})")))?;
    let mut total: u64 = 0;
    for i in 0..zip.len() {
        let mut entry = zip.by_index(i).map_err(|e| refuse(path, format!("it is damaged ({e})")))?;
        let name = entry.name().map(|n| n.into_owned()).unwrap_or_else(|_| format!("entry {i}"));
        let (packed, declared) = (entry.compressed_size().max(1), entry.size());
        let unpacked = std::io::copy(&mut (&mut entry).take(MAX_ENTRY_BYTES + 1), &mut std::io::sink())
            .map_err(|e| refuse(path, format!("{name} in it is damaged ({e})")))?;
        if unpacked != declared && unpacked <= MAX_ENTRY_BYTES {
            return Err(refuse(
                path,
                format!("{name} in it is not the size the file says ({declared} bytes, {unpacked} read)"),
            ));
        }
        if unpacked > MAX_ENTRY_BYTES {
            return Err(refuse(path, format!("{name} in it unpacks to more than {} MB", MAX_ENTRY_BYTES >> 20)));
        }
        if unpacked > 1 << 20 && unpacked / packed > MAX_RATIO {
            return Err(refuse(
                path,
                format!("{name} in it unpacks to {} times its size, more than a spreadsheet does", unpacked / packed),
            ));
        }
        total += unpacked;
        if total > MAX_TOTAL_UNPACKED {
            return Err(refuse(path, format!("it unpacks to more than {} MB", MAX_TOTAL_UNPACKED >> 20)));
        }
    }
    Ok(())
}

fn read_xlsx(path: &Path) -> Result<Table, ImportError> {
    use calamine::{Data, DataRef, Reader, Xlsx, open_workbook};
    check_zip(path)?;
    let mut book: Xlsx<_> = open_workbook(path).map_err(|e: calamine::XlsxError| refuse(path, e.to_string()))?;
    let sheet = book.sheet_names().first().cloned().ok_or_else(|| refuse(path, "the workbook has no sheet"))?;
    let mut cells = book.worksheet_cells_reader(&sheet).map_err(|e| refuse(path, e.to_string()))?;
    // Cells come row by row, in order; only used cells, so a cell far away costs one cell.
    let text = |value: &DataRef<'_>| -> String {
        match value {
            DataRef::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
            DataRef::Empty => String::new(),
            other => Data::from(other.clone()).to_string(),
        }
    };
    let mut header: Vec<String> = Vec::new();
    let mut current: Option<(u32, Vec<(usize, String)>)> = None;
    let mut rows = Rows::new(path);
    let flush = |rows: &mut Rows<'_>, header: &mut Vec<String>, row: u32, found: Vec<(usize, String)>| {
        let line = u64::from(row) + 1;
        if rows.columns.is_none() {
            // The first used row is the header (cells past MAX_COLUMNS were not kept).
            let width = found.iter().map(|(c, _)| c + 1).max().unwrap_or(0);
            *header = vec![String::new(); width];
            for (c, v) in found {
                header[c] = v;
            }
            return rows.header(header);
        }
        rows.row(line, |c| found.iter().find(|(at, _)| *at == c).map(|(_, v)| v.clone()))
    };
    while let Some(cell) = cells.next_cell().map_err(|e| refuse(path, e.to_string()))? {
        let (row, column) = cell.get_position();
        let value = text(cell.get_value());
        rows.cell_ok(u64::from(row) + 1, column as usize, &value)?;
        match &mut current {
            Some((at, found)) if *at == row => {
                if (column as usize) < MAX_COLUMNS {
                    found.push((column as usize, value));
                }
            }
            _ => {
                if let Some((at, found)) = current.take() {
                    flush(&mut rows, &mut header, at, found)?;
                }
                let found = if (column as usize) < MAX_COLUMNS { vec![(column as usize, value)] } else { vec![] };
                current = Some((row, found));
            }
        }
    }
    if let Some((at, found)) = current.take() {
        flush(&mut rows, &mut header, at, found)?;
    }
    if rows.columns.is_none() {
        return Err(refuse(path, "its first sheet is empty"));
    }
    Ok(Table { rows: rows.rows, encoding: "XLSX", delimiter: None })
}
