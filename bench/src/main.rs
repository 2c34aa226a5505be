//! `partnerbook-bench`: measures the paths users feel (save, import, search,
//! push, pull) beside a baseline measured in the same run, on data it
//! generates itself (deterministic, seeded), and prints a Markdown table.
//!
//!     cargo run --release -p partnerbook-bench            # the sizes of issue #4
//!     cargo run --release -p partnerbook-bench -- --smoke # tiny sizes (the test suite runs this)
//!
//! Export to CSV/XLSX is measured by `scripts/bench-export.sh`, which needs
//! whole processes to compare peak memory with the `sqlite3` shell.
//!
//! App start needs the release desktop binary (`cargo build --release -p
//! partnerbook-desktop`) and an X display (Xvfb is started when `DISPLAY` is unset).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use partnerbook::remote::client::PartnersConfig;
use partnerbook::store::{Paging, PartnerQuery};
use partnerbook::sync::cadence::Read;
use partnerbook::sync::{RetryPolicy, SyncConfig, sync_once};
use partnerbook::{PartnerDraft, Store};
use partnerbook_bench::{floor, start};
use partnerbook_standin::{ClientCredentials, Config, Faults, StandIn};
use uuid::Uuid;

#[derive(Parser)]
struct Args {
    /// Tiny sizes: checks that every benchmark still works, in seconds
    #[arg(long)]
    smoke: bool,
    /// Only these paths (save, import, search, duplicates, sync-screen, push, pull, idle, start); all by default
    #[arg(long, value_delimiter = ',')]
    only: Vec<String>,
    /// The desktop binary whose start is measured [default: target/release/partnerbook-desktop]
    #[arg(long)]
    app: Option<PathBuf>,
}

struct Sizes {
    saves: usize,
    import_rows: usize,
    search_rows: usize,
    queries: usize,
    duplicate_rows: usize,
    push: usize,
    push_one_at_a_time: usize,
    pull: usize,
    start_partners: usize,
    starts: usize,
}

const FULL: Sizes = Sizes {
    saves: 10_000,
    import_rows: 100_000,
    search_rows: 1_000_000,
    queries: 1_000,
    duplicate_rows: 100_000,
    push: 10_000,
    push_one_at_a_time: 400,
    pull: 100_000,
    start_partners: 100_000,
    starts: 5,
};
const SMOKE: Sizes = Sizes {
    saves: 50,
    import_rows: 300,
    search_rows: 3_000,
    queries: 30,
    duplicate_rows: 3_000,
    push: 40,
    push_one_at_a_time: 5,
    pull: 250,
    start_partners: 300,
    starts: 1,
};

/// One row of the results table.
struct Row {
    path: &'static str,
    measure: String,
    ours: String,
    baseline: String,
    target: &'static str,
    met: Option<bool>,
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

fn ms(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1000.0)
}

/// The same partner as [`draft`], as the values the store writes.
fn floor_row(i: usize) -> floor::Row {
    let d = draft(i);
    floor::Row::new(d.company_name, d.sales_amount.parse().unwrap(), partner_type(i), d.email)
}

fn partner_type(i: usize) -> &'static str {
    if i.is_multiple_of(2) { "customer" } else { "supplier" }
}

fn draft(i: usize) -> PartnerDraft {
    PartnerDraft {
        company_name: format!("Company {i} Ltd"),
        sales_amount: ((i * 7919) % 2_147_483_647).to_string(),
        partner_type: partner_type(i).into(),
        email: format!("buyer{i}@example.com"),
        frequency: "monthly".into(),
        payment_terms: "net 30".into(),
    }
}

/// A table with the partner columns and nothing else (no index, trigger or outbox), same pragmas as the store.
fn bare_table(path: &Path) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(
        "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL;
         CREATE TABLE partners (rowid INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, company_name TEXT NOT NULL,
             sales_amount INTEGER NOT NULL, partner_type TEXT NOT NULL, email TEXT NOT NULL, frequency TEXT NOT NULL,
             payment_terms TEXT NOT NULL, created_at TEXT NOT NULL, updated_at TEXT NOT NULL);",
    )
    .unwrap();
    conn
}

const BARE_INSERT: &str = "INSERT INTO partners (key, company_name, sales_amount, partner_type, email, frequency,
     payment_terms, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?8)";

