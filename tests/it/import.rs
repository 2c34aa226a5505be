//! Import: the export's own files round-trip exactly (hostile values too); a
//! mixed file writes exactly its valid, non-duplicate rows; a dry run writes nothing.

use crate::support;
use partnerbook::export::{ExportFormat, ExportOptions, export_partners};
use partnerbook::import::{ImportError, import_partners};
use partnerbook::store::PartnerQuery;
use partnerbook::{PartnerDraft, PartnerFields, Store};

const HOSTILE: [&str; 14] = [
    "=HYPERLINK(\"http://evil.example\",\"click\")",
    "+SUM(1,2)",
    "'=already quoted",
    "quote \" and, comma; semicolon",
    "line\nbreak\r\nCRLF",
    "emoji 😀 株式会社",
    "@cmd",
    // Triggers behind whitespace and control characters, and values that only look like them.
    "  =1+2 behind spaces",
    "\u{0}=behind a NUL",
    "\n@behind a line feed",
    "\t-behind a tab",
    "+84 28 1234 (a phone)",
    "'plain with a quote",
    "bidi \u{202E}override\u{202C} and \u{2066}isolate\u{2069}",
];

fn draft(name: &str, i: usize) -> PartnerDraft {
    PartnerDraft {
        company_name: name.into(),
        sales_amount: (i * 1_000_003 % 2_147_483_647).to_string(),
        partner_type: if i % 2 == 0 { "customer" } else { "supplier" }.into(),
        email: format!("p{i}@hostile.example"),
        frequency: format!("-{}", "f".repeat(29)),
        payment_terms: "=".repeat(50),
    }
}

fn all_fields(store: &Store) -> Vec<PartnerFields> {
    let mut out = Vec::new();
    store
        .for_each_partner(&PartnerQuery::default(), |p| -> Result<(), partnerbook::StoreError> {
            out.push(p.fields);
            Ok(())
        })
        .unwrap();
    out
}

#[test]
fn export_then_import_gives_identical_records() {
    let (dir, mut source) = support::temp_store("source.db");
    for (i, name) in HOSTILE.iter().enumerate() {
        source.create_partner(&draft(name, i), None).unwrap();
    }
    source.create_partner(&draft(&"W".repeat(100), 99), None).unwrap();
    let expected = all_fields(&source);

    for (name, options) in [
        ("plain.csv", ExportOptions::default()),
        ("excel.csv", ExportOptions { semicolon: true, bom: true, sync_state: true, ..Default::default() }),
        ("sheet.xlsx", ExportOptions { format: ExportFormat::Xlsx, ..Default::default() }),
    ] {
        let file = dir.path().join(name);
        export_partners(&source, &PartnerQuery::default(), &options, &file, |_| true).unwrap();
        if name.ends_with(".csv") {
            // Read as a spreadsheet would: no cell whose first character past whitespace and
            // controls is a formula trigger, unless it is marked with a leading quote.
            let delimiter = if options.semicolon { b';' } else { b',' };
            let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).from_path(&file).unwrap();
            for record in reader.records() {
                for cell in record.unwrap().iter() {
                    let first = cell.chars().find(|c| !(c.is_whitespace() || c.is_control()));
                    let runs = matches!(first, Some('=' | '+' | '-' | '@')) || cell.starts_with(['\t', '\r', '\n']);
                    assert!(!runs || cell.starts_with('\''), "{name}: {cell:?} would run");
                }
            }
        }
        let mut target = Store::open(dir.path().join(format!("{name}.db"))).unwrap();
        let report = import_partners(&mut target, &file, false, None).unwrap();
        assert_eq!((report.valid, report.invalid, report.duplicates), (expected.len() as u64, 0, 0), "{name}");
        assert_eq!(report.imported, expected.len() as u64);
        assert_eq!(all_fields(&target), expected, "{name} did not round-trip");
        if name == "sheet.xlsx" {
            // JSON Lines too, read back with serde: every value exactly as stored.
            let lines = dir.path().join("partners.jsonl");
            let options = ExportOptions { format: ExportFormat::Jsonl, ..Default::default() };
            export_partners(&source, &PartnerQuery::default(), &options, &lines, |_| true).unwrap();
            let mut read: Vec<String> = std::fs::read_to_string(&lines)
                .unwrap()
                .lines()
                .map(|l| {
                    serde_json::from_str::<serde_json::Value>(l).unwrap()["company_name"].as_str().unwrap().to_string()
                })
                .collect();
            let mut names: Vec<String> = expected.iter().map(|f| f.company_name.clone()).collect();
            read.sort();
            names.sort();
            assert_eq!(read, names, "JSON Lines did not round-trip");
        }
        assert_eq!(target.outbox().all().unwrap().len(), expected.len(), "each import queues its create");
    }
}

