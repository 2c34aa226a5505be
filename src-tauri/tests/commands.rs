//! Every IPC command through Tauri's mock runtime: good input, bad input of
//! the wrong JSON types (a structured error, never a panic), and the
//! capability file refusing what it does not grant.

use partnerbook::Store;
use partnerbook::secrets::MemorySecrets;
use partnerbook_desktop::{AppState, with_commands};
use serde_json::{Value, json};
use tauri::ipc::{CallbackFn, InvokeBody};
use tauri::test::{INVOKE_KEY, MockRuntime, get_ipc_response, mock_builder, mock_context, noop_assets};
use tauri::webview::InvokeRequest;
use tauri::{Manager, WebviewWindow, WebviewWindowBuilder};

struct Harness {
    _app: tauri::App<MockRuntime>,
    window: WebviewWindow<MockRuntime>,
    dir: tempfile::TempDir,
}

fn harness() -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("app.db");
    let store = Store::open(&path).unwrap();
    let app = with_commands(mock_builder()).build(mock_context(noop_assets())).unwrap();
    app.manage(AppState::new(store, path, Box::new(MemorySecrets::default())));
    let window = WebviewWindowBuilder::new(&app, "main", Default::default()).build().unwrap();
    Harness { _app: app, window, dir }
}

fn request(cmd: &str, args: Value) -> InvokeRequest {
    InvokeRequest {
        cmd: cmd.into(),
        callback: CallbackFn(0),
        error: CallbackFn(1),
        url: "tauri://localhost".parse().unwrap(),
        body: InvokeBody::Json(args),
        headers: Default::default(),
        invoke_key: INVOKE_KEY.to_string(),
    }
}

impl Harness {
    fn call(&self, cmd: &str, args: Value) -> Result<Value, Value> {
        get_ipc_response(&self.window, request(cmd, args)).map(|body| body.deserialize::<Value>().unwrap())
    }

    fn ok(&self, cmd: &str, args: Value) -> Value {
        self.call(cmd, args).unwrap_or_else(|e| panic!("{cmd} failed: {e}"))
    }

    fn err(&self, cmd: &str, args: Value) -> Value {
        match self.call(cmd, args) {
            Ok(v) => panic!("{cmd} should fail, returned {v}"),
            Err(e) => e,
        }
    }

    /// Tauri refused the arguments before the command ran (they are typed):
    /// its answer is a sentence naming the argument, which the window's
    /// `api.js` reports as `bad_request`.
    fn refused(&self, cmd: &str, args: Value, arg: &str) {
        let e = self.err(cmd, args.clone());
        let text = e.as_str().unwrap_or_else(|| panic!("{cmd} {args}: not refused by shape: {e}"));
        assert!(text.contains(&format!("`{arg}`")) && text.contains(cmd), "{cmd} {args}: {text}");
    }
}

fn partner_draft() -> Value {
    json!({"company_name": "Acme", "sales_amount": "1200", "partner_type": "customer",
           "email": "buyer@acme.example", "frequency": "monthly", "payment_terms": "net 30"})
}

fn org_draft() -> Value {
    json!({"name": "Saigon Textiles", "type": "F", "address": "12 Le Loi", "country": "vn", "phone": "+84 28",
           "location": {"latitude": "10.77", "longitude": "106.70"},
           "contacts": [{"firstName": "Lan", "lastName": "Nguyen", "email": "lan@saigon.example"}]})
}