fn bare_insert(stmt: &mut rusqlite::CachedStatement<'_>, d: &PartnerDraft) {
    stmt.execute(rusqlite::params![
        Uuid::now_v7().to_string(),
        d.company_name,
        d.sales_amount.parse::<i64>().unwrap(),
        d.partner_type,
        d.email,
        d.frequency,
        d.payment_terms,
        "2026-11-26T00:00:00.000Z"
    ])
    .unwrap();
}

/// Save one partner through the function the app's `create_partner` command
/// calls. The three kinds of save take turns in blocks, so that a slower spell
/// of the machine weighs on each alike; the disk is flushed before each block,
/// so that no block's syncs write out another's data.
fn save(dir: &Path, n: usize) -> Vec<Row> {
    let mut store = Store::open(dir.join("save.db")).unwrap();
    let conn = bare_table(&dir.join("save-bare.db"));
    let mut stmt = conn.prepare_cached(BARE_INSERT).unwrap();
    let floor_saves = floor::Saves::open(&dir.join("save-floor.db"));
    let (mut ours, mut bare, mut schema_floor) = (Vec::with_capacity(n), Vec::with_capacity(n), Vec::with_capacity(n));
    let flush = || {
        let _ = std::process::Command::new("sync").status();
    };
    let block = n.div_ceil(10);
    for start in (0..n).step_by(block) {
        let range = start..(start + block).min(n);
        flush();
        for i in range.clone() {
            let t = Instant::now();
            store.create_partner(&draft(i), None).unwrap();
            ours.push(t.elapsed());
        }
        flush();
        for i in range.clone() {
            let d = draft(i);
            let t = Instant::now();
            bare_insert(&mut stmt, &d); // autocommit: its own durable transaction
            bare.push(t.elapsed());
        }
        flush();
        schema_floor.extend(range.map(|i| floor_saves.save(&floor_row(i))));
    }
    // Saves leave their search indexing to the next search: it pays for all of them at once.
    let t = Instant::now();
    let found = store.list_partners(&PartnerQuery {
        search: Some("company".into()),
        paging: Paging::first(50),
        ..Default::default()
    });
    let first_search = t.elapsed();
    assert_eq!(found.unwrap().total as usize, n.min(partnerbook::store::SEARCH_COUNT_CAP as usize + 1));
    ours.sort();
    bare.sort();
    schema_floor.sort();
    let (p50, p95, b50, b95) =
        (percentile(&ours, 0.5), percentile(&ours, 0.95), percentile(&bare, 0.5), percentile(&bare, 0.95));
    vec![Row {
        path: "save one partner (validate, insert, outbox, durable commit; search indexing at the next search)",
        measure: format!("p50 / p95 over {n} saves"),
        ours: format!("{} / {}; the first search after them indexes all {n}: {}", ms(p50), ms(p95), ms(first_search)),
        baseline: format!(
            "bare INSERT, own transaction: {} / {}; schema floor: {} / {}",
            ms(b50),
            ms(b95),
            ms(percentile(&schema_floor, 0.5)),
            ms(percentile(&schema_floor, 0.95))
        ),
        target: "p95 < 5 ms and ≤ 2× bare",
        met: Some(p95 < Duration::from_millis(5) && p95 <= b95 * 2),
    }]
}

