//! App start: launch the desktop binary on a given database, wait until the
//! window reports its first partner list painted (the `window_ready` command
//! logs "partner list shown"), and read the memory of every process of the app
//! at that moment: the shell and the WebKit processes it spawns.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// One start of the app.
#[derive(Debug, Clone)]
pub struct Start {
    /// From spawning the process to the "partner list shown" line.
    pub wall: Duration,
    /// What the app itself measured, from the start of its `run`.
    pub reported: Duration,
    /// How many partners the list said it holds.
    pub partners: u64,
    /// Resident memory summed over the app's processes (shared pages counted in each).
    pub rss_kib: u64,
    /// Proportional set size summed over them (shared pages split between them).
    pub pss_kib: u64,
    /// The processes, by name, with their proportional set size in KiB.
    pub processes: Vec<(String, u64)>,
}

/// Adds `n` partners to the database at `db` (made if missing): what a start
/// test's window then lists.
pub fn add_partners(db: &Path, n: usize) -> Result<(), String> {
    let mut store = partnerbook::Store::open(db).map_err(|e| e.to_string())?;
    for i in 0..n {
        let draft = partnerbook::PartnerDraft {
            company_name: format!("Start {i} Ltd"),
            sales_amount: "10".into(),
            partner_type: "customer".into(),
            email: format!("start{i}@example.com"),
            frequency: "monthly".into(),
            payment_terms: "net 30".into(),
        };
        store.create_partner(&draft, None).map_err(|e| e.to_string())?;
    }
    Ok(())
}

/// An X display: `$DISPLAY` when set, else a private Xvfb stopped on drop.
pub struct Display {
    pub name: String,
    xvfb: Option<Child>,
}

impl Display {
    pub fn open() -> Result<Display, String> {
        if let Ok(name) = std::env::var("DISPLAY")
            && !name.is_empty()
        {
            return Ok(Display { name, xvfb: None });
        }
        let mut xvfb = Command::new("Xvfb")
            .args(["-displayfd", "1", "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("cannot start Xvfb ({e}); install it or set DISPLAY"))?;
        let mut line = String::new();
        BufReader::new(xvfb.stdout.take().expect("piped")).read_line(&mut line).map_err(|e| e.to_string())?;
        Ok(Display { name: format!(":{}", line.trim()), xvfb: Some(xvfb) })
    }
}

impl Drop for Display {
    fn drop(&mut self) {
        if let Some(x) = &mut self.xvfb {
            let _ = x.kill();
            let _ = x.wait();
        }
    }
}

/// Starts `app` on `db` with its settings under `home`, and stops it once the
/// list is shown (or after `timeout`, as an error).
pub fn measure(app: &Path, db: &Path, home: &Path, display: &Display, timeout: Duration) -> Result<Start, String> {
    let began = Instant::now();
    let mut child = Command::new(app)
        .env("DISPLAY", &display.name)
        .env("PARTNERBOOK_DB", db)
        .env("PARTNERBOOK_SECRETS", "memory")
        .env("PARTNERBOOK_LOG", "partnerbook_desktop=info")
        .env("XDG_CONFIG_HOME", home.join("config"))
        .env("XDG_DATA_HOME", home.join("data"))
        .env("XDG_CACHE_HOME", home.join("cache"))
        // As in the end-to-end test: no GPU and no accessibility bus here.
        .env("WEBKIT_DISABLE_COMPOSITING_MODE", "1")
        .env("NO_AT_BRIDGE", "1")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", app.display()))?;
    let (lines, ready) = mpsc::channel();
    let stderr = child.stderr.take().expect("piped");
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    let mut log = Vec::new();
    let outcome = loop {
        let left = timeout.saturating_sub(began.elapsed());
        match ready.recv_timeout(left) {
            Ok(line) => {
                let line = strip_ansi(&line);
                if line.contains("partner list shown") {
                    let wall = began.elapsed();
                    let field = |name: &str| -> Option<u64> {
                        line.split_whitespace().find_map(|w| w.strip_prefix(name)?.strip_prefix('=')?.parse().ok())
                    };
                    let tree = process_tree(child.id());
                    let (rss_kib, pss_kib) =
                        tree.iter().map(|pid| memory_kib(*pid)).fold((0, 0), |(r, p), (r2, p2)| (r + r2, p + p2));
                    break Ok(Start {
                        wall,
                        reported: Duration::from_millis(field("after_ms").unwrap_or_default()),
                        partners: field("partners").unwrap_or_default(),
                        rss_kib,
                        pss_kib,
                        processes: tree.iter().filter_map(|pid| Some((name(*pid)?, memory_kib(*pid).1))).collect(),
                    });
                }
                log.push(line);
            }
            Err(_) => {
                break Err(format!(
                    "the app did not report its list shown within {timeout:?}; its log:\n{}",
                    log.join("\n")
                ));
            }
        }
    };
    stop(&mut child);
    outcome
}

/// Stops the app and every process it started.
fn stop(child: &mut Child) {
    let tree = process_tree(child.id());
    for pid in tree.iter().rev() {
        let _ = Command::new("kill").arg("-KILL").arg(pid.to_string()).status();
    }
    let _ = child.wait();
}

fn strip_ansi(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            // CSI: ESC [ parameters, up to a final letter.
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// `root` and all its descendants, parents first.
fn process_tree(root: u32) -> Vec<u32> {
    let parents: Vec<(u32, u32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(entry.path().join("stat")).ok()?;
            // The name is in parentheses and may hold spaces: the parent pid follows the last ')'.
            let ppid = stat.rsplit_once(')')?.1.split_whitespace().nth(1)?.parse().ok()?;
            Some((pid, ppid))
        })
        .collect();
    let mut tree = vec![root];
    let mut i = 0;
    while i < tree.len() {
        let parent = tree[i];
        tree.extend(parents.iter().filter(|(_, p)| *p == parent).map(|(pid, _)| *pid));
        i += 1;
    }
    tree
}

/// (Rss, Pss) of one process in KiB, from /proc/PID/smaps_rollup.
fn memory_kib(pid: u32) -> (u64, u64) {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let field = |name: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("Rss:"), field("Pss:"))
}

fn name(pid: u32) -> Option<String> {
    Some(std::fs::read_to_string(format!("/proc/{pid}/comm")).ok()?.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log_fields_survive_colours() {
        let line = "\u{1b}[2m2026-11-26T13:00:00Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m partner list shown \
                    \u{1b}[3mafter_ms\u{1b}[0m\u{1b}[2m=\u{1b}[0m412 \u{1b}[3mpartners\u{1b}[0m\u{1b}[2m=\u{1b}[0m100000";
        let plain = strip_ansi(line);
        assert!(plain.ends_with("partner list shown after_ms=412 partners=100000"), "{plain}");
    }

    #[test]
    fn the_tree_of_this_process_starts_with_it() {
        let me = std::process::id();
        let tree = process_tree(me);
        assert_eq!(tree[0], me);
        assert!(memory_kib(me).0 > 0);
    }
}
