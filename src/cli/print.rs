//! Output: aligned text for people, JSON (the documented shapes) for scripts.

use partnerbook::store::{OutboxEntry, Page};
use partnerbook::{Organization, Partner, Store, StoreError};
use serde::Serialize;

fn json<T: Serialize + ?Sized>(value: &T) {
    println!("{}", serde_json::to_string_pretty(value).expect("records always serialize"));
}

/// Stored text is shown verbatim, except control characters, which are escaped
/// so a hostile value cannot drive the terminal.
fn safe(text: &str) -> String {
    text.chars().map(|c| if shown_escaped(c) { c.escape_unicode().to_string() } else { c.to_string() }).collect()
}

/// Characters a terminal would act on rather than show: controls (an `ESC c`
/// resets it) and the bidirectional overrides and isolates that reorder what
/// follows them ("Trojan Source"), shown as `\u{…}` instead.
fn shown_escaped(c: char) -> bool {
    c.is_control()
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
}

/// `safe`, cut to `width` characters with an ellipsis, padded to `width`.
fn cell(text: &str, width: usize) -> String {
    let text = safe(text);
    let n = text.chars().count();
    if n > width {
        let cut: String = text.chars().take(width.saturating_sub(1)).collect();
        format!("{cut}…")
    } else {
        format!("{text}{}", " ".repeat(width - n))
    }
}

fn short(key: &uuid::Uuid) -> String {
    key.to_string()[..13].to_string()
}

fn state_text(state: partnerbook::SyncState, error: &Option<partnerbook::SyncError>) -> String {
    match error {
        Some(e) => format!("{state}: {}", safe(&e.message)),
        None => state.to_string(),
    }
}

pub fn partner_saved(p: &Partner, verb: &str, as_json: bool) {
    saved(p, as_json, || format!("{verb} partner {} ({}), {}.", p.key, safe(&p.fields.company_name), p.sync_state));
}

/// A record just written: as JSON, or one sentence.
fn saved<T: serde::Serialize>(record: &T, as_json: bool, sentence: impl FnOnce() -> String) {
    if as_json { json(record) } else { println!("{}", sentence()) }
}

pub fn partners(page: &Page<Partner>, as_json: bool) {
    let header = format!(
        "{}  {}  {}  {}  {:>12}  STATE",
        cell("KEY", 13),
        cell("COMPANY", 30),
        cell("TYPE", 8),
        cell("EMAIL", 30),
        "SALES"
    );
    table(page, as_json, "partner", &header, |p| {
        let f = &p.fields;
        format!(
            "{}  {}  {}  {}  {:>12}  {}{}",
            short(&p.key),
            cell(&f.company_name, 30),
            cell(f.partner_type.as_str(), 8),
            cell(&f.email, 30),
            f.sales_amount,
            p.sync_state,
            deleted(p.deleted_at)
        )
    });
}

fn deleted(at: Option<chrono::DateTime<chrono::Utc>>) -> &'static str {
    if at.is_some() { " (deleted)" } else { "" }
}

/// A page as JSON, or as a table: a header, one line per record, and "1-20 of 45 partners".
fn table<T: serde::Serialize>(page: &Page<T>, as_json: bool, noun: &str, header: &str, row: impl Fn(&T) -> String) {
    if as_json {
        return json(page);
    }
    if page.items.is_empty() {
        println!("No {noun}s match.");
        return;
    }
    println!("{header}");
    for item in &page.items {
        println!("{}", row(item));
    }
    footer(page, noun);
}

fn footer<T>(page: &Page<T>, noun: &str) {
    let shown = page.items.len() as u64;
    let first = page.offset + 1;
    let last = page.offset + shown;
    let plural = if page.total == 1 { "" } else { "s" };
    println!("{first}-{last} of {} {noun}{plural}", page.total);
}

/// A labelled line; every value goes through [`safe`], whatever it came from.
fn line(label: &str, value: impl AsRef<str>) {
    println!("{label:<16}{}", safe(value.as_ref()));
}

/// An optional value for [`line`] (which escapes it), `-` when absent.
fn opt(value: &Option<String>) -> &str {
    value.as_deref().unwrap_or("-")
}

