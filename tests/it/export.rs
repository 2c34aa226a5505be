//! Exports against real SQLite files: hostile values survive CSV, XLSX and
//! JSON Lines; filters are respected; a cancelled export leaves no file.

use crate::support;
use std::path::Path;

use calamine::{Data, Reader, Xlsx, open_workbook};
use partnerbook::export::{ExportError, ExportFormat, ExportOptions, PartnerColumn, export_partners, restore_cell};
use partnerbook::store::{Paging, PartnerQuery};
use partnerbook::{PartnerDraft, PartnerFields, Store};

const HOSTILE: [&str; 8] = [
    "=HYPERLINK(\"http://evil.example\",\"click\")",
    "+SUM(1,2)",
    "-2+3",
    "@cmd",
    "quote \" and, comma; semicolon",
    "line\nbreak\r\nand CRLF",
    "emoji 😀 and 株式会社",
    "'=already quoted",
];

fn draft(name: &str, i: usize) -> PartnerDraft {
    PartnerDraft {
        company_name: name.into(),
        sales_amount: (i * 1000).to_string(),
        partner_type: if i % 2 == 0 { "customer" } else { "supplier" }.into(),
        email: format!("p{i}@hostile.example"),
        frequency: "x".repeat(30),
        payment_terms: format!("{}", "=".repeat(50)),
    }
}

fn store_with_hostile_rows(dir: &Path) -> (Store, Vec<PartnerFields>) {
    let mut store = Store::open(dir.join("export.db")).unwrap();
    let mut fields = Vec::new();
    for (i, name) in HOSTILE.iter().enumerate() {
        fields.push(store.create_partner(&draft(name, i), None).unwrap().fields);
    }
    fields.push(store.create_partner(&draft(&"W".repeat(100), 99), None).unwrap().fields);
    fields.sort_by_key(|f| f.company_name.to_lowercase());
    (store, fields)
}

fn fields_from(row: &[String]) -> PartnerFields {
    PartnerFields {
        company_name: row[0].clone(),
        sales_amount: row[1].parse().unwrap(),
        partner_type: row[2].parse().unwrap(),
        email: row[3].clone(),
        frequency: row[4].clone(),
        payment_terms: row[5].clone(),
    }
}

#[test]
fn csv_round_trips_hostile_values_and_neutralises_formulas() {
    let dir = tempfile::tempdir().unwrap();
    let (store, expected) = store_with_hostile_rows(dir.path());
    for (semicolon, bom) in [(false, false), (true, true)] {
        let path = dir.path().join(format!("partners-{semicolon}.csv"));
        let options = ExportOptions { semicolon, bom, ..Default::default() };
        let rows = export_partners(&store, &PartnerQuery::default(), &options, &path, |_| true).unwrap();
        assert_eq!(rows as usize, expected.len());

        let bytes = std::fs::read(&path).unwrap();
        assert_eq!(bytes.starts_with("\u{feff}".as_bytes()), bom);
        let body = if bom { &bytes[3..] } else { &bytes[..] };
        let mut reader = csv::ReaderBuilder::new().delimiter(if semicolon { b';' } else { b',' }).from_reader(body);
        let header: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
        assert_eq!(header, ["company_name", "sales_amount", "partner_type", "email", "frequency", "payment_terms"]);
        let mut got = Vec::new();
        for record in reader.records() {
            let raw: Vec<String> = record.unwrap().iter().map(String::from).collect();
            // No cell a spreadsheet would evaluate.
            for cell in &raw {
                assert!(!matches!(cell.chars().next(), Some('=' | '+' | '-' | '@' | '\t' | '\r')), "{cell:?}");
            }
            let restored: Vec<String> = raw.iter().map(|c| restore_cell(c).to_string()).collect();
            got.push(fields_from(&restored));
        }
        assert_eq!(got, expected);
    }
}