#[test]
fn a_mixed_file_writes_exactly_the_valid_unique_rows() {
    let (dir, mut store) = support::temp_store("mixed.db");
    store.create_partner(&draft("Existing Co", 1), None).unwrap(); // email p1@hostile.example
    let file = dir.path().join("mixed.csv");
    std::fs::write(
        &file,
        "email,company_name,sales_amount,partner_type,frequency,payment_terms,notes\n\
         new1@x.example,Fresh One,10,customer,monthly,net 30,ignored column\n\
         bad-email,Broken,-5,vendor,monthly,net 30,\n\
         P1@HOSTILE.EXAMPLE,Other name,10,customer,monthly,net 30,\n\
         new2@x.example,  existing   co ,10,supplier,weekly,net 15,\n\
         new3@x.example,Fresh Three,10,supplier,weekly,net 15,\n\
         new3@x.example,Fresh Three again,10,supplier,weekly,net 15,\n\
         ,,,,,,\n\
         new4@x.example,fresh   ONE,10,customer,monthly,net 30,\n",
    )
    .unwrap();
    let rejects = dir.path().join("rejects.csv");

    let dry = import_partners(&mut store, &file, true, Some(&rejects)).unwrap();
    assert_eq!((dry.valid, dry.invalid, dry.duplicates, dry.imported), (2, 1, 4, 0));
    assert_eq!(store.record_counts().unwrap().0, 1, "a dry run writes nothing");
    let statuses: Vec<(u64, &str)> = dry.rows.iter().map(|r| (r.row, r.status)).collect();
    assert_eq!(
        statuses,
        [(2, "ok"), (3, "invalid"), (4, "duplicate"), (5, "duplicate"), (6, "ok"), (7, "duplicate"), (9, "duplicate")]
    );
    let invalid_fields: Vec<&str> = dry.rows[1].errors.iter().map(|e| e.field.as_str()).collect();
    assert_eq!(invalid_fields, ["sales_amount", "partner_type", "email"]);
    assert!(dry.rows[2].duplicate_of.as_deref().unwrap().starts_with("existing partner"));
    assert_eq!(dry.rows[5].duplicate_of.as_deref(), Some("row 6"));
    assert_eq!(dry.rows[6].duplicate_of.as_deref(), Some("row 2"), "same name ignoring case and spacing");

    let written = std::fs::read_to_string(&rejects).unwrap();
    let rejected: Vec<csv::StringRecord> =
        csv::Reader::from_reader(written.as_bytes()).records().map(|r| r.unwrap()).collect();
    assert_eq!(rejected.len(), 5);
    assert_eq!(&rejected[0][0], "3");
    assert!(rejected[0][7].contains("Sales amount must be between 0 and 2147483647."), "{written}");

    let done = import_partners(&mut store, &file, false, None).unwrap();
    assert_eq!(done.imported, 2);
    let mut names: Vec<String> = all_fields(&store).into_iter().map(|f| f.company_name).collect();
    names.sort();
    assert_eq!(names, ["Existing Co", "Fresh One", "Fresh Three"]);
    // Importing the same file again: everything is now a duplicate.
    let again = import_partners(&mut store, &file, false, None).unwrap();
    assert_eq!((again.valid, again.imported), (0, 0));
}