pub fn partner(p: &Partner, as_json: bool) {
    if as_json {
        return json(p);
    }
    let f = &p.fields;
    line("Key", p.key.to_string());
    line("Company name", &f.company_name);
    line("Sales amount", f.sales_amount.to_string());
    line("Partner type", f.partner_type.as_str());
    line("Email", &f.email);
    line("Frequency", &f.frequency);
    line("Payment terms", &f.payment_terms);
    line("Organization", p.target_org_id.map(|t| t.to_string()).unwrap_or_else(|| "your own".into()));
    line("Sync", state_text(p.sync_state, &p.sync_error));
    line("Server ID", p.server.id.map(|i| i.to_string()).unwrap_or_else(|| "not on the server yet".into()));
    line("Saved", p.updated_locally_at.to_rfc3339());
    if let Some(at) = p.deleted_at {
        line("Deleted", at.to_rfc3339());
    }
}

pub fn organization_saved(o: &Organization, verb: &str, as_json: bool) {
    saved(o, as_json, || format!("{verb} organization {} ({}), {}.", o.key, safe(&o.fields.name), o.sync_state));
}

pub fn organizations(page: &Page<Organization>, as_json: bool) {
    let header = format!(
        "{}  {}  TYPE  {}  {}  STATE",
        cell("KEY", 13),
        cell("NAME", 30),
        cell("COUNTRY", 7),
        cell("CONTACT", 24)
    );
    table(page, as_json, "organization", &header, |o| {
        let f = &o.fields;
        let contact = f.contacts.first().map(|c| c.first_name.as_str()).unwrap_or("");
        format!(
            "{}  {}  {}     {}  {}  {}{}",
            short(&o.key),
            cell(&f.name, 30),
            f.org_type.code(),
            cell(&f.country, 7),
            cell(contact, 24),
            o.sync_state,
            deleted(o.deleted_at)
        )
    });
}

pub fn organization(o: &Organization, as_json: bool) {
    if as_json {
        return json(o);
    }
    let f = &o.fields;
    line("Key / id", o.key.to_string());
    line("Name", &f.name);
    line("Type", format!("{} ({})", f.org_type.code(), f.org_type.label()));
    line("Address", &f.address);
    line("Address 2", opt(&f.address2));
    line("City", opt(&f.city));
    line("Province", opt(&f.province));
    line("Postal code", opt(&f.postal));
    let country = partnerbook::country_name(&f.country).unwrap_or("");
    line("Country", format!("{} ({country})", f.country));
    line("Phone", &f.phone);
    line("Billing email", opt(&f.billing_email));
    line("Office ID", opt(&f.office_id));
    line("Linked to", opt(&f.linked_to));
    line("Description", opt(&f.description));
    line("Location", f.location.map(|l| format!("{}, {}", l.latitude, l.longitude)).unwrap_or_else(|| "-".into()));
    for (i, c) in f.contacts.iter().enumerate() {
        let name =
            [Some(c.first_name.clone()), c.last_name.clone()].into_iter().flatten().collect::<Vec<_>>().join(" ");
        let extra = [&c.email, &c.phone, &c.work_phone].into_iter().flatten().cloned().collect::<Vec<_>>();
        line(&format!("Contact {}", i + 1), format!("{name} {}", extra.join(", ")).trim_end());
    }
    line("Sync", state_text(o.sync_state, &o.sync_error));
    line("Saved", o.updated_locally_at.to_rfc3339());
    if let Some(at) = o.deleted_at {
        line("Deleted", at.to_rfc3339());
    }
}

pub fn outbox(entries: &[OutboxEntry], as_json: bool) {
    if as_json {
        return json(entries);
    }
    if entries.is_empty() {
        println!("Nothing waiting: every change is on the central API.");
        return;
    }
    println!(
        "{:>6}  {}  {}  {}  {:>8}  LAST ERROR",
        "SEQ",
        cell("ENTITY", 12),
        cell("RECORD", 13),
        cell("CHANGE", 6),
        "ATTEMPTS"
    );
    for e in entries {
        println!(
            "{:>6}  {}  {}  {}  {:>8}  {}",
            e.seq,
            cell(e.entity.as_str(), 12),
            short(&e.record_key),
            cell(e.op.as_str(), 6),
            e.attempts,
            e.last_error.as_deref().map(safe).unwrap_or_default()
        );
    }
    println!("{} change{} waiting", entries.len(), if entries.len() == 1 { "" } else { "s" });
}

