//! Files from strangers, generated here, each imported by the real
//! `partnerbook` binary (a dry run and a real one): a clear refusal or a
//! correct import, nothing half-written, and the process's own peak memory
//! (its maximum resident set, from `wait4`) under 200 MB.

use std::io::Write;
use std::path::{Path, PathBuf};

use partnerbook::Store;
use serde_json::Value;

const PEAK_LIMIT_KB: i64 = 200 * 1024;
const HEADER: &str = "company_name,sales_amount,partner_type,email,frequency,payment_terms";

/// Runs `partnerbook --json partner import FILE` (with `--dry-run` if asked)
/// on `db`; returns its exit code, its JSON answer and its peak memory in KB.
fn import(db: &Path, file: &Path, dry_run: bool) -> (i32, Value, i64) {
    let mut command = std::process::Command::new(env!("CARGO_BIN_EXE_partnerbook"));
    command.arg("--db").arg(db).arg("--json").args(["partner", "import"]).arg(file);
    if dry_run {
        command.arg("--dry-run");
    }
    let run = fastrand::u32(..);
    let (out_path, err_path) = (db.with_extension(format!("out-{run}")), db.with_extension(format!("err-{run}")));
    let child = command
        .stdout(std::fs::File::create(&out_path).unwrap())
        .stderr(std::fs::File::create(&err_path).unwrap())
        .spawn()
        .unwrap();
    let (code, peak_kb) = wait_measured(child);
    // The report on standard output; a refusal, as {"error": …}, on standard error.
    let (out, err) = (std::fs::read_to_string(&out_path).unwrap(), std::fs::read_to_string(&err_path).unwrap());
    let answer = serde_json::from_str(&out)
        .or_else(|_| serde_json::from_str(err.lines().last().unwrap_or("null")))
        .unwrap_or_else(|_| Value::String(format!("stdout: {out} stderr: {err}")));
    (code, answer, peak_kb)
}

