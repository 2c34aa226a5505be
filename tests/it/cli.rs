//! The `partnerbook` binary: seed limits at their boundaries, exit codes,
//! JSON shapes, and that rejected input writes nothing.

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

struct Cli {
    dir: TempDir,
}

impl Cli {
    fn new() -> Cli {
        Cli { dir: tempfile::tempdir().unwrap() }
    }

    fn db(&self) -> std::path::PathBuf {
        self.dir.path().join("cli.db")
    }

    fn cmd(&self) -> Command {
        let mut cmd = Command::cargo_bin("partnerbook").unwrap();
        cmd.env("PARTNERBOOK_DB", self.db()).env_remove("PARTNERBOOK_LOG");
        cmd
    }

    /// Runs with `args`, returning (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = self.cmd().args(args).output().unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8(out.stderr).unwrap(),
        )
    }

    fn json(&self, args: &[&str]) -> Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        let (code, out, err) = self.run(&all);
        assert_eq!(code, 0, "{args:?} failed: {err}");
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("not JSON ({e}): {out}"))
    }

    fn partner_count(&self) -> u64 {
        self.json(&["partner", "list", "--deleted"])["total"].as_u64().unwrap()
    }

    fn outbox_len(&self) -> usize {
        self.json(&["outbox", "list"]).as_array().unwrap().len()
    }
}

const VALID: [(&str, &str); 6] = [
    ("company_name", "Acme"),
    ("sales_amount", "1000"),
    ("partner_type", "customer"),
    ("email", "buyer@acme.example"),
    ("frequency", "monthly"),
    ("payment_terms", "net 30"),
];

/// `partner add` with the valid values, `field` replaced by `value`.
fn add_args(field: &str, value: &str) -> Vec<String> {
    let mut args = vec!["--json".to_string(), "partner".into(), "add".into()];
    for (name, default) in VALID {
        args.push(format!("--{}", name.replace('_', "-")));
        args.push(if name == field { value.to_string() } else { default.to_string() });
    }
    args
}

/// An email of exactly `n` characters (local part 40, within RFC 5321's 64).
fn email_of(n: usize) -> String {
    format!("{}@{}.example", "a".repeat(40), "b".repeat(n - 40 - 1 - ".example".len()))
}

#[test]
fn each_seed_field_is_accepted_and_rejected_exactly_at_its_limits() {
    let cli = Cli::new();
    // (field, value, accepted, expected error code)
    let cases: Vec<(&str, String, bool, &str)> = vec![
        ("company_name", String::new(), false, "required"),
        ("company_name", "a".into(), true, ""),
        ("company_name", "a".repeat(100), true, ""),
        ("company_name", "a".repeat(101), false, "too_long"),
        ("company_name", "é".repeat(100), true, ""),
        ("company_name", "é".repeat(101), false, "too_long"),
        ("company_name", "株".repeat(100), true, ""),
        ("company_name", "👩‍💼".repeat(25), true, ""), // 4 chars each: ZWJ sequence
        ("sales_amount", "0".into(), true, ""),
        ("sales_amount", "2147483647".into(), true, ""),
        ("sales_amount", "2147483648".into(), false, "out_of_range"),
        ("sales_amount", "-1".into(), false, "out_of_range"),
        ("sales_amount", "12.5".into(), false, "not_a_number"),
        ("sales_amount", "1e3".into(), false, "not_a_number"),
        ("sales_amount", String::new(), false, "required"),
        ("partner_type", "customer".into(), true, ""),
        ("partner_type", "supplier".into(), true, ""),
        ("partner_type", "vendor".into(), false, "not_allowed"),
        ("partner_type", String::new(), false, "required"),
        ("email", String::new(), false, "required"),
        ("email", email_of(100), true, ""),
        ("email", email_of(101), false, "too_long"),
        ("email", "no-at-sign".into(), false, "invalid_email"),
        ("email", "two@@example.com".into(), false, "invalid_email"),
        ("email", "user@localhost".into(), false, "invalid_email"),
        ("email", "a b@example.com".into(), false, "invalid_email"),
        ("email", format!("{}@example.com", "a".repeat(65)), false, "invalid_email"), // RFC 5321 local part
        ("email", "  spaced@example.com ".into(), true, ""),
        ("frequency", String::new(), false, "required"),
        ("frequency", "w".into(), true, ""),
        ("frequency", "w".repeat(30), true, ""),
        ("frequency", "w".repeat(31), false, "too_long"),
        ("payment_terms", String::new(), false, "required"),
        ("payment_terms", "p".into(), true, ""),
        ("payment_terms", "p".repeat(50), true, ""),
        ("payment_terms", "p".repeat(51), false, "too_long"),
        ("payment_terms", format!("  {}  ", "p".repeat(50)), true, ""), // trimmed first
    ];
    let mut saved = 0;
    for (field, value, accepted, code) in cases {
        let out = cli.cmd().args(add_args(field, &value)).output().unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if accepted {
            assert!(out.status.success(), "{field}={value:?} should be accepted: {stderr}");
            let record: Value = serde_json::from_str(&stdout).unwrap();
            let expected = value.trim();
            match field {
                "sales_amount" => assert_eq!(record[field].to_string(), expected),
                _ => assert_eq!(record[field], expected, "{field} stored verbatim"),
            }
            saved += 1;
        } else {
            assert_eq!(out.status.code(), Some(3), "{field}={value:?} should be rejected: {stdout}");
            let error: Value = serde_json::from_str(&stderr).unwrap();
            let fields = error["error"]["fields"].as_array().unwrap();
            assert_eq!(fields.len(), 1, "only {field} fails: {fields:?}");
            assert_eq!(fields[0]["field"], field);
            assert_eq!(fields[0]["code"], code, "{field}={value:?}");
            assert!(!fields[0]["message"].as_str().unwrap().is_empty());
        }
        assert_eq!(cli.partner_count(), saved, "a rejected add must write nothing");
    }
    assert_eq!(cli.outbox_len() as u64, saved);
}

