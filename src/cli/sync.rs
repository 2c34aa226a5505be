//! `partnerbook sync`: the sync engine from the command line, with progress
//! on a terminal and a summary at the end.

use std::io::IsTerminal;
use std::time::Duration;

use partnerbook::app::settings::{Overlay, sync_config};
use partnerbook::app::sync::SENDING_ELSEWHERE;
use partnerbook::secrets::MemorySecrets;
use partnerbook::sync::cadence::Read;
use partnerbook::sync::{RetryPolicy, SyncConfig, SyncReport, sync_once};
use partnerbook::{ErrorBody, ErrorKind, Store};

use super::args::SyncArgs;
use super::{CliError, Result};

fn line(r: &SyncReport) -> String {
    format!(
        "sent {}, adopted {}, rejected {}, held {}, conflicts {}, retried {}, pulled {} new / {} changed / {} restored, \
         pending {}",
        r.sent,
        r.adopted,
        r.rejected,
        r.held,
        r.conflicts,
        r.retried,
        r.pulled_new,
        r.pulled_updated,
        r.restored,
        r.pending
    )
}

pub fn run(store: &mut Store, a: SyncArgs, json: bool) -> Result<()> {
    // The command line reads secrets from the PARTNERBOOK_* variables only.
    let base = sync_config(store, &MemorySecrets::default(), &Overlay::from_env().map_err(CliError::Body)?)
        .map_err(CliError::Body)?;
    let config = SyncConfig {
        concurrency: usize::from(a.concurrency),
        wait_for_retries: Duration::from_secs(a.wait),
        retry: RetryPolicy { base: Duration::from_millis(a.retry_base_ms), cap: Duration::from_millis(a.retry_cap_ms) },
        request_timeout: Duration::from_secs(a.timeout.max(1)),
        read: if a.no_pull { Read::Nothing } else { Read::Full },
        settle_window: a.settle_ms.map(Duration::from_millis).or(base.settle_window),
        ..base
    };
    if a.try_again {
        partnerbook::app::sync::try_again(store).map_err(CliError::Body)?;
    }
    let runtime = partnerbook::app::sync_runtime().map_err(CliError::Body)?;
    let show_progress = std::io::stderr().is_terminal() && !json;
    loop {
        let report = runtime.block_on(sync_once(store, &config, |r| {
            if show_progress {
                eprint!("\r\x1b[2KSyncing… {}", line(r));
            }
        }))?;
        if show_progress {
            eprintln!();
        }
        if json {
            println!("{}", serde_json::to_string(&report).expect("a report always serializes"));
        } else {
            // The window's sentence first, then every count and every note.
            println!("{}", partnerbook::app::summary(&report));
            println!("({})", line(&report));
            for reason in report.needs_sign_in.iter().skip(1) {
                println!("Paused: {reason}");
            }
            for error in report.errors.iter().skip(1) {
                println!("Note: {error}");
            }
        }
        if !a.watch {
            if report.sending_elsewhere {
                // Not silent: a distinct exit code, so cron and scripts can tell.
                return Err(CliError::Body(ErrorBody::new(ErrorKind::SendingElsewhere, SENDING_ELSEWHERE)));
            }
            return Ok(());
        }
        // --watch: another process's push ends some time; the next round tries again.
        std::thread::sleep(Duration::from_secs(a.interval.max(1)));
    }
}