/// Waits for `child`, reading its peak resident memory (`VmHWM`, KB) as it
/// runs. Not `wait4`'s `ru_maxrss`: a child forked from this test process
/// starts with this process's pages and keeps their high-water mark across
/// `exec`, so it measured the tests, not the import. `VmHWM` starts afresh
/// with the program `exec` loads; it only grows, so the last reading before
/// the exit is the peak (to within the final couple of milliseconds).
fn wait_measured(mut child: std::process::Child) -> (i32, i64) {
    let status_path = format!("/proc/{}/status", child.id());
    let comm_path = format!("/proc/{}/comm", child.id());
    let mut peak_kb = 0;
    loop {
        let loaded = std::fs::read_to_string(&comm_path).is_ok_and(|c| c.trim() == "partnerbook");
        if loaded && let Ok(status) = std::fs::read_to_string(&status_path) {
            let hwm = status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<i64>().ok());
            peak_kb = peak_kb.max(hwm.unwrap_or(0));
        }
        if let Some(status) = child.try_wait().unwrap() {
            return (status.code().unwrap_or(-1), peak_kb);
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// A refusal: a non-zero exit with a message, nothing stored, memory bounded.
fn assert_refused(dir: &Path, file: &Path, says: &str) {
    let db = dir.join(format!("{}.db", file.file_name().unwrap().to_string_lossy()));
    for dry_run in [true, false] {
        let (code, answer, peak) = import(&db, file, dry_run);
        let message = answer["error"]["message"].as_str().unwrap_or_default().to_string();
        assert!(code != 0 && code > 0, "{file:?} dry_run={dry_run}: exit {code}, {answer}");
        assert!(message.contains(says), "{file:?}: {message:?} should say {says:?}");
        assert!(peak < PEAK_LIMIT_KB, "{file:?}: peak {} MB", peak / 1024);
    }
    assert_eq!(Store::open(&db).unwrap().record_counts().unwrap().0, 0, "something was stored");
}

/// An import: the expected rows, read as `encoding`, memory bounded.
fn assert_imported(dir: &Path, file: &Path, rows: u64, encoding: &str) -> Store {
    let db = dir.join(format!("{}.db", file.file_name().unwrap().to_string_lossy()));
    let (code, dry, peak) = import(&db, file, true);
    assert_eq!(code, 0, "{file:?}: {dry}");
    assert_eq!((dry["valid"].as_u64(), dry["encoding"].as_str()), (Some(rows), Some(encoding)), "{dry}");
    assert!(peak < PEAK_LIMIT_KB, "{file:?}: peak {} MB", peak / 1024);
    let (code, done, peak) = import(&db, file, false);
    assert_eq!((code, done["imported"].as_u64()), (0, Some(rows)), "{done}");
    assert!(peak < PEAK_LIMIT_KB, "{file:?}: peak {} MB", peak / 1024);
    Store::open(&db).unwrap()
}

/// A minimal XLSX: one sheet whose XML is `sheet` (shared strings as given).
fn xlsx(path: &Path, sheet: &str, shared_strings: Option<&mut dyn FnMut(&mut dyn Write)>) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let deflate = zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    let mut put = |name: &str, body: &str| {
        zip.start_file(name, deflate).unwrap();
        zip.write_all(body.as_bytes()).unwrap();
    };
    put(
        "[Content_Types].xml",
        r#"<?xml version="1.0" encoding="UTF-8"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/><Override PartName="/xl/workbook.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml"/><Override PartName="/xl/worksheets/sheet1.xml" ContentType="application/vnd.openxmlformats-officedocument.spreadsheetml.worksheet+xml"/></Types>"#,
    );
    put(
        "_rels/.rels",
        r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="xl/workbook.xml"/></Relationships>"#,
    );
    put(
        "xl/workbook.xml",
        r#"<?xml version="1.0" encoding="UTF-8"?><workbook xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"><sheets><sheet name="Partners" sheetId="1" r:id="rId1"/></sheets></workbook>"#,
    );
    let strings_rel = if shared_strings.is_some() {
        r#"<Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/sharedStrings" Target="sharedStrings.xml"/>"#
    } else {
        ""
    };
    put(
        "xl/_rels/workbook.xml.rels",
        &format!(
            r#"<?xml version="1.0" encoding="UTF-8"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/worksheet" Target="worksheets/sheet1.xml"/>{strings_rel}</Relationships>"#
        ),
    );
    put("xl/worksheets/sheet1.xml", sheet);
    if let Some(write) = shared_strings {
        zip.start_file("xl/sharedStrings.xml", deflate).unwrap();
        write(&mut zip);
    }
    zip.finish().unwrap();
}

/// A sheet row of inline strings.
fn row(r: u32, cells: &[&str]) -> String {
    let cols = ["A", "B", "C", "D", "E", "F"];
    let body: String = cells
        .iter()
        .enumerate()
        .map(|(i, v)| format!(r#"<c r="{}{r}" t="inlineStr"><is><t>{v}</t></is></c>"#, cols[i]))
        .collect();
    format!(r#"<row r="{r}">{body}</row>"#)
}

fn sheet(dimension: &str, rows: &str) -> String {
    format!(
        r#"<?xml version="1.0" encoding="UTF-8"?><worksheet xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main"><dimension ref="{dimension}"/><sheetData>{rows}</sheetData></worksheet>"#
    )
}

fn header_and_one() -> String {
    let header: Vec<&str> = HEADER.split(',').collect();
    row(1, &header) + &row(2, &["Far Cell Ltd", "10", "customer", "far@cell.example", "monthly", "net 30"])
}

fn dir() -> (tempfile::TempDir, PathBuf) {
    let d = tempfile::tempdir().unwrap();
    let p = d.path().to_path_buf();
    (d, p)
}

#[test]
fn a_far_cell_and_a_lying_dimension_cost_nothing() {
    let (_keep, dir) = dir();
    // A cell at XFD1048576, the dimension saying so: once this allocated 17 billion cells and aborted.
    let far = format!(r#"<row r="1048576"><c r="XFD1048576" t="inlineStr"><is><t>x</t></is></c></row>"#);
    let claims_huge = dir.join("far-huge.xlsx");
    xlsx(&claims_huge, &sheet("A1:XFD1048576", &(header_and_one() + &far)), None);
    assert!(std::fs::metadata(&claims_huge).unwrap().len() < 4_000);
    assert_imported(&dir, &claims_huge, 1, "XLSX");
    // The dimension lying the other way (a far cell, a small claim).
    let claims_small = dir.join("far-small.xlsx");
    xlsx(&claims_small, &sheet("A1:A1", &(header_and_one() + &far)), None);
    assert_imported(&dir, &claims_small, 1, "XLSX");
}

#[test]
fn a_shared_strings_zip_bomb_is_refused_before_it_is_read() {
    let (_keep, dir) = dir();
    let bomb = dir.join("bomb.xlsx");
    let mut strings = |out: &mut dyn Write| {
        out.write_all(br#"<?xml version="1.0" encoding="UTF-8"?><sst xmlns="http://schemas.openxmlformats.org/spreadsheetml/2006/main">"#).unwrap();
        let chunk = "<si><t>aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa</t></si>".repeat(1_000);
        for _ in 0..2_000 {
            out.write_all(chunk.as_bytes()).unwrap(); // 2,000 × 68 KB: about 136 MB unpacked
        }
        out.write_all(b"</sst>").unwrap();
    };
    xlsx(&bomb, &sheet("A1:F2", &header_and_one()), Some(&mut strings));
    assert!(std::fs::metadata(&bomb).unwrap().len() < 2_000_000, "packed small");
    assert_refused(&dir, &bomb, "unpacks to");
}

#[test]
fn a_very_wide_header_is_refused_and_wide_rows_cost_only_the_columns_used() {
    let (_keep, dir) = dir();
    let wide = dir.join("wide.csv");
    let extra: String = (0..10_000).map(|i| format!(",extra{i}")).collect();
    std::fs::write(&wide, format!("{HEADER}{extra}\nA Co,1,customer,a@a.example,monthly,net 30\n")).unwrap();
    assert_refused(&dir, &wide, "columns");
    // 250 columns (within the limit) and 20,000 rows: only the six used are kept.
    let broad = dir.join("broad.csv");
    let mut text = format!("{HEADER}{}\n", (0..244).map(|i| format!(",x{i}")).collect::<String>());
    let filler: String = (0..244).map(|_| ",filler-value-of-some-length").collect();
    for i in 0..20_000 {
        text.push_str(&format!("Broad {i} Co,{i},customer,b{i}@broad.example,monthly,net 30{filler}\n"));
    }
    std::fs::write(&broad, text).unwrap();
    assert_imported(&dir, &broad, 20_000, "UTF-8");
}

#[test]
fn a_multi_gigabyte_sparse_file_is_refused_by_its_size() {
    let (_keep, dir) = dir();
    let huge = dir.join("huge.csv");
    let file = std::fs::File::create(&huge).unwrap();
    file.set_len(3 << 30).unwrap(); // 3 GB of nothing, no disk used
    assert_refused(&dir, &huge, "at most 256 MB");
}

#[test]
fn windows_1252_and_utf_16_files_import_with_their_accents() {
    let (_keep, dir) = dir();
    let (latin, _, _) = encoding_rs::WINDOWS_1252.encode(
        "company_name;sales_amount;partner_type;email;frequency;payment_terms\r\nCafé Müller GmbH;10;customer;cafe@muller.example;monthly;net 30\r\n",
    );
    let excel = dir.join("excel-1252.csv");
    std::fs::write(&excel, &latin).unwrap();
    let store = assert_imported(&dir, &excel, 1, "Windows-1252");
    let names: Vec<String> =
        store.list_partners(&Default::default()).unwrap().items.into_iter().map(|p| p.fields.company_name).collect();
    assert_eq!(names, ["Café Müller GmbH"]);

    let mut utf16 = vec![0xFF, 0xFE];
    for unit in format!("{HEADER}\tignored\nSài Gòn Textiles,5,supplier,sg@sg.example,weekly,net 15\n")
        .replace(',', "\t")
        .encode_utf16()
    {
        utf16.extend(unit.to_le_bytes());
    }
    let sixteen = dir.join("utf16.csv");
    std::fs::write(&sixteen, utf16).unwrap();
    let (code, dry, _) = import(&dir.join("u16.db"), &sixteen, true);
    assert_eq!((code, dry["encoding"].as_str(), dry["delimiter"].as_str()), (0, Some("UTF-16LE"), Some("\t")), "{dry}");
}

#[test]
fn a_utf_8_file_with_one_bad_byte_names_its_line() {
    let (_keep, dir) = dir();
    let mut bytes = format!("{HEADER}\nNguyễn Co,1,customer,n@n.example,monthly,net 30\n").into_bytes();
    bytes.extend(b"Bad \xFF Byte Co,1,customer,b@b.example,monthly,net 30\n");
    let file = dir.join("bad-byte.csv");
    std::fs::write(&file, bytes).unwrap();
    assert_refused(&dir, &file, "line 3 is not valid UTF-8");
}

/// An export never lands on the live database or its files, by any name; a
/// rejects file is never written through a symbolic link (its target stays
/// as it was) and nothing is imported then.
#[test]
fn targets_are_checked_before_anything_is_written() {
    use partnerbook::export::{ExportOptions, export_partners};
    let (_keep, dir) = dir();
    let db = dir.join("live.db");
    let mut store = Store::open(&db).unwrap();
    let row = "Target Co,1,customer,t@t.example,monthly,net 30";
    store
        .create_partner(
            &partnerbook::PartnerDraft {
                company_name: "Kept".into(),
                sales_amount: "1".into(),
                partner_type: "customer".into(),
                email: "kept@k.example".into(),
                frequency: "monthly".into(),
                payment_terms: "net 30".into(),
            },
            None,
        )
        .unwrap();
    let before = std::fs::read(&db).unwrap();
    for name in ["live.db", "live.db-wal", "live.db-shm", "sub/../live.db"] {
        if name.starts_with("sub") {
            std::fs::create_dir_all(dir.join("sub")).unwrap();
        }
        let refused =
            export_partners(&store, &Default::default(), &ExportOptions::default(), &dir.join(name), |_| true);
        assert!(format!("{refused:?}").contains("own database"), "{name}: {refused:?}");
    }
    assert_eq!(std::fs::read(&db).unwrap(), before, "the database was written over");
    assert_eq!(store.record_counts().unwrap().0, 1);

    // A rejects path that is a link: refused, its target untouched, nothing imported.
    let file = dir.join("in.csv");
    std::fs::write(&file, format!("{HEADER}\n{row}\nBroken,,,,,\n")).unwrap();
    let precious = dir.join("precious.txt");
    std::fs::write(&precious, "keep me").unwrap();
    let link = dir.join("rejects.csv");
    std::os::unix::fs::symlink(&precious, &link).unwrap();
    let outcome = partnerbook::import::import_partners(&mut store, &file, false, Some(&link));
    assert!(format!("{outcome:?}").contains("symbolic link"), "{outcome:?}");
    assert_eq!(std::fs::read_to_string(&precious).unwrap(), "keep me");
    assert_eq!(store.record_counts().unwrap().0, 1, "imported although refused");
    // A plain rejects path: written whole (by rename), the good row imported.
    let plain = dir.join("rejects-plain.csv");
    let report = partnerbook::import::import_partners(&mut store, &file, false, Some(&plain)).unwrap();
    assert_eq!(report.imported, 1);
    assert!(std::fs::read_to_string(&plain).unwrap().contains("Broken"));
}