#[test]
fn xlsx_reads_back_with_typed_numbers() {
    let dir = tempfile::tempdir().unwrap();
    let (store, expected) = store_with_hostile_rows(dir.path());
    let path = dir.path().join("partners.xlsx");
    let options = ExportOptions { format: ExportFormat::Xlsx, sync_state: true, ..Default::default() };
    export_partners(&store, &PartnerQuery::default(), &options, &path, |_| true).unwrap();

    let mut workbook: Xlsx<_> = open_workbook(&path).unwrap();
    let range = workbook.worksheet_range("Partners").unwrap();
    let rows: Vec<_> = range.rows().collect();
    assert_eq!(rows[0][0], Data::String("company_name".into()));
    assert_eq!(rows[0][6], Data::String("sync_state".into()));
    assert_eq!(rows.len(), expected.len() + 1);
    for (row, want) in rows[1..].iter().zip(&expected) {
        assert_eq!(row[0], Data::String(want.company_name.clone()), "text kept verbatim (no formula)");
        assert_eq!(row[1], Data::Float(want.sales_amount as f64), "sales_amount is a number cell");
        assert_eq!(row[5], Data::String(want.payment_terms.clone()));
        assert_eq!(row[6], Data::String("pending".into()));
    }
}

#[test]
fn jsonl_has_one_object_per_partner_with_chosen_columns() {
    let dir = tempfile::tempdir().unwrap();
    let (store, expected) = store_with_hostile_rows(dir.path());
    let path = dir.path().join("partners.jsonl");
    let options = ExportOptions {
        format: ExportFormat::Jsonl,
        columns: vec![
            PartnerColumn::Email,
            PartnerColumn::CompanyName,
            PartnerColumn::SalesAmount,
            PartnerColumn::ServerId,
        ],
        ..Default::default()
    };
    export_partners(&store, &PartnerQuery::default(), &options, &path, |_| true).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    let lines: Vec<serde_json::Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), expected.len());
    for (line, want) in lines.iter().zip(&expected) {
        assert_eq!(line["company_name"], want.company_name.as_str());
        assert_eq!(line["sales_amount"], want.sales_amount);
        assert_eq!(line["server_id"], serde_json::Value::Null);
        assert_eq!(line.as_object().unwrap().keys().next().unwrap(), "email", "columns keep their order");
    }
}

/// The export is the user's document: created like any file they make (umask applies), not private like a temp file.
#[cfg(unix)]
#[test]
fn the_export_gets_ordinary_file_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store_with_hostile_rows(dir.path());
    let ordinary = dir.path().join("ordinary.txt");
    std::fs::write(&ordinary, "x").unwrap();
    let path = dir.path().join("partners.csv");
    export_partners(&store, &PartnerQuery::default(), &ExportOptions::default(), &path, |_| true).unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&path), mode(&ordinary));
}

#[test]
fn exports_what_the_list_shows() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store_with_hostile_rows(dir.path());
    let path = dir.path().join("suppliers.csv");
    let query = PartnerQuery {
        partner_type: Some(partnerbook::PartnerType::Supplier),
        paging: Paging::first(1),
        ..Default::default()
    };
    let rows = export_partners(&store, &query, &ExportOptions::default(), &path, |_| true).unwrap();
    assert_eq!(rows, 5, "the filter applies, the page size does not");
    let query = PartnerQuery { search: Some("emoji".into()), ..Default::default() };
    assert_eq!(export_partners(&store, &query, &ExportOptions::default(), &path, |_| true).unwrap(), 1);
}

#[test]
fn a_cancelled_export_leaves_no_file_and_keeps_the_old_one() {
    let (dir, mut store) = support::temp_store("big.db");
    for i in 0..2500 {
        store.create_partner(&draft(&format!("Company {i}"), i), None).unwrap();
    }
    for format in [ExportFormat::Csv, ExportFormat::Xlsx, ExportFormat::Jsonl] {
        let fresh = dir.path().join(format!("fresh-{format:?}"));
        let options = ExportOptions { format, ..Default::default() };
        let mut reports = Vec::new();
        let err = export_partners(&store, &PartnerQuery::default(), &options, &fresh, |p| {
            reports.push(p);
            p.done < 1000 // stop part-way, after the first thousand rows
        })
        .unwrap_err();
        assert!(matches!(err, ExportError::Cancelled), "{err:?}");
        assert!(!fresh.exists(), "{format:?}: a partial file was left");
        assert_eq!(reports.last().unwrap().total, 2500);

        let existing = dir.path().join(format!("existing-{format:?}"));
        std::fs::write(&existing, "the user's previous export").unwrap();
        export_partners(&store, &PartnerQuery::default(), &options, &existing, |p| p.done < 2000).unwrap_err();
        assert_eq!(std::fs::read_to_string(&existing).unwrap(), "the user's previous export");
    }
    let leftovers: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("partnerbook-export"))
        .collect();
    assert!(leftovers.is_empty(), "temporary files left behind: {leftovers:?}");
}