#[test]
fn partner_commands_round_trip() {
    let h = harness();
    assert_eq!(h.ok("validate_partner", json!({"draft": partner_draft()})), json!([]));
    let created = h.ok("create_partner", json!({"draft": partner_draft(), "targetOrgId": null}));
    let key = created["key"].as_str().unwrap().to_string();
    assert_eq!(created["sales_amount"], 1200);
    assert_eq!(created["sync_state"], "pending");
    assert_eq!(h.ok("get_partner", json!({"key": key})), created);

    let mut draft = partner_draft();
    draft["email"] = json!("new@acme.example");
    let updated = h.ok("update_partner", json!({"key": key, "draft": draft}));
    assert_eq!(updated["email"], "new@acme.example");

    let page = h.ok("list_partners", json!({"query": {"search": "acm", "limit": 10, "offset": 0}}));
    assert_eq!(page["total"], 1);
    assert_eq!(page["items"][0]["key"], key.as_str());
    // Partial queries take defaults for the rest.
    assert_eq!(h.ok("list_partners", json!({"query": {}}))["total"], 1);

    let about = h.ok("about", json!({}));
    assert_eq!(about["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(about["schema_version"], partnerbook::store::SCHEMA_VERSION);
    assert!(
        about["version_line"]
            .as_str()
            .unwrap()
            .ends_with(&format!("(database schema {})", partnerbook::store::SCHEMA_VERSION))
    );
    let status = h.ok("status", json!({}));
    assert_eq!(status["pending_changes"], 1);
    assert!(status["oldest_pending_change"].is_string());
    assert_eq!(status["sync_configured"], false);
    assert!(status["message"].as_str().unwrap().contains("not set up"), "{status}");
    let e = h.err("sync_now", json!({}));
    assert_eq!(e["kind"], "not_configured", "{e}");
    assert_eq!(h.ok("conflicts", json!({})), json!([]));
    h.refused("resolve_conflicts", json!({"entity": "partner", "key": key, "choices": {"email": "both"}}), "choices");
    let outbox = h.ok("outbox", json!({}));
    assert_eq!(outbox.as_array().unwrap().len(), 1, "{outbox}");
    let seq = outbox[0]["seq"].clone();
    assert_eq!(h.ok("retry_change", json!({"seq": seq}))["state"], "pending");
    h.refused("retry_change", json!({"seq": "one"}), "seq");
    assert_eq!(h.err("discard_change", json!({"seq": 999_999}))["kind"], "not_found");

    let deleted = h.ok("delete_partner", json!({"key": key}));
    assert!(deleted["deleted_at"].is_string());
    assert_eq!(h.ok("list_partners", json!({"query": {}}))["total"], 0);
    assert_eq!(h.err("delete_partner", json!({"key": key}))["kind"], "deleted");
}

#[test]
fn validation_errors_are_structured_per_field() {
    let h = harness();
    let bad = json!({"company_name": "", "sales_amount": -1, "partner_type": "vendor",
                     "email": "x", "frequency": "f", "payment_terms": "p"});
    let fields = h.ok("validate_partner", json!({"draft": bad}));
    let names: Vec<&str> = fields.as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(names, ["company_name", "sales_amount", "partner_type", "email"]);

    let err = h.err("create_partner", json!({"draft": bad}));
    assert_eq!(err["kind"], "validation");
    assert_eq!(err["fields"].as_array().unwrap().len(), 4);
    assert_eq!(err["fields"][1]["message"], "Sales amount must be between 0 and 2147483647.");
    assert_eq!(h.ok("list_partners", json!({"query": {}}))["total"], 0, "nothing written");

    // A create for another organization is refused as the command line refuses it.
    let other = "3c90c3cc-0d44-4b50-8888-8dd25736052b";
    let err = h.err("create_partner", json!({"draft": partner_draft(), "targetOrgId": other}));
    assert_eq!(
        (err["kind"].as_str(), err["fields"][0]["code"].as_str()),
        (Some("validation"), Some("not_own_organization"))
    );
    assert_eq!(h.ok("list_partners", json!({"query": {}}))["total"], 0, "nothing written");
}

#[test]
fn wrong_json_types_give_a_clear_error_not_a_panic() {
    let h = harness();
    let cases = [
        ("create_partner", json!({"draft": "not an object"}), "draft"),
        ("create_partner", json!({"draft": {"company_name": 42}}), "draft"),
        ("create_partner", json!({"draft": [1, 2, 3]}), "draft"),
        ("create_partner", json!({"draft": partner_draft(), "targetOrgId": 7}), "targetOrgId"),
        ("create_partner", json!({"draft": partner_draft(), "targetOrgId": "not-a-uuid"}), "targetOrgId"),
        ("update_partner", json!({"key": {"x": 1}, "draft": partner_draft()}), "key"),
        ("get_partner", json!({"key": 12}), "key"),
        ("get_partner", json!({"key": "01a2"}), "key"),
        ("list_partners", json!({"query": {"limit": "ten"}}), "query"),
        ("list_partners", json!({"query": {"partner_type": "vendor"}}), "query"),
        ("list_organizations", json!({"query": {"org_type": 3}}), "query"),
        ("create_organization", json!({"draft": {"contacts": "Lan"}}), "draft"),
        ("validate_organization", json!({"draft": null}), "draft"),
        ("save_settings", json!({"settings": {"partners": {"target_org_ids": "one"}}}), "settings"),
    ];
    for (cmd, args, arg) in cases {
        h.refused(cmd, args, arg);
    }
    assert_eq!(h.ok("list_partners", json!({"query": {}}))["total"], 0, "nothing written");
    // Missing arguments are refused by Tauri itself, with a message, not a crash.
    let err = h.err("create_partner", json!({}));
    assert!(err.to_string().contains("draft"), "{err}");
    // A well-formed key that matches nothing is "not found".
    let err = h.err("get_partner", json!({"key": "01a210eb-466b-7364-8a37-6a81beb7bbd7"}));
    assert_eq!(err["kind"], "not_found");
}

#[test]
fn organization_commands_round_trip() {
    let h = harness();
    assert_eq!(h.ok("validate_organization", json!({"draft": org_draft()})), json!([]));
    let created = h.ok("create_organization", json!({"draft": org_draft()}));
    let key = created["key"].as_str().unwrap().to_string();
    assert_eq!(created["country"], "VN");
    assert_eq!(created["contacts"][0]["firstName"], "Lan");

    let mut draft = org_draft();
    draft["contacts"] = json!([]);
    draft["country"] = json!("XX");
    let err = h.err("update_organization", json!({"key": key, "draft": draft}));
    let names: Vec<&str> = err["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(names, ["country", "contacts"]);

    let mut draft = org_draft();
    draft["contacts"] = json!([{"firstName": "Hoa"}, {"firstName": "Minh", "workPhone": "55"}]);
    let updated = h.ok("update_organization", json!({"key": key, "draft": draft}));
    assert_eq!(updated["contacts"].as_array().unwrap().len(), 2);
    assert_eq!(h.ok("get_organization", json!({"key": key})), updated);
    let page = h.ok("list_organizations", json!({"query": {"search": "saig"}}));
    assert_eq!(page["total"], 1);
    h.ok("delete_organization", json!({"key": key}));
    assert_eq!(h.ok("list_organizations", json!({"query": {}}))["total"], 0);

    let countries = h.ok("countries", json!({}));
    let list = countries.as_array().unwrap();
    assert!(list.len() >= 249);
    assert!(list.iter().any(|c| c["code"] == "VN" && c["name"].as_str().unwrap().contains("Nam")));
}

#[test]
fn settings_keep_secrets_out_of_sight() {
    let h = harness();
    let view = h.ok("get_settings", json!({}));
    assert_eq!(view["partners"]["has_client_secret"], false);
    assert_eq!(view["keychain"]["available"], true);

    let settings = json!({
        "partners": {"base_url": "https://api.mycreditapp.ai/v1-beta/", "client_id": "cid", "client_secret": "s3cret!",
                     "requester_org_id": "3c90c3cc-0d44-4b50-8888-8dd25736052a", "target_org_ids": ["", "3c90c3cc-0d44-4b50-8888-8dd25736052b"]},
        "organizations": {"base_url": "https://sight.inspectorio.com", "api_key": "key-123"}
    });
    let saved = h.ok("save_settings", json!({"settings": settings}));
    assert_eq!(saved["partners"]["base_url"], "https://api.mycreditapp.ai/v1-beta");
    assert_eq!(saved["partners"]["has_client_secret"], true);
    assert_eq!(saved["organizations"]["has_api_key"], true);
    assert_eq!(saved["partners"]["target_org_ids"].as_array().unwrap().len(), 1);
    let text = saved.to_string();
    assert!(!text.contains("s3cret!") && !text.contains("key-123"), "secrets never leave Rust: {text}");
    assert_eq!(h.ok("get_settings", json!({})), saved);

    // null keeps the stored secret; "" removes it.
    let mut keep = settings.clone();
    keep["partners"]["client_secret"] = Value::Null;
    keep["organizations"]["api_key"] = json!("");
    let kept = h.ok("save_settings", json!({"settings": keep}));
    assert_eq!(kept["partners"]["has_client_secret"], true);
    assert_eq!(kept["organizations"]["has_api_key"], false);

    let mut bad = settings.clone();
    bad["partners"]["base_url"] = json!("http://partners.example.com");
    bad["partners"]["requester_org_id"] = json!("me");
    let err = h.err("save_settings", json!({"settings": bad}));
    assert_eq!(err["kind"], "validation");
    let names: Vec<&str> = err["fields"].as_array().unwrap().iter().map(|f| f["field"].as_str().unwrap()).collect();
    assert_eq!(names, ["partners.base_url", "partners.requester_org_id"]);
}

#[test]
fn test_connection_says_what_is_missing() {
    let h = harness();
    let report = h.ok("test_connection", json!({}));
    assert_eq!(report["partners"]["ok"], false);
    assert!(report["partners"]["message"].as_str().unwrap().contains("enter the partners API address"));
    assert_eq!(report["organizations"]["ok"], false);

    // A loopback address where nothing listens: unreachable, said plainly.
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    h.ok(
        "save_settings",
        json!({"settings": {"partners": {"base_url": format!("http://127.0.0.1:{port}"), "client_id": "c", "client_secret": "s"},
                            "organizations": {"base_url": format!("http://127.0.0.1:{port}"), "api_key": "k"}}}),
    );
    let report = h.ok("test_connection", json!({}));
    for api in ["partners", "organizations"] {
        assert_eq!(report[api]["ok"], false);
        assert!(report[api]["message"].as_str().unwrap().starts_with("Cannot reach"), "{report}");
    }
}

#[test]
fn export_and_import_commands_write_and_read_files() {
    let h = harness();
    h.ok("create_partner", json!({"draft": partner_draft()}));
    h.ok("create_organization", json!({"draft": org_draft()}));
    let dir = tempfile::tempdir().unwrap();
    let csv = dir.path().join("partners.csv");
    let n = h.ok(
        "export_partners",
        json!({"query": {"search": "acm"}, "options": {"format": "csv", "sync_state": true}, "path": csv}),
    );
    assert_eq!(n, 1);
    let text = std::fs::read_to_string(&csv).unwrap();
    assert!(text.starts_with("company_name,sales_amount,partner_type,email,frequency,payment_terms,sync_state\r\n"));
    assert!(text.contains("Acme,1200,customer,buyer@acme.example,monthly,net 30,pending"), "{text}");

    let xlsx = dir.path().join("orgs.xlsx");
    let n = h.ok(
        "export_organizations",
        json!({"query": {}, "options": {"format": "xlsx", "contacts": "rows"}, "path": xlsx}),
    );
    assert_eq!(n, 1);
    assert!(std::fs::metadata(&xlsx).unwrap().len() > 0);

    // The export's own format reads back: a dry run finds the partner already there.
    let report = h.ok("import_partners", json!({"path": csv, "dryRun": true}));
    assert_eq!(report["duplicates"], 1, "{report}");
    assert_eq!(report["imported"], 0);

    h.refused("export_partners", json!({"query": {}, "options": {"format": "pdf"}, "path": csv}), "options");
    let e = h.err("export_partners", json!({"query": {}, "options": {}, "path": ""}));
    assert_eq!(e["message"], "Choose a file first.");
    let e = h.err("export_partners", json!({"query": {}, "options": {}, "path": dir.path().join("missing/x.csv")}));
    assert_eq!(e["kind"], "io", "{e}");
    h.refused("import_partners", json!({"path": 42, "dryRun": "yes"}), "path");
    let e = h.err("import_partners", json!({"path": dir.path().join("nope.csv"), "dryRun": false}));
    assert_eq!(e["kind"], "io", "{e}");
}

/// With the real config and capability file, the main window may call the app's
/// commands, while another window, or a plugin command nobody granted, is refused.
#[test]
fn the_capability_file_gates_commands() {
    let dir = tempfile::tempdir().unwrap();
    let app = with_commands(mock_builder()).build(tauri::generate_context!()).unwrap();
    let path = dir.path().join("a.db");
    app.manage(AppState::new(Store::open(&path).unwrap(), path, Box::new(MemorySecrets::default())));
    let main = WebviewWindowBuilder::new(&app, "main", Default::default()).build().unwrap();
    let other = WebviewWindowBuilder::new(&app, "other", Default::default()).build().unwrap();

    let ask = |w: &WebviewWindow<MockRuntime>, cmd: &str| get_ipc_response(w, request(cmd, json!({"query": {}})));
    assert!(ask(&main, "list_partners").is_ok());
    let refused = ask(&other, "list_partners").unwrap_err();
    assert!(refused.to_string().contains("not allowed"), "{refused}");
    let refused = ask(&main, "plugin:window|close").unwrap_err();
    assert!(refused.to_string().contains("not allowed"), "{refused}");
}

/// The `partnerbook` command built beside this test (the workspace's test build makes both).
fn command_line() -> std::process::Command {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().and_then(|deps| deps.parent()).unwrap().join("partnerbook");
    assert!(bin.exists(), "{} is missing: build the workspace (cargo test --workspace builds it)", bin.display());
    let mut c = std::process::Command::new(bin);
    for (name, _) in std::env::vars().filter(|(n, _)| n.starts_with("PARTNERBOOK_")) {
        c.env_remove(name);
    }
    c
}

impl Harness {
    /// The `kind` the command line reports (`--json`, on stderr) for these arguments, on this database.
    fn cli_kind(&self, args: &[&str]) -> Value {
        let out =
            command_line().arg("--db").arg(self.dir.path().join("app.db")).arg("--json").args(args).output().unwrap();
        assert!(!out.status.success(), "{args:?} should fail");
        let error: Value = serde_json::from_slice(&out.stderr)
            .unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
        error["error"]["kind"].clone()
    }
}

/// One failure, two front ends, one `kind`.
#[test]
fn the_window_and_the_command_line_name_each_failure_alike() {
    let h = harness();
    let live = h.ok("create_partner", json!({"draft": partner_draft(), "targetOrgId": null}));
    let live = live["key"].as_str().unwrap().to_string();
    let gone = h.ok("create_partner", json!({"draft": partner_draft(), "targetOrgId": null}))["key"]
        .as_str()
        .unwrap()
        .to_string();
    h.ok("delete_partner", json!({"key": gone}));
    let unknown = "0190aaaa-0000-7000-8000-000000000000";
    let missing = h.dir.path().join("missing.csv");
    let no_columns = h.dir.path().join("no-columns.csv");
    std::fs::write(&no_columns, "name,amount\nAcme,1\n").unwrap();
    let (missing, no_columns) = (missing.to_str().unwrap(), no_columns.to_str().unwrap());
    let mut bad = partner_draft();
    bad["sales_amount"] = json!("-1");
    let cases: Vec<(&str, Value, Value)> = vec![
        (
            "validation",
            h.err("create_partner", json!({"draft": bad, "targetOrgId": null})),
            h.cli_kind(&[
                "partner",
                "add",
                "--company-name",
                "Acme",
                "--sales-amount",
                "-1",
                "--partner-type",
                "customer",
                "--email",
                "a@b.example",
                "--frequency",
                "monthly",
                "--payment-terms",
                "net 30",
            ]),
        ),
        ("not_found", h.err("get_partner", json!({"key": unknown})), h.cli_kind(&["partner", "show", unknown])),
        (
            "deleted",
            h.err("update_partner", json!({"key": gone, "draft": partner_draft()})),
            h.cli_kind(&["partner", "edit", &gone, "--frequency", "weekly"]),
        ),
        ("not_configured", h.err("sync_now", json!({})), h.cli_kind(&["sync", "--once"])),
        (
            "io",
            h.err("import_partners", json!({"path": missing, "dryRun": true})),
            h.cli_kind(&["partner", "import", missing, "--dry-run"]),
        ),
        (
            "invalid_file",
            h.err("import_partners", json!({"path": no_columns, "dryRun": true})),
            h.cli_kind(&["partner", "import", no_columns, "--dry-run"]),
        ),
    ];
    for (kind, window, command_line) in cases {
        assert_eq!(window["kind"], kind, "the window: {window}");
        assert_eq!(command_line, kind, "the command line, for what the window calls {kind}");
    }
    assert!(h.ok("get_partner", json!({"key": live}))["deleted_at"].is_null());
}

/// No command that reaches the database or the keychain runs on the
/// window's main thread: a plain `#[tauri::command] fn` does, so each one
/// taking the app's state is `async`, `(async)`, or only flips a flag.
#[test]
fn commands_that_touch_the_store_stay_off_the_main_thread() {
    let source = include_str!("../src/commands.rs");
    let only_flags = ["window_ready", "network_changed", "cancel_export", "cancel_import"];
    let mut on_main = Vec::new();
    for piece in source.split("#[tauri::command]\npub fn ").skip(1) {
        let name = piece.split('(').next().unwrap();
        let signature = piece.split('{').next().unwrap();
        if signature.contains("State<") && !only_flags.contains(&name) {
            on_main.push(name.to_string());
        }
    }
    assert!(on_main.is_empty(), "these run on the main thread: {on_main:?}");
}