fn import(dir: &Path, n: usize) -> Vec<Row> {
    let csv_path = dir.join("import.csv");
    let mut w = csv::Writer::from_path(&csv_path).unwrap();
    w.write_record(["company_name", "sales_amount", "partner_type", "email", "frequency", "payment_terms"]).unwrap();
    for i in 0..n {
        let d = draft(i);
        w.write_record([&d.company_name, &d.sales_amount, &d.partner_type, &d.email, &d.frequency, &d.payment_terms])
            .unwrap();
    }
    w.flush().unwrap();
    let mut store = Store::open(dir.join("import.db")).unwrap();
    let t = Instant::now();
    let report = partnerbook::import::import_partners(&mut store, &csv_path, false, None).unwrap();
    let ours = t.elapsed();
    assert_eq!(report.imported as usize, n);
    if std::env::var_os("BENCH_PHASES").is_some() {
        let all: Vec<_> = (0..n).map(|i| draft(i).validate_fields().unwrap()).collect();
        let t = Instant::now();
        let mut s2 = Store::open(dir.join("phase.db")).unwrap();
        s2.create_partners(&all, None).unwrap();
        eprintln!("create_partners alone: {:.2} s", t.elapsed().as_secs_f64());
        let t = Instant::now();
        for i in 0..n {
            std::hint::black_box(draft(i).validate_fields().unwrap());
        }
        eprintln!("validation alone: {:.2} s", t.elapsed().as_secs_f64());
    }
    let mut conn = bare_table(&dir.join("import-bare.db"));
    let t = Instant::now();
    let tx = conn.transaction().unwrap();
    {
        let mut stmt = tx.prepare_cached(BARE_INSERT).unwrap();
        for i in 0..n {
            bare_insert(&mut stmt, &draft(i));
        }
    }
    tx.commit().unwrap();
    let bare = t.elapsed();
    let schema_floor = floor::import(&dir.join("import-floor.db"), &(0..n).map(floor_row).collect::<Vec<_>>());
    let rate = n as f64 / ours.as_secs_f64();
    vec![Row {
        path: "import valid partners from CSV (parse, validate, duplicate check, outbox)",
        measure: format!("rows/s, {n} rows"),
        ours: format!("{rate:.0} rows/s ({:.2} s)", ours.as_secs_f64()),
        baseline: format!(
            "bare inserts, one transaction: {:.0} rows/s; schema floor: {:.0} rows/s",
            n as f64 / bare.as_secs_f64(),
            n as f64 / schema_floor.as_secs_f64()
        ),
        target: "≥ 200,000 rows/s",
        met: Some(rate >= 200_000.0),
    }]
}

/// `n` synced partners written by one SQL statement (much faster than saving them one by one).
fn fill_partners(store: &Store, n: usize) {
    if n == 0 {
        return;
    }
    store
        .connection()
        .execute_batch(&format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < {n})
             INSERT INTO partners (key, company_name, sales_amount, partner_type, email, frequency, payment_terms,
                                   sync_state, created_at, updated_at)
             SELECT printf('%08x-0000-7000-8000-%012x', i, i), 'Company ' || i || ' Ltd', (i * 7919) % 2147483647,
                    CASE i % 2 WHEN 0 THEN 'customer' ELSE 'supplier' END, 'buyer' || i || '@example.com',
                    'monthly', 'net 30', 'synced', '2026-11-26T00:00:00.000Z', '2026-11-26T00:00:00.000Z' FROM n;"
        ))
        .unwrap();
}

fn search(dir: &Path, n: usize, queries: usize) -> Vec<Row> {
    let store = Store::open(dir.join("search.db")).unwrap();
    fill_partners(&store, n);
    // What a person types: the start of a company number or of an email, 1 to 7 characters.
    let mut rng = fastrand::Rng::with_seed(4);
    let typed: Vec<String> = (0..queries)
        .map(|_| {
            let i = rng.usize(1..=n);
            let word = if rng.bool() { i.to_string() } else { format!("buyer{i}") };
            word.chars().take(rng.usize(1..=7)).collect()
        })
        .collect();
    let mut ours = Vec::with_capacity(queries);
    for text in &typed {
        let query = PartnerQuery { search: Some(text.clone()), paging: Paging::first(50), ..Default::default() };
        let t = Instant::now();
        let page = store.list_partners(&query).unwrap();
        ours.push(t.elapsed());
        std::hint::black_box(page);
    }
    let conn = store.connection();
    let mut stmt = conn
        .prepare(
            "SELECT key, company_name, email FROM partners WHERE (company_name LIKE ?1 OR email LIKE ?1)
             AND deleted_at IS NULL ORDER BY company_name COLLATE NOCASE LIMIT 50",
        )
        .unwrap();
    let mut bare = Vec::with_capacity(queries);
    for text in &typed {
        let pattern = format!("{text}%");
        let t = Instant::now();
        let rows: Vec<String> = stmt.query_map([&pattern], |r| r.get(0)).unwrap().map(Result::unwrap).collect();
        bare.push(t.elapsed());
        std::hint::black_box(rows);
    }
    ours.sort();
    bare.sort();
    let p95 = percentile(&ours, 0.95);
    vec![Row {
        path: "type-ahead search (FTS5 prefix, page of 50 with total count)",
        measure: format!("p50 / p95 over {queries} queries, {n} partners"),
        ours: format!("{} / {}", ms(percentile(&ours, 0.5)), ms(p95)),
        baseline: format!(
            "`LIKE 'x%'` on name or email, page only: {} / {}",
            ms(percentile(&bare, 0.5)),
            ms(percentile(&bare, 0.95))
        ),
        target: "p95 < 20 ms",
        met: Some(p95 < Duration::from_millis(20)),
    }]
}