#[test]
fn every_error_is_listed_at_once_in_words() {
    let cli = Cli::new();
    let (code, out, err) =
        cli.run(&["partner", "add", "--sales-amount", "-5", "--email", "x@", "--frequency", &"f".repeat(31)]);
    assert_eq!(code, 3);
    assert!(out.is_empty());
    for expected in [
        "Company name is required.",
        "Sales amount must be between 0 and 2147483647.",
        "Partner type is required.",
        "Email is not a valid email address",
        "Frequency can be at most 30 characters; it has 31.",
        "Payment terms is required.",
    ] {
        assert!(err.contains(expected), "missing {expected:?} in:\n{err}");
    }
    let bad_org = cli.run(&["partner", "add", "--company-name", "Acme", "--target-org", "not-a-uuid"]).2;
    assert!(bad_org.contains("Target organization must be an organization ID"), "{bad_org}");
    assert_eq!(cli.partner_count(), 0);
    // Nothing was written, not even the database file... beyond its empty schema.
    assert_eq!(cli.outbox_len(), 0);
}

#[test]
fn partner_round_trip_through_the_command_line() {
    let cli = Cli::new();
    let target = "3c90c3cc-0d44-4b50-8888-8dd25736052a";
    let mut args: Vec<String> = add_args("company_name", "'); DROP TABLE partners;--");
    args.extend(["--target-org".into(), target.into()]);
    // One's own organization only: the central system creates every partner
    // there, so one stored as another's vanished at that organization's pull.
    let refused = cli.cmd().args(&args).output().unwrap();
    assert_eq!(refused.status.code(), Some(3));
    let body: Value = serde_json::from_slice::<Value>(&refused.stderr).unwrap()["error"].clone();
    assert_eq!(
        (body["kind"].as_str(), body["fields"][0]["code"].as_str()),
        (Some("validation"), Some("not_own_organization"))
    );
    assert!(body["fields"][0]["message"].as_str().unwrap().contains("only in your own organization"), "{body}");
    assert_eq!(cli.partner_count(), 0);
    let out = cli.cmd().env("PARTNERBOOK_REQUESTER_ORG", target).args(&args).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let created: Value = serde_json::from_slice(&out.stdout).unwrap();
    let key = created["key"].as_str().unwrap().to_string();
    assert_eq!(created["target_org_id"], Value::Null, "one's own organization is stored as such");
    assert_eq!(created["sync_state"], "pending");
    assert_eq!(created["server"]["id"], Value::Null);

    // Documented JSON shape: exactly these keys.
    let mut keys: Vec<_> = created.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "company_name",
            "created_locally_at",
            "deleted_at",
            "email",
            "frequency",
            "key",
            "partner_type",
            "payment_terms",
            "sales_amount",
            "server",
            "sync_error",
            "sync_state",
            "target_org_id",
            "updated_locally_at"
        ]
    );

    let shown = cli.json(&["partner", "show", &key[..13]]);
    assert_eq!(shown, created);

    let (code, _, err) = cli.run(&["partner", "edit", &key, "--email", "bad"]);
    assert_eq!(code, 3, "{err}");
    let edited = cli.json(&["partner", "edit", &key, "--sales-amount", "0", "--partner-type", "Supplier"]);
    assert_eq!(edited["sales_amount"], 0);
    assert_eq!(edited["partner_type"], "supplier");
    assert_eq!(edited["company_name"], "'); DROP TABLE partners;--");
    assert_eq!(cli.outbox_len(), 1, "edits of an unsent create stay one create");

    let (code, _, err) = cli.run(&["partner", "edit", &key]);
    assert_eq!(code, 2, "nothing to change is a usage error: {err}");

    let listed = cli.json(&["partner", "list", "--search", "drop", "--type", "supplier"]);
    assert_eq!(listed["total"], 1);
    assert_eq!(listed["items"][0]["key"], key.as_str());

    let human = cli.run(&["partner", "list"]).1;
    assert!(human.contains("'); DROP TABLE partners;--") && human.contains("1-1 of 1 partner"), "{human}");

    let deleted = cli.json(&["partner", "delete", &key]);
    assert!(deleted["deleted_at"].is_string());
    assert_eq!(cli.json(&["partner", "list"])["total"], 0);
    assert_eq!(cli.outbox_len(), 0);

    let (code, _, err) = cli.run(&["partner", "show", "ffffffff"]);
    assert_eq!(code, 4, "{err}");
    let (code, _, err) = cli.run(&["--json", "partner", "delete", &key]);
    assert_eq!(code, 1);
    let error: Value = serde_json::from_str(&err).unwrap();
    assert_eq!(error["error"]["kind"], "deleted");
}

