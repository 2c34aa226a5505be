//! Start-up: the real app binary, on a database that holds partners, reports
//! its first list painted with the right count. This is the signal the
//! `partnerbook-bench` start measurement times; here it runs at a tiny size
//! (under Xvfb when `DISPLAY` is unset), and no time is asserted.

use std::path::Path;
use std::time::Duration;

use partnerbook_bench::start::{Display, add_partners, measure};

#[test]
fn the_window_reports_its_first_list_with_every_partner() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("start.db");
    add_partners(&db, 3).unwrap();

    let display = Display::open().unwrap();
    let app = Path::new(env!("CARGO_BIN_EXE_partnerbook-desktop"));
    let started = measure(app, &db, dir.path(), &display, Duration::from_secs(90)).unwrap();
    assert_eq!(started.partners, 3);
    assert!(started.processes.len() >= 2, "the shell and WebKit's processes: {:?}", started.processes);
    assert!(started.pss_kib > 0 && started.rss_kib >= started.pss_kib, "{started:?}");
    assert!(started.reported <= started.wall, "{started:?}");
}