#[test]
fn a_file_without_the_required_columns_is_refused_whole() {
    let (dir, mut store) = support::temp_store("x.db");
    let file = dir.path().join("wrong.csv");
    std::fs::write(&file, "name,email\nAcme,a@acme.example\n").unwrap();
    let err = import_partners(&mut store, &file, false, None).unwrap_err();
    assert!(matches!(err, ImportError::MissingColumn { .. }), "{err:?}");
    assert!(err.to_string().contains("no column company_name"), "{err}");
    assert_eq!(store.record_counts().unwrap().0, 0);
}

#[test]
fn the_command_line_imports_and_reports() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("in.csv");
    std::fs::write(
        &file,
        "company_name;sales_amount;partner_type;email;frequency;payment_terms\n\
         Acme;100;customer;a@acme.example;monthly;net 30\n\
         ;x;customer;b@acme.example;monthly;net 30\n",
    )
    .unwrap();
    let run = |args: &[&str]| {
        assert_cmd::Command::cargo_bin("partnerbook")
            .unwrap()
            .env("PARTNERBOOK_DB", dir.path().join("cli.db"))
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["partner", "import", file.to_str().unwrap(), "--dry-run"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(text.contains("row      3  invalid    Company name is required."), "{text}");
    assert!(
        text.contains("1 valid, 1 invalid, 0 duplicate; would import 1 (read as UTF-8, separated by ';')."),
        "{text}"
    );
    let out = run(&["--json", "partner", "import", file.to_str().unwrap()]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["imported"], 1);
    assert_eq!(report["rows"][1]["errors"][1]["field"], "sales_amount");
}

#[test]
fn a_large_import_whose_rejects_cannot_be_written_stores_nothing() {
    // More good rows than the checker hands over at once, so the writer has
    // saved most of them before the rejects file fails at the end.
    let dir = tempfile::tempdir().unwrap();
    let csv_path = dir.path().join("many.csv");
    let mut w = csv::Writer::from_path(&csv_path).unwrap();
    w.write_record(["company_name", "sales_amount", "partner_type", "email", "frequency", "payment_terms"]).unwrap();
    for i in 0..2_500 {
        w.write_record([
            format!("Firm {i}"),
            i.to_string(),
            "customer".into(),
            format!("f{i}@firm.example"),
            "monthly".into(),
            "net 30".into(),
        ])
        .unwrap();
    }
    w.write_record(["", "x", "friend", "not an email", "", ""]).unwrap();
    w.flush().unwrap();
    let mut store = Store::open(dir.path().join("p.db")).unwrap();

    let not_a_file = dir.path(); // a folder: the rejects cannot be written there
    let err = import_partners(&mut store, &csv_path, false, Some(not_a_file)).unwrap_err();
    assert!(matches!(err, ImportError::Write { .. }), "{err:?}");
    assert_eq!(store.list_partners(&PartnerQuery::default()).unwrap().total, 0);
    assert!(store.outbox().all().unwrap().is_empty());

    // With somewhere to write them, the same file imports its 2,500 good rows.
    let report = import_partners(&mut store, &csv_path, false, Some(&dir.path().join("rejects.csv"))).unwrap();
    assert_eq!((report.imported, report.invalid), (2_500, 1));
    assert_eq!(store.list_partners(&PartnerQuery::default()).unwrap().total, 2_500);
    let found = store.list_partners(&PartnerQuery { search: Some("firm 2499".into()), ..Default::default() }).unwrap();
    assert_eq!(found.total, 1);
}

#[test]
fn a_file_with_nothing_to_write_is_answered_while_another_process_writes() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("busy.db");
    let mut store = Store::open(&db).unwrap();
    let other = rusqlite::Connection::open(&db).unwrap();
    other.execute_batch("BEGIN IMMEDIATE; DELETE FROM settings;").unwrap();

    let wrong = dir.path().join("wrong.csv");
    std::fs::write(&wrong, "name,email\nAcme,a@acme.example\n").unwrap();
    let err = import_partners(&mut store, &wrong, false, None).unwrap_err();
    assert!(matches!(err, ImportError::MissingColumn { .. }), "{err:?}");

    let all_bad = dir.path().join("bad.csv");
    std::fs::write(
        &all_bad,
        "company_name,sales_amount,partner_type,email,frequency,payment_terms\n,-1,friend,nope,,\n",
    )
    .unwrap();
    let report = import_partners(&mut store, &all_bad, false, None).unwrap();
    assert_eq!((report.invalid, report.imported), (1, 0));
    other.execute_batch("ROLLBACK").unwrap();
}