#[derive(Serialize)]
struct Info {
    version: &'static str,
    database: String,
    schema_version: usize,
    partners: u64,
    organizations: u64,
    pending_changes: u64,
    oldest_pending_change: Option<chrono::DateTime<chrono::Utc>>,
    /// IT's managed settings file: where, what it locks, or why it is not applied.
    managed: partnerbook::managed::ManagedView,
}

pub fn info(store: &Store, as_json: bool) -> Result<(), StoreError> {
    let (partners, organizations) = store.record_counts()?;
    let (pending_changes, oldest_pending_change) = store.outbox().summary()?;
    let about = partnerbook::app::about::about(store);
    let info = Info {
        version: about.version,
        database: about.database,
        schema_version: about.schema_version,
        partners,
        organizations,
        pending_changes,
        oldest_pending_change,
        managed: partnerbook::app::settings::managed().view(),
    };
    if as_json {
        json(&info);
    } else {
        line("Version", info.version);
        line("Database", &info.database);
        line("Schema version", info.schema_version.to_string());
        line("Partners", info.partners.to_string());
        line("Organizations", info.organizations.to_string());
        line("Pending changes", info.pending_changes.to_string());
        if let Some(t) = info.oldest_pending_change {
            line("Oldest pending", t.to_rfc3339());
        }
        let m = &info.managed;
        if let Some(problem) = &m.problem {
            line("Managed settings", problem);
        } else if let Some(path) = &m.path {
            let locked = if m.locked.is_empty() {
                "nothing locked".to_string()
            } else {
                format!("locks {}", m.locked.join(", "))
            };
            line("Managed settings", format!("{path} ({locked})"));
        }
    }
    Ok(())
}

pub fn import_report(report: &partnerbook::import::ImportReport, dry_run: bool, as_json: bool) {
    if as_json {
        return json(report);
    }
    for row in report.rows.iter().filter(|r| r.status != "ok") {
        let why = match &row.duplicate_of {
            Some(original) => format!("looks like a duplicate of {original}"),
            None => row.errors.iter().map(|e| safe(&e.message)).collect::<Vec<_>>().join(" "),
        };
        println!("row {:>6}  {:<9}  {why}", row.row, row.status);
    }
    let verb = if dry_run { "would import" } else { "imported" };
    let read_as = match report.delimiter {
        Some('\t') => format!("read as {}, tab-separated", report.encoding),
        Some(d) => format!("read as {}, separated by {d:?}", report.encoding),
        None => format!("read as {}", report.encoding),
    };
    println!(
        "{} valid, {} invalid, {} duplicate; {verb} {} ({read_as}).",
        report.valid,
        report.invalid,
        report.duplicates,
        if dry_run { report.valid } else { report.imported }
    );
}

pub fn conflicts(conflicts: &[partnerbook::store::Conflict], as_json: bool) {
    if as_json {
        return json(conflicts);
    }
    if conflicts.is_empty() {
        println!("No conflicts.");
        return;
    }
    println!("{}  {}  {}  MINE → THEIRS", cell("ENTITY", 12), cell("RECORD", 13), cell("FIELD", 20));
    for c in conflicts {
        println!(
            "{}  {}  {}  {} → {}",
            cell(c.entity.as_str(), 12),
            short(&c.record_key),
            // A whole-record question has no field (a twin's names the extra record): its kind says what it asks.
            cell(if c.kind == partnerbook::store::ConflictKind::Field { &c.field } else { c.kind.as_str() }, 20),
            safe(&c.local.to_string()),
            safe(&c.remote.to_string())
        );
    }
    println!("Settle with: partnerbook resolve RECORD --mine | --theirs");
    if conflicts.iter().any(|c| c.kind == partnerbook::store::ConflictKind::TwinOnServer) {
        println!("For twin_on_server, --mine keeps both records there and --theirs removes the extra one.");
    }
}