#[test]
fn the_command_line_exports_with_filters_and_columns() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store_with_hostile_rows(dir.path());
    drop(store);
    let out = dir.path().join("cli.csv");
    let result = assert_cmd::Command::cargo_bin("partnerbook")
        .unwrap()
        .env("PARTNERBOOK_DB", dir.path().join("export.db"))
        .args([
            "--json",
            "partner",
            "export",
            "--format",
            "csv",
            "--type",
            "customer",
            "--columns",
            "email,company_name",
        ])
        .args(["--sync-state", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(result.status.success(), "{}", String::from_utf8_lossy(&result.stderr));
    let summary: serde_json::Value = serde_json::from_slice(&result.stdout).unwrap();
    assert_eq!(summary["rows"], 4);
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(text.starts_with("email,company_name,sync_state\r\n"), "{text}");
    assert_eq!(csv::Reader::from_reader(text.as_bytes()).records().count(), 4);

    let bad = assert_cmd::Command::cargo_bin("partnerbook")
        .unwrap()
        .env("PARTNERBOOK_DB", dir.path().join("export.db"))
        .args(["partner", "export", "--columns", "salary", "--out", out.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown column \"salary\""));
}

fn org_draft(name: &str, contacts: &[&str]) -> partnerbook::OrganizationDraft {
    serde_json::from_value(serde_json::json!({
        "name": name,
        "type": "F",
        "address": "1 Main St",
        "country": "VN",
        "phone": "+84 1",
        "location": {"latitude": 10.5, "longitude": -20.25},
        "contacts": contacts.iter().map(|c| serde_json::json!({"firstName": c, "email": "c@acme.example"})).collect::<Vec<_>>(),
    }))
    .unwrap()
}

/// The export dialog's column choice for organizations: the chosen fields in
/// the chosen order, the contact block where `contacts` stands, none without it.
#[test]
fn organization_columns_are_chosen_and_ordered() {
    use partnerbook::export::{
        ContactLayout, OrganizationColumn as C, OrganizationExportOptions, export_organizations,
    };
    use partnerbook::store::OrganizationQuery;
    let (dir, mut store) = support::temp_store("orgs.db");
    store.create_organization(&org_draft("Alpha", &["Ann", "Bob"])).unwrap();
    store.create_organization(&org_draft("Beta", &["Dee"])).unwrap();

    let chosen = dir.path().join("chosen.csv");
    let options = OrganizationExportOptions { columns: vec![C::Country, C::Contacts, C::Name], ..Default::default() };
    export_organizations(&store, &OrganizationQuery::default(), &options, &chosen, |_| true).unwrap();
    let mut reader = csv::Reader::from_path(&chosen).unwrap();
    let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(headers.first().map(String::as_str), Some("country"));
    assert_eq!(headers.last().map(String::as_str), Some("name"));
    assert_eq!(headers.len(), 2 + 2 * 5, "two contact groups between them: {headers:?}");
    assert_eq!(headers[1], "contact_1_first_name");
    let rows: Vec<Vec<String>> = reader.records().map(|r| r.unwrap().iter().map(String::from).collect()).collect();
    assert_eq!((rows[0][1].as_str(), rows[0][6].as_str(), rows[0][11].as_str()), ("Ann", "Bob", "Alpha"));
    assert_eq!((rows[1][1].as_str(), rows[1][6].as_str(), rows[1][11].as_str()), ("Dee", "", "Beta"));

    // Without `contacts`: no contact columns, one row per organization whatever the layout (read as Excel would).
    let plain = dir.path().join("plain.xlsx");
    let options = OrganizationExportOptions {
        format: ExportFormat::Xlsx,
        columns: vec![C::Name, C::Phone],
        contacts: ContactLayout::Rows,
        sync_state: true,
        ..Default::default()
    };
    assert_eq!(export_organizations(&store, &OrganizationQuery::default(), &options, &plain, |_| true).unwrap(), 2);
    let mut book: Xlsx<_> = open_workbook(&plain).unwrap();
    let range = book.worksheet_range("Organizations").unwrap();
    let rows: Vec<Vec<String>> = range.rows().map(|r| r.iter().map(|c| c.to_string()).collect()).collect();
    assert_eq!(rows[0], ["name", "phone", "sync_state"]);
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(rows[1][0], "Alpha");

    // The names are the headers; a wrong one says which exist.
    assert_eq!("billing_email".parse::<C>().unwrap(), C::BillingEmail);
    assert!("salary".parse::<C>().unwrap_err().contains("use key, name, type"));
}

#[test]
fn organizations_export_with_contacts_as_columns_or_rows() {
    use partnerbook::export::{ContactLayout, OrganizationExportOptions, export_organizations};
    use partnerbook::store::OrganizationQuery;
    let (dir, mut store) = support::temp_store("orgs.db");
    store.create_organization(&org_draft("=Alpha, \"Ltd\"", &["Ann", "+Bob", "Cy"])).unwrap();
    store.create_organization(&org_draft("Beta", &["Dee"])).unwrap();

    let columns = dir.path().join("orgs.csv");
    let options = OrganizationExportOptions { sync_state: true, ..Default::default() };
    let n = export_organizations(&store, &OrganizationQuery::default(), &options, &columns, |_| true).unwrap();
    assert_eq!(n, 2);
    let mut reader = csv::Reader::from_path(&columns).unwrap();
    let headers = reader.headers().unwrap().clone();
    assert_eq!(&headers[1], "name");
    assert!(headers.iter().any(|h| h == "contact_3_work_phone"), "three contact groups: {headers:?}");
    assert!(!headers.iter().any(|h| h == "contact_4_first_name"));
    assert_eq!(headers.iter().last(), Some("sync_state"));
    let rows: Vec<csv::StringRecord> = reader.records().map(Result::unwrap).collect();
    assert_eq!(rows.len(), 2);
    let col = |name: &str| headers.iter().position(|h| h == name).unwrap();
    assert_eq!(&rows[0][col("name")], "'=Alpha, \"Ltd\"", "neutralised, quotes and comma kept");
    assert_eq!(&rows[0][col("contact_2_first_name")], "'+Bob");
    assert_eq!(&rows[0][col("latitude")], "10.5");
    assert_eq!(&rows[1][col("contact_1_first_name")], "Dee");
    assert_eq!(&rows[1][col("contact_2_first_name")], "", "a shorter contact list leaves blanks");
    assert_eq!(&rows[1][col("sync_state")], "pending");

    let per_contact = dir.path().join("contacts.xlsx");
    let options =
        OrganizationExportOptions { format: ExportFormat::Xlsx, contacts: ContactLayout::Rows, ..Default::default() };
    let n = export_organizations(&store, &OrganizationQuery::default(), &options, &per_contact, |_| true).unwrap();
    assert_eq!(n, 2, "progress and the count are in organizations");
    let mut book: Xlsx<_> = open_workbook(&per_contact).unwrap();
    let range = book.worksheet_range("Organizations").unwrap();
    let rows: Vec<_> = range.rows().collect();
    assert_eq!(rows.len(), 1 + 4, "header and one row per contact");
    assert_eq!(rows[0][16], Data::String("contact_first_name".into()));
    let names: Vec<String> = rows[1..].iter().map(|r| r[16].to_string()).collect();
    assert_eq!(names, ["Ann", "+Bob", "Cy", "Dee"], "XLSX text cells are stored verbatim");
    assert_eq!(rows[1][14], Data::Float(10.5));

    let filtered = dir.path().join("beta.jsonl");
    let query = OrganizationQuery { search: Some("bet".into()), ..Default::default() };
    let options = OrganizationExportOptions { format: ExportFormat::Jsonl, ..Default::default() };
    assert_eq!(export_organizations(&store, &query, &options, &filtered, |_| true).unwrap(), 1);
    let line: serde_json::Value = serde_json::from_str(std::fs::read_to_string(&filtered).unwrap().trim()).unwrap();
    assert_eq!(line["name"], "Beta");
    assert_eq!(line["longitude"], -20.25);
    assert_eq!(line["contact_1_first_name"], "Dee");
}

/// A value XLSX cannot hold (over 32,767 characters: here a server's long
/// refusal) is refused with the limit named, and no file is left; CSV takes it.
#[test]
fn an_xlsx_export_that_cannot_hold_a_value_says_so_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (store, _) = store_with_hostile_rows(dir.path());
    let long = "x".repeat(40_000);
    let error = serde_json::json!({"message": long, "fields": []}).to_string();
    store.connection().execute("UPDATE partners SET sync_error = ?1 WHERE rowid = 1", [&error]).unwrap();
    let columns = vec![PartnerColumn::CompanyName, PartnerColumn::SyncError];
    let path = dir.path().join("long.xlsx");
    let options = ExportOptions { format: ExportFormat::Xlsx, columns: columns.clone(), ..Default::default() };
    let refused = export_partners(&store, &PartnerQuery::default(), &options, &path, |_| true).unwrap_err();
    assert!(matches!(refused, ExportError::Limit(_)), "{refused:?}");
    assert!(refused.to_string().contains("32767") && refused.to_string().contains("CSV"), "{refused}");
    assert!(!path.exists());
    assert!(
        std::fs::read_dir(dir.path()).unwrap().all(|e| !e.unwrap().file_name().to_string_lossy().ends_with(".part"))
    );
    let csv = dir.path().join("long.csv");
    let options = ExportOptions { columns, ..Default::default() };
    export_partners(&store, &PartnerQuery::default(), &options, &csv, |_| true).unwrap();
    assert!(std::fs::read_to_string(&csv).unwrap().contains(&long));
}

