//! `partnerbook sync`: the sync engine from the command line, with progress
//! on a terminal and a summary at the end.

use std::io::IsTerminal;
use std::time::Duration;

use partnerbook::Store;
use partnerbook::settings::{RemoteSettings, check_base_url};
use partnerbook::sync::{RetryPolicy, SyncConfig, SyncReport, sync_once};
use uuid::Uuid;

use super::args::SyncArgs;
use super::{CliError, Result};

fn var(name: &str) -> Option<String> {
    std::env::var(name).ok().map(|v| v.trim().to_string()).filter(|v| !v.is_empty())
}

/// The stored settings with the `PARTNERBOOK_*` variables laid over them.
fn settings(store: &Store) -> Result<(RemoteSettings, Option<String>, Option<String>)> {
    let mut s = store.remote_settings()?;
    let url = |name: &str| -> Result<Option<String>> {
        match var(name) {
            Some(u) => {
                let u = u.trim_end_matches('/').to_string();
                check_base_url(&u).map_err(|m| CliError::Usage(format!("{name}: {m}")))?;
                Ok(Some(u))
            }
            None => Ok(None),
        }
    };
    let uuid = |name: &str, text: &str| {
        Uuid::parse_str(text.trim()).map_err(|_| CliError::Usage(format!("{name}: {text:?} is not an organization ID")))
    };
    if let Some(u) = url("PARTNERBOOK_PARTNERS_URL")? {
        s.partners.base_url = u;
    }
    if let Some(id) = var("PARTNERBOOK_CLIENT_ID") {
        s.partners.client_id = id;
    }
    if let Some(org) = var("PARTNERBOOK_REQUESTER_ORG") {
        s.partners.requester_org_id = Some(uuid("PARTNERBOOK_REQUESTER_ORG", &org)?);
    }
    if let Some(list) = var("PARTNERBOOK_TARGET_ORGS") {
        s.partners.target_org_ids = list
            .split(',')
            .filter(|t| !t.trim().is_empty())
            .map(|t| uuid("PARTNERBOOK_TARGET_ORGS", t))
            .collect::<Result<_>>()?;
    }
    if let Some(on) = var("PARTNERBOOK_ASSUMED_OPS") {
        s.partners.assumed_ops = matches!(on.as_str(), "1" | "true" | "yes");
    }
    if let Some(u) = url("PARTNERBOOK_ORGS_URL")? {
        s.organizations.base_url = u;
    }
    Ok((s, var("PARTNERBOOK_CLIENT_SECRET"), var("PARTNERBOOK_ORGS_API_KEY")))
}

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
    let (settings, secret, api_key) = settings(store)?;
    let config = SyncConfig {
        concurrency: a.concurrency.max(1),
        wait_for_retries: Duration::from_secs(a.wait),
        retry: RetryPolicy { base: Duration::from_millis(a.retry_base_ms), cap: Duration::from_millis(a.retry_cap_ms) },
        request_timeout: Duration::from_secs(a.timeout.max(1)),
        pull: !a.no_pull,
        ..settings.sync_config(secret, api_key)
    };
    let runtime = partnerbook::app::sync_runtime().map_err(|e| CliError::Usage(e.message))?;
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
            return Ok(());
        }
        std::thread::sleep(Duration::from_secs(a.interval.max(1)));
    }
}