#[test]
fn organizations_with_contacts_from_flags_and_files() {
    let cli = Cli::new();
    let contacts = cli.dir.path().join("contacts.json");
    std::fs::write(
        &contacts,
        r#"[{"firstName": "Ann", "lastName": "Lee", "email": "ann@acme.example", "workPhone": "555"}]"#,
    )
    .unwrap();
    let created = cli.json(&[
        "org",
        "add",
        "--name",
        "Acme Corp",
        "--type",
        "retailer",
        "--address",
        "5 Madison Avenue",
        "--country",
        "us",
        "--phone",
        "1505111222",
        "--latitude",
        "38.8951",
        "--longitude",
        "-77.0364",
        "--contacts-file",
        contacts.to_str().unwrap(),
        "--contact",
        "John;Doe;john@acme.example;1505123123",
    ]);
    assert_eq!(created["type"], "R");
    assert_eq!(created["country"], "US");
    assert_eq!(created["location"]["longitude"], -77.0364);
    assert_eq!(created["contacts"][0]["firstName"], "Ann");
    assert_eq!(created["contacts"][0]["workPhone"], "555");
    assert_eq!(created["contacts"][1]["lastName"], "Doe");
    assert_eq!(created["contacts"][1]["phone"], "1505123123");
    let key = created["key"].as_str().unwrap();

    let edited = cli.json(&["org", "edit", key, "--city", "New York", "--contact", "Zoe"]);
    assert_eq!(edited["city"], "New York");
    assert_eq!(edited["contacts"].as_array().unwrap().len(), 1);
    let cleared = cli.json(&["org", "edit", key, "--city", ""]);
    assert_eq!(cleared["city"], Value::Null);

    let (code, _, err) = cli.run(&[
        "--json",
        "org",
        "add",
        "--name",
        "",
        "--type",
        "X",
        "--address",
        "a",
        "--country",
        "XX",
        "--phone",
        "1",
        "--latitude",
        "91",
        "--longitude",
        "0",
        "--contact",
        ";Doe;bad-email",
    ]);
    assert_eq!(code, 3);
    let error: Value = serde_json::from_str(&err).unwrap();
    let fields: Vec<&str> =
        error["error"]["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(fields, ["name", "type", "country", "location.latitude", "contacts[0].email", "contacts[0].firstName"]);

    let (code, _, err) = cli.run(&[
        "org",
        "add",
        "--name",
        "No contacts",
        "--type",
        "F",
        "--address",
        "a",
        "--country",
        "DE",
        "--phone",
        "1",
    ]);
    assert_eq!(code, 3);
    assert!(err.contains("Add at least one contact."), "{err}");

    // An export with chosen columns, read back as a spreadsheet would; a wrong column is a usage error.
    let out = cli.dir.path().join("orgs.csv");
    let written = cli.json(&["org", "export", "--columns", "country,name,contacts", "--out", out.to_str().unwrap()]);
    assert_eq!(written["rows"], 1);
    let mut reader = csv::Reader::from_path(&out).unwrap();
    let headers: Vec<String> = reader.headers().unwrap().iter().map(String::from).collect();
    assert_eq!(&headers[..3], ["country", "name", "contact_1_first_name"]);
    let first: Vec<String> = reader.records().next().unwrap().unwrap().iter().map(String::from).collect();
    assert_eq!(&first[..3], ["US", "Acme Corp", "Zoe"]);
    let (code, _, err) = cli.run(&["org", "export", "--columns", "name,salary", "--out", out.to_str().unwrap()]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("unknown column \"salary\""), "{err}");

    let listed = cli.json(&["org", "list", "--country", "US"]);
    assert_eq!(listed["total"], 1);
    assert!(cli.run(&["org", "show", &key[..13]]).1.contains("Contact 1"));
    cli.json(&["org", "delete", key]);
    assert_eq!(cli.json(&["org", "list"])["total"], 0);
}

#[test]
fn a_damaged_database_file_is_reported_and_kept() {
    let cli = Cli::new();
    std::fs::write(cli.db(), "not a database at all, but the user's notes").unwrap();
    let (code, _, err) = cli.run(&["partner", "list"]);
    assert_eq!(code, 1);
    assert!(err.contains("is not a Partnerbook database"), "{err}");
    assert_eq!(std::fs::read_to_string(cli.db()).unwrap(), "not a database at all, but the user's notes");
}

/// IT's managed file as the command line sees it: where it is and what it
/// locks, or, when it holds a secret, that it is not applied and why.
#[test]
fn info_names_the_managed_settings_or_why_they_are_not_applied() {
    let cli = Cli::new();
    let file = cli.dir.path().join("config.toml");
    let info = |text: &str| {
        std::fs::write(&file, text).unwrap();
        let out = cli.cmd().args(["--json", "info"]).env("PARTNERBOOK_MANAGED_CONFIG", &file).output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        serde_json::from_slice::<Value>(&out.stdout).unwrap()["managed"].clone()
    };
    let good =
        info("locked = [\"organizations.base_url\"]\n[organizations]\nbase_url = \"https://sight.inspectorio.com\"\n");
    assert_eq!(good["locked"], serde_json::json!(["organizations.base_url"]));
    assert_eq!(good["problem"], Value::Null);
    let secret = info("[partners]\nclient_secret = \"hunter2\"\n");
    assert!(secret["problem"].as_str().unwrap().contains("holds `client_secret`"), "{secret}");
    assert_eq!(secret["locked"], serde_json::json!([]));
    let (code, out, _) = cli.run(&["info"]);
    assert_eq!(code, 0);
    assert!(!out.contains("Managed settings"), "no file, nothing said: {out}");
}

#[test]
fn db_flag_overrides_the_environment() {
    let cli = Cli::new();
    let other = cli.dir.path().join("other.db");
    let info = cli.json(&["--db", other.to_str().unwrap(), "info"]);
    assert_eq!(info["database"], other.to_str().unwrap());
    assert_eq!(info["schema_version"], partnerbook::store::schema_version());
    assert_eq!(info["schema_version"], partnerbook::store::SCHEMA_VERSION);
    assert_eq!(info["version"], env!("CARGO_PKG_VERSION"));
    // --version names the schema too.
    let (code, out, _) = cli.run(&["--version"]);
    assert_eq!((code, out.trim()), (0, format!("partnerbook {}", partnerbook::version_line()).as_str()));
    let info = cli.json(&["info"]);
    assert_eq!(info["database"], cli.db().to_str().unwrap());
}

/// What a terminal would act on is shown, not obeyed: control characters and
/// bidirectional overrides in any field come out escaped.
#[test]
fn control_and_bidi_characters_are_shown_escaped() {
    let cli = Cli::new();
    let tricky = "Acme \u{202E}evil\u{202C} \u{1b}c Ltd";
    let added = cli.json(&[
        "partner",
        "add",
        "--company-name",
        tricky,
        "--sales-amount",
        "1",
        "--partner-type",
        "customer",
        "--email",
        "t@t.example",
        "--frequency",
        "monthly",
        "--payment-terms",
        "net 30",
    ]);
    let key = added["key"].as_str().unwrap().to_string();
    for args in [vec!["partner", "show", key.as_str()], vec!["partner", "list"]] {
        let (code, out, _) = cli.run(&args);
        assert_eq!(code, 0);
        assert!(!out.contains('\u{202E}') && !out.contains('\u{1b}'), "{args:?} printed them raw: {out:?}");
        assert!(out.contains("\\u{202e}"), "{args:?}: {out}");
    }
}

/// Numbers past any sensible use are a usage error (exit 2), not a crash or a database error.
#[test]
fn numeric_flags_are_bounded() {
    let cli = Cli::new();
    for args in [
        vec!["partner", "list", "--limit", "4294967295"],
        vec!["partner", "list", "--offset", "18446744073709551615"],
        vec!["sync", "--wait", "18446744073709551615"],
        vec!["sync", "--retry-cap-ms", "18446744073709551615"],
        vec!["sync", "--timeout", "0"],
        vec!["sync", "--concurrency", "100000"],
    ] {
        let (code, _, err) = cli.run(&args);
        assert_eq!(code, 2, "{args:?}: {err}");
    }
    // A search of 20,000 words counts its first 32 and answers.
    let words = vec!["word"; 20_000].join(" ");
    let (code, out, _) = cli.run(&["partner", "list", "--search", &words]);
    assert_eq!((code, out.trim()), (0, "No partners match."));
}