/// The one-row-per-contact layout keeps an organization without contacts
/// (one row, its contact cells empty), read back with the csv crate.
#[test]
fn organizations_without_contacts_are_kept_in_the_rows_layout() {
    use partnerbook::export::{ContactLayout, OrganizationExportOptions, export_organizations};
    let (dir, mut store) = support::temp_store("orgs.db");
    let org = |name: &str| -> partnerbook::OrganizationDraft {
        serde_json::from_value(serde_json::json!({
            "name": name, "type": "F", "address": "1 Le Loi", "country": "VN", "phone": "+84 1",
            "contacts": [{"firstName": "Lan"}, {"firstName": "Minh"}]
        }))
        .unwrap()
    };
    store.create_organization(&org("With Contacts")).unwrap();
    let bare = store.create_organization(&org("Without Contacts")).unwrap();
    // As one arrives from the central system with none.
    store
        .connection()
        .execute(
            "DELETE FROM contacts WHERE org_rowid = (SELECT rowid FROM organizations WHERE key = ?1)",
            [bare.key.to_string()],
        )
        .unwrap();
    let path = dir.path().join("orgs.csv");
    let options = OrganizationExportOptions { contacts: ContactLayout::Rows, ..Default::default() };
    let rows = export_organizations(&store, &Default::default(), &options, &path, |_| true).unwrap();
    assert_eq!(rows, 2);
    let mut reader = csv::Reader::from_path(&path).unwrap();
    let names: Vec<String> = reader.records().map(|r| r.unwrap()[1].to_string()).collect();
    assert_eq!(names.iter().filter(|n| *n == "With Contacts").count(), 2);
    assert_eq!(names.iter().filter(|n| *n == "Without Contacts").count(), 1, "{names:?}");
}
