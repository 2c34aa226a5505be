//! End to end: the real app window under Xvfb, driven through WebDriver
//! (tauri-driver + WebKitWebDriver). Screenshots of the main screens are
//! saved in `artifacts/screenshots/`.
//!
//! Needs `tauri-driver`, `WebKitWebDriver` and `Xvfb` (./test.sh installs them).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

const TAB: &str = "\u{e004}";
const ENTER: &str = "\u{e007}";
const ESCAPE: &str = "\u{e00c}";

/// A child process killed when the test ends, pass or fail.
struct Guard(Child);

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn find_program(name: &str) -> PathBuf {
    let mut candidates: Vec<PathBuf> =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).map(|d| d.join(name)).collect()).unwrap_or_default();
    if let Some(cargo_home) = std::env::var_os("CARGO_HOME") {
        candidates.push(Path::new(&cargo_home).join("bin").join(name));
    }
    if let Some(home) = std::env::var_os("HOME") {
        candidates.push(Path::new(&home).join(".cargo/bin").join(name));
    }
    candidates.into_iter().find(|p| p.is_file()).unwrap_or_else(|| {
        panic!("`{name}` is not installed: run ./test.sh, which installs tauri-driver, WebKitWebDriver and Xvfb")
    })
}

/// Uses $DISPLAY when set, else starts a private Xvfb and returns its display.
fn display() -> (String, Option<Guard>) {
    if let Ok(d) = std::env::var("DISPLAY") {
        if !d.is_empty() {
            return (d, None);
        }
    }
    let mut xvfb = Command::new(find_program("Xvfb"))
        .args(["-displayfd", "1", "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("Xvfb starts");
    let mut line = String::new();
    BufReader::new(xvfb.stdout.take().unwrap()).read_line(&mut line).expect("Xvfb reports its display");
    (format!(":{}", line.trim()), Some(Guard(xvfb)))
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

#[derive(Clone)]
struct App {
    client: Client,
    shots: PathBuf,
    /// A folder of the test's own for files the app writes (exports).
    files: PathBuf,
    /// The local stand-in of the central APIs the app syncs with.
    api: std::sync::Arc<partnerbook_standin::StandIn>,
    /// The screens and dialogs axe-core has seen shown so far (by element id).
    checked: std::sync::Arc<std::sync::Mutex<std::collections::BTreeSet<String>>>,
}

/// axe-core as npm installed it (./test.sh does, from tests/a11y).
fn axe_source() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/a11y/node_modules/axe-core/axe.min.js");
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} ({e}): run ./test.sh, which installs axe-core from npm", path.display()))
}

impl App {
    async fn css(&self, selector: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(Duration::from_secs(15))
            .for_element(Locator::Css(selector))
            .await
            .unwrap_or_else(|e| panic!("{selector} never appeared: {e}"))
    }

    async fn js(&self, script: &str) -> Value {
        self.client.execute(script, vec![]).await.unwrap_or_else(|e| panic!("script failed ({e}): {script}"))
    }

    /// Waits until `expr` (a JS expression) is truthy.
    /// Clicks `button` and waits for the `<dialog>` `dialog` to be open.
    async fn opens_dialog(&self, button: &str, dialog: &str) {
        self.click(button).await;
        self.until(&format!("{dialog} to open"), &format!("document.querySelector('{dialog}').open")).await;
    }

    /// Clicks `button` and waits for the `<dialog>` `dialog` to be closed.
    async fn closes_dialog(&self, button: &str, dialog: &str) {
        self.click(button).await;
        self.until(&format!("{dialog} to close"), &format!("!document.querySelector('{dialog}').open")).await;
    }

    async fn until(&self, what: &str, expr: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        loop {
            if self.js(&format!("return !!({expr});")).await == json!(true) {
                return;
            }
            if Instant::now() >= deadline {
                let context = self
                    .js("return 'notice: ' + document.querySelector('#notice').textContent + ' | status: ' + document.querySelector('#status-message').textContent + ' | focus: ' + document.activeElement.outerHTML.slice(0, 200);")
                    .await;
                panic!("timed out waiting for {what} ({expr}); {context}");
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    async fn text(&self, selector: &str) -> String {
        self.css(selector).await.text().await.unwrap()
    }

    /// Clears an input and types `value` into it.
    async fn fill(&self, selector: &str, value: &str) {
        let input = self.css(selector).await;
        input.clear().await.unwrap();
        if !value.is_empty() {
            input.send_keys(value).await.unwrap();
        }
    }

    async fn click(&self, selector: &str) {
        self.css(selector).await.click().await.unwrap_or_else(|e| panic!("cannot click {selector}: {e}"));
    }

    async fn shot(&self, name: &str) {
        let png = self.client.screenshot().await.expect("screenshot");
        std::fs::write(self.shots.join(format!("{name}.png")), png).unwrap();
    }

    /// Runs axe-core on the window as it is now: saves every finding as
    /// `axe-<name>.json` beside the screenshots and fails on a serious or
    /// critical one. The script is injected through WebDriver (it is not in
    /// the app, and the app's CSP does not apply to WebDriver's scripts).
    async fn check_accessibility(&self, name: &str) {
        let results = self.run_axe(name).await;
        std::fs::write(self.shots.join(format!("axe-{name}.json")), serde_json::to_string_pretty(&results).unwrap())
            .unwrap();
        let grave = grave_violations(&results);
        assert!(grave.is_empty(), "accessibility ({name}): {}", serde_json::to_string_pretty(&grave).unwrap());
        let shown = self.js(SHOWN).await;
        let shown: Vec<String> = serde_json::from_value(shown).unwrap();
        self.checked.lock().unwrap().extend(shown);
    }

    /// axe-core's findings on the window as it is now.
    async fn run_axe(&self, name: &str) -> Value {
        if self.js("return typeof window.axe === 'undefined';").await == json!(true) {
            self.client.execute(&axe_source(), vec![]).await.expect("axe-core loads into the window");
        }
        let results = self
            .client
            .execute_async(
                "const done = arguments[arguments.length - 1];
                 window.axe.run(document, {resultTypes: ['violations']})
                   .then((r) => done({url: r.url, violations: r.violations.map((v) => ({
                       id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => ({target: n.target, summary: n.failureSummary}))
                     })), passes: r.passes.length, incomplete: r.incomplete.length}),
                     (e) => done({error: String(e)}));",
                vec![],
            )
            .await
            .expect("axe-core runs");
        assert!(results.get("error").is_none(), "axe-core failed on {name}: {results}");
        results
    }

    /// Fails unless axe-core saw every screen and every dialog the page has.
    async fn every_screen_and_dialog_checked(&self) {
        let all: Vec<String> = serde_json::from_value(
            self.js("return [...document.querySelectorAll('section.screen, dialog')].map((e) => e.id);").await,
        )
        .unwrap();
        let checked = self.checked.lock().unwrap().clone();
        let unchecked: Vec<&String> = all.iter().filter(|id| !checked.contains(*id)).collect();
        assert!(all.len() >= 7 && unchecked.is_empty(), "not checked for accessibility: {unchecked:?} (of {all:?})");
    }

    async fn visible_rows(&self) -> Vec<String> {
        let v = self
            .js("return [...document.querySelectorAll('#partner-list .partner-row .partner-name')].map(e => e.textContent);")
            .await;
        serde_json::from_value(v).unwrap()
    }

    async fn fill_partner(&self, fields: &[(&str, &str)]) {
        for (field, value) in fields {
            if *field == "partner_type" {
                self.css("#partner-partner_type").await.select_by_value(value).await.unwrap();
            } else {
                self.fill(&format!("#partner-{field}"), value).await;
            }
        }
    }
}

/// The serious and critical findings of an axe-core run (no rule is disabled).
fn grave_violations(results: &Value) -> Vec<Value> {
    let all = results["violations"].as_array().cloned().unwrap_or_default();
    all.into_iter().filter(|v| matches!(v["impact"].as_str(), Some("serious" | "critical"))).collect()
}

/// The screens shown and dialogs open at the moment (what an axe-core run covers).
const SHOWN: &str =
    "return [...document.querySelectorAll('section.screen:not([hidden]), dialog[open]')].map((e) => e.id);";

const HOSTILE_NAME: &str = "<img src=x onerror=alert(1)>";
const HOSTILE_TERMS: &str = "'); DROP TABLE partners;--";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn desktop_end_to_end() {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf();
    let shots = workspace.join("artifacts/screenshots");
    std::fs::create_dir_all(&shots).unwrap();
    let home = tempfile::tempdir().unwrap();

    // IT's managed file locks one setting (the settle window), as a company's roll-out would.
    let managed = home.path().join("managed.toml");
    std::fs::write(&managed, "locked = [\"sync.settle_seconds\"]\n[sync]\nsettle_seconds = 60\n").unwrap();
    let (display, _xvfb) = display();
    let port = free_port();
    let native_port = free_port();
    let _driver = Guard(
        Command::new(find_program("tauri-driver"))
            .args(["--port", &port.to_string(), "--native-port", &native_port.to_string()])
            .env("DISPLAY", &display)
            .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
            .env("NO_AT_BRIDGE", "1")
            .env("PARTNERBOOK_DB", home.path().join("e2e.db"))
            .env("PARTNERBOOK_SECRETS", "memory")
            .env("PARTNERBOOK_MANAGED_CONFIG", &managed)
            .env("XDG_CONFIG_HOME", home.path().join("config"))
            .env("XDG_DATA_HOME", home.path().join("data"))
            .stdout(Stdio::null())
            .spawn()
            .expect("tauri-driver starts"),
    );

    let mut caps = serde_json::Map::new();
    caps.insert("browserName".into(), json!("wry"));
    caps.insert("tauri:options".into(), json!({ "application": env!("CARGO_BIN_EXE_partnerbook-desktop") }));
    let url = format!("http://127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    let client = loop {
        match ClientBuilder::native().capabilities(caps.clone()).connect(&url).await {
            Ok(c) => break c,
            Err(e) if Instant::now() < deadline => {
                let _ = e;
                tokio::time::sleep(Duration::from_millis(250)).await;
            }
            Err(e) => panic!("no WebDriver session with the app: {e}"),
        }
    };
    // One connected organization, readable but not writable (the vendor's default for a connection).
    let api = partnerbook_standin::StandIn::start(partnerbook_standin::Config {
        connections: vec![(partnerbook_standin::DEV_ORG_ID, CONNECTED)],
        ..partnerbook_standin::Config::default()
    })
    .await
    .expect("stand-in starts");
    let app = App {
        client,
        shots,
        files: home.path().to_path_buf(),
        api: std::sync::Arc::new(api),
        checked: Default::default(),
    };
    // Run the steps in a task so that a failed step still leaves a screenshot behind.
    let steps = app.clone();
    let outcome = tokio::spawn(async move { scenario(&steps).await }).await;
    app.shot("last").await;
    app.client.clone().close().await.ok();
    if let Err(failure) = outcome {
        std::panic::resume_unwind(failure.into_panic());
    }
}

async fn scenario(app: &App) {
    // Start: the partner list, empty.
    app.css("#screen-partners").await;
    app.until(
        "the empty state",
        "document.querySelector('#partner-empty') && document.querySelector('#partner-empty').offsetParent !== null",
    )
    .await;
    app.shot("01-partners-empty").await;
    // The check can fail: a button without a name, put in for a moment, is found.
    app.js("const b = document.createElement('button'); b.id = 'axe-canary'; document.querySelector('#screen-partners').append(b);").await;
    let canary = grave_violations(&app.run_axe("canary").await);
    assert!(canary.iter().any(|v| v["id"] == "button-name"), "axe-core missed a nameless button: {canary:?}");
    app.js("document.querySelector('#axe-canary').remove();").await;
    app.check_accessibility("partners-empty").await;

    // Add a partner; Enter saves.
    app.click("#partner-new").await;
    app.css("#partner-form").await;
    app.fill_partner(&[
        ("company_name", "Acme Corporation"),
        ("sales_amount", "15000"),
        ("partner_type", "customer"),
        ("email", "buyer@acme.example"),
        ("frequency", "monthly"),
    ])
    .await;
    app.fill("#partner-payment_terms", "net 30").await;
    app.css("#partner-payment_terms").await.send_keys(ENTER).await.unwrap();
    app.until(
        "the new row",
        "[...document.querySelectorAll('#partner-list .partner-name')].some(e => e.textContent === 'Acme Corporation')",
    )
    .await;
    let notice = app.js("return document.querySelector('#notice').textContent;").await.to_string();
    assert!(notice.to_lowercase().contains("saved"), "notice: {notice:?}");
    let badge = app.js("return document.querySelector('#partner-list .partner-row .badge').className;").await;
    assert!(badge.as_str().unwrap().contains("badge-pending"), "{badge}");

    // Each field fails validation on its own, with the message next to it, as the user leaves it.
    app.click("#partner-new").await;
    app.css("#partner-form").await;
    let bad: [(&str, &str, &str); 6] = [
        ("company_name", &"x".repeat(101), "at most 100"),
        ("sales_amount", "-1", "between 0 and 2147483647"),
        ("partner_type", "", "required"),
        ("email", "not-an-email", "valid email"),
        ("frequency", &"f".repeat(31), "at most 30"),
        ("payment_terms", &"p".repeat(51), "at most 50"),
    ];
    for (field, value, expected) in bad {
        let input = format!("#partner-{field}");
        if field == "partner_type" {
            app.css(&input).await.select_by_value("").await.unwrap();
            app.css(&input).await.send_keys(TAB).await.unwrap();
        } else {
            app.fill(&input, value).await;
            app.css(&input).await.send_keys(TAB).await.unwrap();
        }
        let error = format!("#partner-{field}-error");
        app.until(&format!("{field}'s message"), &format!("document.querySelector('{error}').textContent.length > 0"))
            .await;
        let message = app.text(&error).await;
        assert!(message.contains(expected), "{field}: {message:?} should mention {expected:?}");
        assert_eq!(app.css(&input).await.attr("aria-invalid").await.unwrap().as_deref(), Some("true"));
    }
    app.shot("02-partner-form-errors").await;
    app.check_accessibility("partner-form-errors").await;
    // Saving shows every message and writes nothing.
    app.click("#partner-save").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.visible_rows().await, ["Acme Corporation"]);
    // Fix the fields one by one: each message clears when its field is right.
    app.fill_partner(&[
        ("company_name", HOSTILE_NAME),
        ("sales_amount", "0"),
        ("partner_type", "supplier"),
        ("email", "x@evil.example"),
        ("frequency", "weekly"),
        ("payment_terms", HOSTILE_TERMS),
    ])
    .await;
    app.css("#partner-payment_terms").await.send_keys(TAB).await.unwrap();
    app.until("messages to clear", "document.querySelector('#partner-company_name-error').textContent === ''").await;
    app.click("#partner-save").await;
    app.until(
        "the hostile row",
        &format!(
            "[...document.querySelectorAll('#partner-list .partner-name')].some(e => e.textContent === {})",
            json!(HOSTILE_NAME)
        ),
    )
    .await;

    // Hostile strings show as text; nothing ran.
    assert_eq!(app.js("return document.querySelectorAll('#partner-list img').length;").await, json!(0));
    assert!(app.client.get_alert_text().await.is_err(), "an alert opened: script ran");
    assert_eq!(app.visible_rows().await, [HOSTILE_NAME, "Acme Corporation"], "sorted by name, '<' first");
    // One tab stop for the whole list (the arrows move inside it), and list semantics.
    assert_eq!(app.js("return document.querySelectorAll('#partner-list [tabindex=\"0\"]').length;").await, json!(1));
    assert_eq!(
        app.js("return document.querySelector('#partner-list .partner-row').getAttribute('role');").await,
        json!("listitem")
    );
    app.shot("03-partners-list").await;
    app.check_accessibility("partners-list").await;
    // The import dialog, before a file is chosen (the native file dialog cannot be driven).
    app.opens_dialog("#partner-import", "#import-dialog").await;
    app.check_accessibility("import-dialog").await;
    app.closes_dialog("#import-close", "#import-dialog").await;

    // Open the hostile record: values are shown verbatim in the form.
    let key = app
        .js(&format!(
            "return [...document.querySelectorAll('#partner-list .partner-row')].find(r => r.querySelector('.partner-name').textContent === {}).dataset.key;",
            json!(HOSTILE_NAME)
        ))
        .await;
    let key = key.as_str().unwrap().to_string();
    app.click(&format!("#partner-list .partner-row[data-key='{key}']")).await;
    app.css("#partner-form").await;
    app.until(
        "the edit form",
        &format!("document.querySelector('#partner-payment_terms').value === {}", json!(HOSTILE_TERMS)),
    )
    .await;
    // Esc cancels without saving.
    app.fill("#partner-frequency", "daily").await;
    app.css("#partner-frequency").await.send_keys(ESCAPE).await.unwrap();
    if app.js("const d = document.querySelector('#confirm-dialog'); return !!(d && d.open);").await == json!(true) {
        app.click("#confirm-yes").await;
    }
    app.until("the form to close", "document.querySelector('#partner-form').offsetParent === null").await;

    // Edit: open Acme, change the email, save.
    app.click("#partner-list .partner-row:last-child").await;
    app.css("#partner-form").await;
    app.until("the Acme form", "document.querySelector('#partner-company_name').value === 'Acme Corporation'").await;
    app.fill("#partner-email", "orders@acme.example").await;
    app.click("#partner-save").await;
    app.until("the edited email", "[...document.querySelectorAll('#partner-list .partner-email')].some(e => e.textContent === 'orders@acme.example')").await;

    // Focus goes back to the saved record's row, not to the page.
    app.until(
        "focus on the saved row",
        "document.activeElement && document.activeElement.querySelector && document.activeElement.querySelector('.partner-email') \
         && document.activeElement.querySelector('.partner-email').textContent === 'orders@acme.example'",
    )
    .await;
    // Shortcuts: / focuses the search, Ctrl+N opens a new record.
    app.js("document.activeElement.blur(); document.dispatchEvent(new KeyboardEvent('keydown', {key: '/', bubbles: true}));").await;
    app.until("the search focused", "document.activeElement.id === 'partner-search'").await;
    app.js("document.activeElement.blur(); document.dispatchEvent(new KeyboardEvent('keydown', {key: 'n', ctrlKey: true, bubbles: true}));").await;
    app.until("a new partner form", "document.querySelector('#partner-form-title').textContent === 'New partner' && document.querySelector('#partner-form').offsetParent !== null").await;
    app.click("#partner-cancel").await;
    app.until("focus back on New partner", "document.activeElement.id === 'partner-new'").await;

    // Search narrows the list as the user types.
    app.fill("#partner-search", "acm").await;
    app.until("search to narrow", "document.querySelectorAll('#partner-list .partner-row').length === 1").await;
    assert_eq!(app.visible_rows().await, ["Acme Corporation"]);
    app.fill("#partner-search", "").await;
    app.until("search to clear", "document.querySelectorAll('#partner-list .partner-row').length === 2").await;

    // A duplicate warning while typing: leaving the name field asks the store, offline.
    app.click("#partner-new").await;
    app.css("#partner-form").await;
    app.fill("#partner-company_name", "ACME Corp.").await;
    app.css("#partner-company_name").await.send_keys(TAB).await.unwrap();
    app.until("the duplicate warning", "!document.querySelector('#partner-duplicates').hidden").await;
    let warning = app.text("#partner-duplicates").await;
    assert!(warning.contains("Possible duplicate of Acme Corporation (orders@acme.example; same name)"), "{warning}");
    app.shot("03b-duplicate-warning").await;
    app.check_accessibility("duplicate-warning").await;
    // Its link opens the partner it names (after asking, since something was typed).
    app.opens_dialog("#partner-duplicates button.link", "#confirm-dialog").await;
    app.click("#confirm-yes").await;
    app.until("Acme opened", "document.querySelector('#partner-company_name').value === 'Acme Corporation'").await;
    app.click("#partner-cancel").await;
    app.until("the form to close", "document.querySelector('#partner-form').offsetParent === null").await;

    // Export: the dialog offers the formats; the native save dialog cannot be
    // driven through WebDriver, so the file is written through the same IPC
    // command the dialog's path goes to, from inside the page.
    app.opens_dialog("#partner-export", "#export-dialog").await;
    assert!(app.text("#export-what").await.starts_with("2 partners"));
    app.shot("04-export-dialog").await;
    app.check_accessibility("export-partners").await;
    // Columns: all thirteen offered, the six API fields chosen; a choice and an order are remembered.
    let offered = app.js("return [...document.querySelectorAll('#export-columns li')].map(li => [li.dataset.name, li.querySelector('input').checked]);").await;
    assert_eq!(offered.as_array().unwrap().len(), 13, "{offered}");
    assert_eq!(offered[3], json!(["email", true]));
    assert_eq!(offered[7], json!(["key", false]));
    // Clicked from the page: the dialog's list scrolls, and WebDriver will not click what it cannot see.
    app.js("document.querySelector(\"#export-columns li[data-name='email'] button[data-move='-1']\").click();").await;
    app.js("document.querySelector('#export-column-sales_amount').click();").await;
    app.closes_dialog("#export-cancel", "#export-dialog").await;
    app.opens_dialog("#partner-export", "#export-dialog").await;
    let again = app.js("return [...document.querySelectorAll('#export-columns li')].slice(0, 4).map(li => [li.dataset.name, li.querySelector('input').checked]);").await;
    assert_eq!(
        again,
        json!([["company_name", true], ["sales_amount", false], ["email", true], ["partner_type", true]])
    );
    app.closes_dialog("#export-cancel", "#export-dialog").await;
    // Two chosen columns, in the chosen order, read back with the csv crate.
    let two = app.files.join("two-columns.csv");
    let written = app
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             window.__TAURI__.core.invoke('export_partners', {query: {}, options: {format: 'csv', columns: ['email', 'company_name']}, path: arguments[0]})
               .then(done, (e) => done('error: ' + JSON.stringify(e)));",
            vec![json!(two)],
        )
        .await
        .unwrap();
    assert_eq!(written, json!(2), "{written}");
    let mut reader = csv::Reader::from_path(&two).unwrap();
    assert_eq!(reader.headers().unwrap().iter().collect::<Vec<_>>(), ["email", "company_name"]);
    assert!(
        reader.records().any(|r| r.unwrap().iter().collect::<Vec<_>>() == ["orders@acme.example", "Acme Corporation"])
    );
    let out = app.files.join("partners.csv");
    let rows = app
        .client
        .execute_async(
            "const done = arguments[arguments.length - 1];
             window.__TAURI__.core.invoke('export_partners', {query: {}, options: {format: 'csv'}, path: arguments[0]})
               .then(done, (e) => done('error: ' + JSON.stringify(e)));",
            vec![json!(out)],
        )
        .await
        .unwrap();
    assert_eq!(rows, json!(2), "{rows}");
    let csv = std::fs::read_to_string(&out).unwrap();
    assert!(csv.contains("Acme Corporation,15000,customer,orders@acme.example,monthly,net 30"), "{csv}");
    assert!(csv.contains(HOSTILE_NAME), "{csv}");

    // Delete asks first.
    app.click(&format!("#partner-list .partner-row[data-key='{key}']")).await;
    app.css("#partner-form").await;
    app.opens_dialog("#partner-delete", "#confirm-dialog").await;
    app.shot("04-confirm-delete").await;
    app.check_accessibility("confirm-delete").await;
    app.click("#confirm-yes").await;
    app.until("the row to go", "document.querySelectorAll('#partner-list .partner-row').length === 1").await;
    assert_eq!(app.visible_rows().await, ["Acme Corporation"]);

    // Status bar counts what waits for the central API.
    app.until("the status bar", "/\\d/.test(document.querySelector('#status-pending').textContent)").await;
    let pending = app.text("#status-pending").await;
    assert!(pending.contains('1'), "one partner waits (the deleted one was never sent): {pending}");

    // Organizations: add one with two contacts.
    app.click("#nav-organizations").await;
    app.css("#screen-organizations").await;
    app.click("#org-new").await;
    app.css("#org-form").await;
    app.fill("#org-name", "Saigon Textiles").await;
    app.css("#org-type").await.select_by_value("F").await.unwrap();
    app.fill("#org-address", "12 Le Loi").await;
    app.fill("#org-country", "VN").await;
    app.fill("#org-phone", "+84 28 1234").await;
    app.css("#org-contacts .contact-firstName").await.send_keys("Lan").await.unwrap();
    app.click("#org-contact-add").await;
    app.until("a second contact", "document.querySelectorAll('#org-contacts .contact-firstName').length === 2").await;
    let second = app.client.find_all(Locator::Css("#org-contacts .contact-firstName")).await.unwrap();
    second[1].send_keys("Minh").await.unwrap();
    app.shot("05-organization-form").await;
    app.check_accessibility("organization-form").await;
    app.click("#org-save").await;
    app.until(
        "the org row",
        "[...document.querySelectorAll('#org-list .org-name')].some(e => e.textContent === 'Saigon Textiles')",
    )
    .await;
    app.shot("06-organizations-list").await;
    app.check_accessibility("organizations-list").await;
    // The Sync filter narrows the list as on the partners screen: nothing is synced here, the one organization waits.
    app.css("#org-state-filter").await.select_by_value("synced").await.unwrap();
    app.until("no synced organization", "document.querySelector('#org-count').textContent === '0 organizations'").await;
    assert_eq!(app.text("#org-empty").await, "No organizations match your search.");
    app.css("#org-state-filter").await.select_by_value("pending").await.unwrap();
    app.until("the waiting organization", "document.querySelector('#org-count').textContent === '1 organization'")
        .await;
    app.css("#org-state-filter").await.select_by_value("").await.unwrap();
    // Its export dialog offers the organization's columns: every field and the contacts, in the API's order.
    app.opens_dialog("#org-export", "#export-dialog").await;
    let offered = app.js("return [...document.querySelectorAll('#export-columns li')].map(li => [li.dataset.name, li.querySelector('input').checked]);").await;
    let offered = offered.as_array().unwrap();
    assert_eq!(offered.len(), 17, "{offered:?}");
    assert_eq!(
        (&offered[0], &offered[15], &offered[16]),
        (&json!(["name", true]), &json!(["contacts", true]), &json!(["key", false]))
    );
    app.check_accessibility("export-organizations").await;
    app.closes_dialog("#export-cancel", "#export-dialog").await;
    // The organization form warns of a likely duplicate too.
    app.click("#org-new").await;
    app.css("#org-form").await;
    app.fill("#org-name", "SAIGON TEXTILES JSC").await;
    app.css("#org-name").await.send_keys(TAB).await.unwrap();
    app.until("the organization duplicate warning", "!document.querySelector('#org-duplicates').hidden").await;
    assert!(app.text("#org-duplicates").await.contains("Possible duplicate of Saigon Textiles"));
    app.click("#org-cancel").await;
    if app.js("const d = document.querySelector('#confirm-dialog'); return !!(d && d.open);").await == json!(true) {
        app.click("#confirm-yes").await;
    }
    app.until("the org form to close", "document.querySelector('#org-form').offsetParent === null").await;

    // The Sync screen lists what waits (sync is not set up here), with retry and discard.
    app.click("#nav-changes").await;
    app.css("#screen-changes").await;
    app.until("the waiting changes", "document.querySelectorAll('#outbox-rows .outbox-row').length === 2").await;
    let rows =
        app.js("return [...document.querySelectorAll('#outbox-rows .outbox-record')].map(r => r.textContent);").await;
    assert_eq!(rows, json!(["Partner: Acme Corporation", "Organization: Saigon Textiles"]), "{rows}");
    assert!(app.text("#conflict-empty").await.contains("Nothing to decide"));
    app.shot("08-sync-screen").await;
    app.check_accessibility("sync-screen").await;

    // Settings: plain-language keychain line and a test-connection report.
    app.click("#nav-settings").await;
    app.css("#screen-settings").await;
    app.click("#settings-test").await;
    app.until(
        "the test result",
        "document.querySelector('#settings-test-result').textContent.includes('Partners API')",
    )
    .await;
    // About names the version and the database schema, as `partnerbook --version` does.
    assert_eq!(
        app.text("#about-version").await,
        format!("Partnerbook {} (database schema {})", env!("CARGO_PKG_VERSION"), partnerbook::store::SCHEMA_VERSION)
    );
    // The managed setting: filled in, read-only, and said to be the organization's.
    assert_eq!(app.js("return document.querySelector('#set-sync-settle_seconds').value;").await, json!("60"));
    assert_eq!(app.js("return document.querySelector('#set-sync-settle_seconds').disabled;").await, json!(true));
    assert_eq!(app.text("#set-sync-settle_seconds-managed").await, "Managed by your organization");
    assert!(app.text("#managed-status").await.starts_with("Some settings come from your organization ("));
    app.until("the update line", "document.querySelector('#update-status').textContent.length > 0").await;
    assert_eq!(
        app.text("#update-status").await,
        "Updates are not set up: your IT department gives the update address."
    );
    // An update address over plain http is refused, with the reason beside the field.
    app.fill("#set-updates-address", "http://updates.example.com/partnerbook/latest.json").await;
    app.click("#settings-save").await;
    app.until(
        "the update address's message",
        "document.querySelector('#set-updates-address-error').textContent.includes('https://')",
    )
    .await;
    app.fill("#set-updates-address", "").await;
    app.shot("07-settings").await;
    app.check_accessibility("settings").await;

    // Sync with the stand-in: settings saved, the queue drains, badges turn synced.
    let set = |id: &str, v: String| (format!("#set-{id}"), v);
    for (selector, value) in [
        set("partners-base_url", app.api.partners_url()),
        set("partners-client_id", partnerbook_standin::DEV_CLIENT_ID.into()),
        set("partners-client_secret", partnerbook_standin::DEV_CLIENT_SECRET.into()),
        set("partners-requester_org_id", partnerbook_standin::DEV_ORG_ID.to_string()),
        set("partners-target_org_ids", format!("{CONNECTED} Hanoi Traders")),
        set("organizations-base_url", app.api.organizations_url()),
        set("organizations-api_key", partnerbook_standin::DEV_API_KEY.into()),
    ] {
        app.fill(&selector, &value).await;
    }
    app.click("#set-partners-assumed_ops").await;
    app.click("#settings-save").await;
    app.until("the queue to drain", "document.querySelector('#status-pending').textContent === 'All changes saved'")
        .await;
    let on_server = app.api.partners();
    assert_eq!(on_server.len(), 1, "{on_server:?}");
    assert_eq!(on_server[0]["company_name"], "Acme Corporation");
    assert_eq!(app.api.organizations().len(), 1);
    app.click("#nav-partners").await;
    app.until("the synced badge", "document.querySelector('#partner-list .badge').className.includes('badge-synced')")
        .await;

    // Changed here and on the server: a conflict, decided on the Sync screen.
    let id: uuid::Uuid = on_server[0]["id"].as_str().unwrap().parse().unwrap();
    app.api.edit_partner(id, json!({"payment_terms": "net 90"})).unwrap();
    app.click("#partner-list .partner-row").await;
    app.until("the Acme form", "document.querySelector('#partner-company_name').value === 'Acme Corporation'").await;
    app.fill("#partner-payment_terms", "net 45").await;
    app.click("#partner-save").await;
    app.until("the conflict count", "!document.querySelector('#nav-changes-count').hidden").await;
    app.click("#nav-changes").await;
    app.until("the conflict card", "document.querySelectorAll('#conflict-list .conflict').length === 1").await;
    let field = app.js("return document.querySelector('#conflict-list fieldset').dataset.field;").await;
    assert_eq!(field, json!("payment_terms"));
    app.shot("09-conflict").await;
    app.check_accessibility("conflict").await;
    app.click("#conflict-list input[value='theirs']").await;
    app.click("#conflict-list button.primary").await;
    app.until("the conflict to go", "document.querySelectorAll('#conflict-list .conflict').length === 0").await;
    app.click("#sync-now").await;
    app.until(
        "the queue to drain again",
        "document.querySelector('#status-pending').textContent === 'All changes saved'",
    )
    .await;
    assert_eq!(app.api.partners()[0]["payment_terms"], "net 90", "theirs was taken");
    app.click("#nav-partners").await;
    app.until("synced again", "document.querySelector('#partner-list .badge').className.includes('badge-synced')")
        .await;

    // A connected organization's partner arrives by pull, named as Settings names the organization.
    app.api.insert_partner(
        CONNECTED,
        json!({"company_name": "Hanoi Supplies", "sales_amount": 900, "partner_type": "supplier",
               "email": "sales@hanoi.example", "frequency": "monthly", "payment_terms": "net 60"}),
    );
    app.click("#sync-now").await;
    app.until("the connected partner", "document.querySelectorAll('#partner-list .partner-row').length === 2").await;
    let orgs =
        app.js("return [...document.querySelectorAll('#partner-list .partner-org')].map(e => e.textContent);").await;
    assert_eq!(orgs, json!(["My organization", "Hanoi Traders"]), "{orgs}");
    // Filter by organization.
    app.css("#partner-org-filter").await.select_by_value(&CONNECTED.to_string()).await.unwrap();
    app.until("only theirs", "document.querySelectorAll('#partner-list .partner-row').length === 1").await;
    assert_eq!(app.visible_rows().await, ["Hanoi Supplies"]);
    // Editing it: the server refuses (403), the change stays here, and the form turns read-only with the reason.
    app.click("#partner-list .partner-row").await;
    app.until("its form", "document.querySelector('#partner-company_name').value === 'Hanoi Supplies'").await;
    app.fill("#partner-frequency", "weekly").await;
    app.click("#partner-save").await;
    app.until("the form to close", "document.querySelector('#partner-form').offsetParent === null").await;
    app.until("the refusal", "document.querySelector('#status-message').textContent.includes('kept here until')").await;
    app.click("#partner-list .partner-row").await;
    app.until("the read-only note", "!document.querySelector('#partner-read-only').hidden").await;
    assert!(app.text("#partner-read-only").await.contains("does not let you change"));
    assert_eq!(app.js("return document.querySelector('#partner-frequency').disabled;").await, json!(true));
    assert_eq!(app.js("return document.querySelector('#partner-save').hidden;").await, json!(true));
    app.shot("10-read-only-partner").await;
    app.check_accessibility("read-only-partner").await;
    app.click("#partner-cancel").await;
    app.css("#partner-org-filter").await.select_by_value("own").await.unwrap();
    app.until("only ours", "document.querySelectorAll('#partner-list .partner-row').length === 1").await;
    assert_eq!(app.visible_rows().await, ["Acme Corporation"]);
    app.css("#partner-org-filter").await.select_by_value("").await.unwrap();

    // The client is revoked: "Needs sign-in" with Try again, which works once IT re-enables it.
    app.api.revoke_client(partnerbook_standin::DEV_CLIENT_ID);
    app.api.expire_tokens();
    app.click("#sync-now").await;
    app.until("needs sign-in", "document.querySelector('#status-message').textContent.startsWith('Needs sign-in')")
        .await;
    app.until("Try again", "!document.querySelector('#sign-in-again').hidden").await;
    app.shot("11-needs-sign-in").await;
    // The Sync screen says it too, with its own Try again.
    app.click("#nav-changes").await;
    app.until("the Sync screen's sign-in note", "!document.querySelector('#sign-in-needed').hidden").await;
    assert!(app.text("#sign-in-reasons").await.contains("refused the client ID or secret"));
    app.shot("12-sync-screen-needs-sign-in").await;
    app.check_accessibility("sync-screen-needs-sign-in").await;
    app.api.add_client(partnerbook_standin::ClientCredentials::dev());
    app.click("#sign-in-again-changes").await;
    app.until("signed in again", "document.querySelector('#sign-in-again').hidden").await;
    app.until("the note to go", "document.querySelector('#sign-in-needed').hidden").await;
    assert!(!app.text("#status-message").await.starts_with("Needs sign-in"));

    // An import runs off the window's thread: a search and opening a record answer before it ends.
    app.click("#nav-partners").await;
    let key = app.js("return document.querySelector('#partner-list .partner-row').dataset.key;").await;
    let key = key.as_str().unwrap().to_string();
    let big = app.files.join("big.csv");
    let mut text = String::from("email,company_name,sales_amount,partner_type,frequency,payment_terms\n");
    for i in 0..IMPORT_ROWS {
        text.push_str(&format!("bulk{i}@import.example,Bulk Company {i},{i},customer,monthly,net 30\n"));
    }
    std::fs::write(&big, &text).unwrap();
    let timing = app
        .client
        .execute_async(
            "const [path, key, done] = arguments;
             const t = window.__TAURI__;
             const events = [];
             t.event.listen('import-progress', (e) => events.push([performance.now(), e.payload.done])).then(async (unlisten) => {
               const importing = t.core.invoke('import_partners', {path, dryRun: false})
                 .then((r) => ['ok', r.imported, performance.now()], (e) => ['err', e.kind, performance.now()]);
               while (!events.some(([, d]) => d > 0)) await new Promise((r) => setTimeout(r, 2));
               await t.core.invoke('list_partners', {query: {search: 'acme', limit: 50, offset: 0}});
               const searched = performance.now();
               await t.core.invoke('get_partner', {key});
               const opened = performance.now();
               const result = await importing;
               unlisten();
               done({events, searched, opened, result});
             });",
            vec![json!(big), json!(key)],
        )
        .await
        .unwrap();
    let events = timing["events"].as_array().unwrap();
    let last_event = events.last().unwrap()[0].as_f64().unwrap();
    let dones: Vec<u64> = events.iter().map(|e| e[1].as_u64().unwrap()).collect();
    assert!(dones.windows(2).all(|w| w[0] <= w[1]) && dones.len() > 3, "the bar moves: {dones:?}");
    assert_eq!((&timing["result"][0], &timing["result"][1]), (&json!("ok"), &json!(IMPORT_ROWS)), "{timing}");
    for what in ["searched", "opened"] {
        assert!(timing[what].as_f64().unwrap() < last_event, "{what} waited for the import: {timing}");
    }
    // Stop: a second file, stopped once it is under way, leaves nothing.
    let second = app.files.join("second.csv");
    std::fs::write(&second, text.replace("bulk", "more").replace("Bulk", "More")).unwrap();
    let stopped = app
        .client
        .execute_async(
            "const [path, done] = arguments;
             const t = window.__TAURI__;
             let started = false;
             t.event.listen('import-progress', (e) => { if (e.payload.done > 0 && !started) { started = true; t.core.invoke('cancel_import'); } })
               .then((unlisten) => t.core.invoke('import_partners', {path, dryRun: false})
                 .then((r) => done(['ok', r.imported]), (e) => done(['err', e.kind]))
                 .finally(unlisten));",
            vec![json!(second)],
        )
        .await
        .unwrap();
    assert_eq!(stopped, json!(["err", "cancelled"]));
    let more = app
        .client
        .execute_async(
            "const done = arguments[0];
             window.__TAURI__.core.invoke('list_partners', {query: {search: 'more', limit: 1, offset: 0}}).then((p) => done(p.total));",
            vec![],
        )
        .await
        .unwrap();
    assert_eq!(more, json!(0), "a stopped import saved something");
    // The list counts the imported rows (and the two partners from before: ours and the connected one).
    app.fill("#partner-search", "x").await;
    app.fill("#partner-search", "").await;
    app.until("the imported rows", "/100,002|100002/.test(document.querySelector('#partner-count').textContent)").await;
    app.check_accessibility("partners-after-import").await;

    app.every_screen_and_dialog_checked().await;
}

/// Rows of the import that runs while the window is used (a debug build checks about 10,000 a second).
const IMPORT_ROWS: u64 = 100_000;

/// The connected organization of the end-to-end run.
const CONNECTED: uuid::Uuid = uuid::Uuid::from_u128(0x0c0c_0000_0000_4000_8000_0000_0000_0042);