/// The import refuses what the form's duplicate warning calls certain: the
/// same name once accents, punctuation and legal forms are set aside. A
/// merely similar name is imported (the form warns; a file cannot ask).
#[test]
fn an_import_compares_names_as_the_duplicate_warning_does() {
    let (dir, mut store) = support::temp_store("names.db");
    let mut existing = draft("Müller Maschinenbau GmbH", 1);
    existing.email = "info@mueller.example".into();
    store.create_partner(&existing, None).unwrap();
    let file = dir.path().join("names.csv");
    std::fs::write(
        &file,
        "email,company_name,sales_amount,partner_type,frequency,payment_terms\n\
         a@x.example,MULLER MASCHINENBAU,10,customer,monthly,net 30\n\
         b@x.example,\"Saigon Textiles, JSC\",10,customer,monthly,net 30\n\
         c@x.example,Saigon Textiles Co. Ltd,10,customer,monthly,net 30\n\
         d@x.example,Muller Maschinenbaw,10,customer,monthly,net 30\n",
    )
    .unwrap();
    let report = import_partners(&mut store, &file, true, None).unwrap();
    let statuses: Vec<(u64, &str)> = report.rows.iter().map(|r| (r.row, r.status)).collect();
    assert_eq!(statuses, [(2, "duplicate"), (3, "ok"), (4, "duplicate"), (5, "ok")]);
    assert_eq!(report.rows[2].duplicate_of.as_deref(), Some("row 3"));
}

/// Progress is told as the file is checked; stopping it part-way, or at the
/// very end, saves nothing.
#[test]
fn an_import_reports_progress_and_stopping_it_saves_nothing() {
    use partnerbook::import::import_partners_with;
    let (dir, mut store) = support::temp_store("stop.db");
    let file = dir.path().join("big.csv");
    let mut text = String::from("email,company_name,sales_amount,partner_type,frequency,payment_terms\n");
    for i in 0..5_000 {
        text.push_str(&format!("p{i}@stop.example,Company Number {i},{i},customer,monthly,net 30\n"));
    }
    std::fs::write(&file, text).unwrap();
    for stop_after in [2, 6] {
        let mut told = Vec::new();
        let outcome = import_partners_with(&mut store, &file, false, None, |p| {
            told.push((p.done, p.total));
            told.len() < stop_after
        });
        assert!(matches!(outcome, Err(ImportError::Cancelled)), "{outcome:?}");
        assert_eq!(store.record_counts().unwrap().0, 0, "stopped after {stop_after} reports, something was saved");
        assert!(told.iter().all(|(_, total)| *total == 5_000));
    }
    // Let run, the reports climb to the end and everything is saved.
    let mut told = Vec::new();
    let report = import_partners_with(&mut store, &file, false, None, |p| {
        told.push(p.done);
        true
    })
    .unwrap();
    assert_eq!(report.imported, 5_000);
    assert_eq!(told, [0, 1_000, 2_000, 3_000, 4_000, 5_000]);
}