/// What the Sync screen waits on when it opens with `n` changes waiting:
/// its first page and the counts, against reading every change (what it did).
fn sync_screen(dir: &Path, n: usize) -> Vec<Row> {
    let mut store = Store::open(dir.join("outbox.db")).unwrap();
    let all: Vec<_> = (0..n).map(|i| draft(i).validate_fields().unwrap()).collect();
    store.create_partners(&all, None).unwrap();
    let time = |f: &dyn Fn()| {
        let mut runs: Vec<Duration> = (0..7)
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect();
        runs.sort();
        runs[runs.len() / 2]
    };
    let paged = time(&|| {
        let page = store.outbox().page(None, 200, 0).unwrap();
        let counts = store.outbox().counts().unwrap();
        // As the window receives it.
        std::hint::black_box(serde_json::to_string(&(page, counts)).unwrap());
    });
    let whole = time(&|| {
        std::hint::black_box(serde_json::to_string(&store.outbox().all().unwrap()).unwrap());
    });
    vec![Row {
        path: "Sync screen opened with changes waiting (the answer it waits on)",
        measure: format!("median of 7, {n} waiting changes"),
        ours: format!("first page of 200 and the counts: {}", ms(paged)),
        baseline: format!("every change, as before: {}", ms(whole)),
        target: "< 300 ms from the click (this is the data part; the paint is the list's 200 rows)",
        met: Some(paged < Duration::from_millis(300)),
    }]
}

/// Company names as a sales team has them: a place or brand word, a trade,
/// a legal form, so words repeat across hundreds of partners as they do.
fn realistic_name(i: usize) -> String {
    const FIRST: [&str; 40] = [
        "Saigon",
        "Hanoi",
        "Mekong",
        "Pacific",
        "Golden",
        "Lotus",
        "Dragon",
        "Phoenix",
        "Delta",
        "Coastal",
        "Sunrise",
        "Northwind",
        "Contoso",
        "Fabrikam",
        "Acme",
        "Blue",
        "Green",
        "Star",
        "United",
        "Global",
        "Asia",
        "Viet",
        "Tan",
        "Minh",
        "Hoang",
        "Thai",
        "Kim",
        "Bao",
        "Nam",
        "Long",
        "Hai",
        "Phu",
        "An",
        "Duc",
        "Quang",
        "Thanh",
        "Binh",
        "Hung",
        "Lam",
        "Son",
    ];
    const TRADE: [&str; 25] = [
        "Textiles",
        "Trading",
        "Steel",
        "Logistics",
        "Seafood",
        "Coffee",
        "Garments",
        "Plastics",
        "Paper",
        "Foods",
        "Furniture",
        "Electronics",
        "Cement",
        "Packaging",
        "Shipping",
        "Pharma",
        "Dairy",
        "Printing",
        "Motors",
        "Marine",
        "Agro",
        "Timber",
        "Ceramics",
        "Leather",
        "Glass",
    ];
    const FORM: [&str; 5] = ["JSC", "Co., Ltd", "Ltd", "Group", "Corporation"];
    // A number keeps them apart past the 5,000 word combinations, as branch names do.
    format!("{} {} {} {}", FIRST[i % 40], TRADE[(i / 40) % 25], i / 1000, FORM[i % 5])
}

/// The duplicate warning as the form asks it, at `n` partners: a name typed
/// with a typo and a personal mailbox (only the name can tell), against the
/// matcher run over every partner.
fn duplicates(dir: &Path, n: usize, queries: usize) -> Vec<Row> {
    let mut store = Store::open(dir.join("duplicates.db")).unwrap();
    let all: Vec<_> = (0..n)
        .map(|i| {
            PartnerDraft { company_name: realistic_name(i), email: format!("buyer{i}@firm{i}.example"), ..draft(i) }
                .validate_fields()
                .unwrap()
        })
        .collect();
    store.create_partners(&all, None).unwrap();
    let mut rng = fastrand::Rng::with_seed(9);
    let typed: Vec<(usize, String)> = (0..queries)
        .map(|_| {
            let i = rng.usize(0..n);
            let mut name: Vec<char> = realistic_name(i).chars().collect();
            let at = rng.usize(4..name.len() - 4);
            name.swap(at, at + 1);
            (i, name.into_iter().collect())
        })
        .collect();
    store.possible_duplicates("warm", "up@gmail.com", None).unwrap();
    let (mut ours, mut found) = (Vec::with_capacity(queries), 0);
    for (i, name) in &typed {
        let t = Instant::now();
        let hits = store.possible_duplicates(name, "someone@gmail.com", None).unwrap();
        ours.push(t.elapsed());
        found += usize::from(hits.iter().any(|h| h.name == realistic_name(*i)));
    }
    // Baseline: every partner read and judged.
    let matcher = partnerbook::duplicates::Matcher::default();
    let mut scan = Vec::new();
    for (_, name) in typed.iter().take(10) {
        let probe = partnerbook::duplicates::Probe::new(name, "someone@gmail.com");
        let t = Instant::now();
        let mut stmt = store.connection().prepare_cached("SELECT company_name, email FROM partners").unwrap();
        let hits = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, String>(1)?)))
            .unwrap()
            .filter_map(Result::ok)
            .filter(|(n, e)| matcher.assess(&probe, &partnerbook::duplicates::Probe::new(n, e)).is_some())
            .count();
        scan.push(t.elapsed());
        std::hint::black_box(hits);
    }
    ours.sort();
    scan.sort();
    let p95 = percentile(&ours, 0.95);
    vec![Row {
        path: "duplicate warning while typing (a typo'd name, a personal mailbox)",
        measure: format!("p50 / p95 over {queries} names, {n} partners; the typo'd partner found {found}/{queries}"),
        ours: format!("{} / {}", ms(percentile(&ours, 0.5)), ms(p95)),
        baseline: format!("every partner judged: p50 {}", ms(percentile(&scan, 0.5))),
        target: "p95 < 20 ms",
        met: Some(p95 < Duration::from_millis(20)),
    }]
}

const ORG: Uuid = Uuid::from_u128(0x0b0b_0000_0000_7000_8000_0000_0000_0001);

async fn standin(latency_ms: u64) -> StandIn {
    StandIn::start(Config {
        clients: vec![ClientCredentials::new("bench", "bench-secret", ORG)],
        faults: Faults { latency_ms, ..Faults::none() },
        ..Config::default()
    })
    .await
    .unwrap()
}

fn sync_config(s: &StandIn, concurrency: usize, pull: bool) -> SyncConfig {
    SyncConfig {
        partners: Some(PartnersConfig {
            base_url: s.partners_url(),
            client_id: "bench".into(),
            client_secret: "bench-secret".into(),
            requester_org_id: ORG,
            target_org_ids: vec![],
            assumed_ops: true,
        }),
        organizations: None,
        concurrency,
        retry: RetryPolicy { base: Duration::from_millis(10), cap: Duration::from_millis(100) },
        read: if pull { Read::Full } else { Read::Nothing },
        ..Default::default()
    }
}

async fn push_rate(dir: &Path, name: &str, n: usize, concurrency: usize) -> f64 {
    let s = standin(25).await;
    let mut store = Store::open(dir.join(name)).unwrap();
    let all: Vec<_> = (0..n).map(|i| draft(i).validate_fields().unwrap()).collect();
    store.create_partners(&all, None).unwrap();
    let t = Instant::now();
    let report = sync_once(&mut store, &sync_config(&s, concurrency, false), |_| {}).await.unwrap();
    let elapsed = t.elapsed();
    assert_eq!((report.sent as usize, report.pending), (n, 0), "{report:?}");
    assert_eq!(s.partners().len(), n);
    s.shutdown().await;
    n as f64 / elapsed.as_secs_f64()
}

async fn push(dir: &Path, n: usize, one_at_a_time: usize) -> Vec<Row> {
    let ours = push_rate(dir, "push.db", n, 16).await;
    let single = push_rate(dir, "push-single.db", one_at_a_time, 1).await;
    vec![Row {
        path: "push new partners to the stand-in, 25 ms added per request",
        measure: format!("records/s, {n} partners, 16 in flight"),
        ours: format!("{ours:.0} records/s"),
        baseline: format!("one request at a time ({one_at_a_time} partners): {single:.0} records/s"),
        target: "≥ 400 records/s and ≥ 10× one at a time",
        met: Some(ours >= 400.0 && ours >= 10.0 * single),
    }]
}

/// A stand-in holding `n` partners of one's own organization.
async fn standin_with(n: usize) -> StandIn {
    let s = standin(0).await;
    for i in 0..n {
        let d = draft(i);
        s.insert_partner(
            ORG,
            serde_json::json!({"company_name": d.company_name, "sales_amount": d.sales_amount.parse::<i64>().unwrap(),
                "partner_type": d.partner_type, "email": d.email, "frequency": d.frequency, "payment_terms": d.payment_terms}),
        );
    }
    s
}

/// Requests an idle, unfocused window makes in a day, counted at the
/// stand-in: the schedule's clock is simulated (a tick a simulated minute,
/// as the window's timer), every run it asks for is a real sync.
async fn idle_window(dir: &Path, n: usize) -> Vec<Row> {
    use partnerbook::sync::cadence::{Cadence, CadencePolicy};
    let s = standin_with(n).await;
    let mut store = Store::open(dir.join("idle.db")).unwrap();
    let config = sync_config(&s, 16, true);
    // The first version: a full read every minute. One read, counted, times 60.
    let first = sync_once(&mut store, &config, |_| {}).await.unwrap();
    assert_eq!(first.pulled_new as usize, n, "{first:?}");
    s.reset_stats();
    sync_once(&mut store, &config, |_| {}).await.unwrap();
    let per_full_read = s.stats().requests;
    s.reset_stats();
    let start = chrono::Utc::now();
    let mut cadence = Cadence::new(CadencePolicy::default(), start);
    cadence.focus(false, start);
    let (mut runs, mut full) = (0, 0);
    for minute in 0..24 * 60 {
        let now = start + chrono::Duration::minutes(minute);
        let (push, read) = cadence.due(now);
        if !push && read == Read::Nothing {
            continue;
        }
        cadence.starting(read);
        let report = sync_once(&mut store, &SyncConfig { read, ..config.clone() }, |_| {}).await.unwrap();
        runs += 1;
        full += report.full_reads;
        cadence.ran(now, read, &report);
    }
    let per_hour = s.stats().requests as f64 / 24.0;
    s.shutdown().await;
    vec![Row {
        path: "requests an idle window makes, simulated day",
        measure: format!("requests/hour at the stand-in, {n} partners ({runs} runs, {full} full reads)"),
        ours: format!("{per_hour:.0} requests/hour"),
        baseline: format!("a full read every minute (the first version): {} requests/hour", per_full_read * 60),
        target: "≤ 1,000 requests/hour",
        met: Some(per_hour <= 1_000.0),
    }]
}

async fn pull(dir: &Path, n: usize) -> Vec<Row> {
    let s = standin_with(n).await;
    let mut store = Store::open(dir.join("pull.db")).unwrap();
    let t = Instant::now();
    let report = sync_once(&mut store, &sync_config(&s, 16, true), |_| {}).await.unwrap();
    let elapsed = t.elapsed();
    assert_eq!(report.pulled_new as usize, n, "{report:?}");
    s.shutdown().await;
    let schema_floor = floor::pull(&dir.join("pull-floor.db"), &(0..n).map(floor_row).collect::<Vec<_>>(), 5_000);
    let rate = n as f64 / elapsed.as_secs_f64();
    vec![Row {
        path: "pull remote partners into an empty database",
        measure: format!("rows/s, {n} partners"),
        ours: format!("{rate:.0} rows/s ({:.2} s)", elapsed.as_secs_f64()),
        baseline: format!("schema floor, no network: {:.0} rows/s", n as f64 / schema_floor.as_secs_f64()),
        target: "≥ 50,000 rows/s",
        met: Some(rate >= 50_000.0),
    }]
}

/// Starts the desktop app `starts` times on `n` partners and on an empty database.
fn app_start(dir: &Path, app: &Path, n: usize, starts: usize) -> Vec<Row> {
    let display = start::Display::open().unwrap();
    let run = |name: &str, partners: usize| -> Vec<start::Start> {
        let db = dir.join(format!("{name}.db"));
        fill_partners(&Store::open(&db).unwrap(), partners);
        let home = dir.join(name); // one home: the first start is a first launch, the others are not
        (0..starts)
            .map(|_| {
                let s = start::measure(app, &db, &home, &display, Duration::from_secs(60)).unwrap();
                assert_eq!(s.partners as usize, partners, "the list shows every partner");
                eprintln!(
                    "start on {partners} partners: {:.0} ms (app says {} ms), RSS {} MiB, PSS {} MiB, processes {:?}",
                    s.wall.as_secs_f64() * 1000.0,
                    s.reported.as_millis(),
                    s.rss_kib / 1024,
                    s.pss_kib / 1024,
                    s.processes
                );
                s
            })
            .collect()
    };
    let ours = run("start", n);
    let empty = run("start-empty", 0);
    let median = |all: &[start::Start]| {
        let mut sorted = all.to_vec();
        sorted.sort_by_key(|s| s.wall);
        sorted[sorted.len() / 2].clone()
    };
    let (m, e) = (median(&ours), median(&empty));
    let describe = |s: &start::Start| {
        format!(
            "{} (first launch {}); RSS {} MiB, PSS {} MiB over {} processes",
            ms(s.wall),
            ms(ours[0].wall),
            s.rss_kib / 1024,
            s.pss_kib / 1024,
            s.processes.len()
        )
    };
    vec![Row {
        path: "app start to the partner list shown (release build, under Xvfb)",
        measure: format!("median of {starts} starts, {n} partners; memory of all app processes"),
        ours: describe(&m),
        baseline: format!("empty database: {}; RSS {} MiB, PSS {} MiB", ms(e.wall), e.rss_kib / 1024, e.pss_kib / 1024),
        target: "< 1.5 s; memory reported",
        met: Some(m.wall < Duration::from_millis(1500)),
    }]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args = Args::parse();
    let sizes = if args.smoke { SMOKE } else { FULL };
    let wanted = |name: &str| args.only.is_empty() || args.only.iter().any(|o| o == name);
    let dir = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    if wanted("save") {
        rows.extend(save(dir.path(), sizes.saves));
    }
    if wanted("import") {
        rows.extend(import(dir.path(), sizes.import_rows));
    }
    if wanted("search") {
        rows.extend(search(dir.path(), sizes.search_rows, sizes.queries));
    }
    if wanted("push") {
        rows.extend(push(dir.path(), sizes.push, sizes.push_one_at_a_time).await);
    }
    if wanted("pull") {
        rows.extend(pull(dir.path(), sizes.pull).await);
    }
    if wanted("duplicates") {
        rows.extend(duplicates(dir.path(), sizes.duplicate_rows, sizes.queries));
    }
    if wanted("sync-screen") {
        rows.extend(sync_screen(dir.path(), sizes.duplicate_rows));
    }
    if wanted("idle") {
        rows.extend(idle_window(dir.path(), sizes.pull).await);
    }
    if wanted("start") {
        let app = args
            .app
            .clone()
            .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/release/partnerbook-desktop"));
        if app.exists() && (!args.smoke || args.app.is_some()) {
            rows.extend(app_start(dir.path(), &app, sizes.start_partners, sizes.starts));
        } else if !args.smoke {
            eprintln!(
                "app start not measured: {} is missing (cargo build --release -p partnerbook-desktop)",
                app.display()
            );
        }
    }
    println!("| path | measure | Partnerbook | baseline, same run | target | met |");
    println!("|---|---|---|---|---|---|");
    for r in &rows {
        let met = match r.met {
            Some(true) => "yes",
            Some(false) => "**no**",
            None => "—",
        };
        println!("| {} | {} | {} | {} | {} | {met} |", r.path, r.measure, r.ours, r.baseline, r.target);
    }
    if args.smoke {
        println!("\n(smoke sizes: the figures mean nothing; only that every path runs)");
    }
}
