//! `partnerbook-standin`: serve both central APIs on loopback for development and demos.
//!
//! The first stdout line is `listening on http://ADDR (partners: ..., organizations: ...)`, so a
//! script can start it with `--addr 127.0.0.1:0` and read the port; logs go to stderr.

use std::io::{IsTerminal, Write};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use partnerbook_standin::{
    ClientCredentials, Config, DEFAULT_PARTNERS_PREFIX, DEFAULT_SEED, Faults, IdempotencyMode, StandIn,
};
use uuid::Uuid;

#[derive(Debug, Parser)]
#[command(
    name = "partnerbook-standin",
    version,
    about = "A local stand-in of Partnerbook's partners and organizations APIs, with fault injection."
)]
struct Cli {
    /// Address to listen on (loopback only; port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:8787")]
    addr: SocketAddr,
    /// SQLite file to keep the data in (default: a temporary file, gone on exit).
    #[arg(long)]
    db: Option<PathBuf>,
    /// Version prefix of the partners API.
    #[arg(long, default_value = DEFAULT_PARTNERS_PREFIX)]
    partners_prefix: String,
    /// An OAuth2 client, ID:SECRET:ORG_UUID (repeatable; default: the dev client).
    #[arg(long = "client", value_name = "ID:SECRET:ORG_UUID", value_parser = parse_client)]
    clients: Vec<ClientCredentials>,
    /// Let REQUESTER read TARGET's partners (repeatable).
    #[arg(long = "connect", value_name = "REQUESTER_UUID:TARGET_UUID", value_parser = parse_connection)]
    connections: Vec<(Uuid, Uuid)>,
    /// Let REQUESTER read, change and delete TARGET's partners (repeatable; creates stay Self only).
    #[arg(long = "connect-writable", value_name = "REQUESTER_UUID:TARGET_UUID", value_parser = parse_connection)]
    writable_connections: Vec<(Uuid, Uuid)>,
    /// An accepted organizations-API key (repeatable; default: the dev key).
    #[arg(long = "api-key", value_name = "KEY")]
    api_keys: Vec<String>,
    /// Access token lifetime in seconds.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    token_ttl: u64,
    /// Answer 405 to the undocumented GET/PUT/DELETE /partners/{id}.
    #[arg(long)]
    no_assumed_ops: bool,
    /// Turn every fault on at 5% with 5 ms latency; the flags below override single values.
    #[arg(long)]
    chaos: bool,
    #[arg(long, value_name = "MS")]
    latency_ms: Option<u64>,
    #[arg(long, value_name = "P", value_parser = parse_rate)]
    server_error_rate: Option<f64>,
    #[arg(long, value_name = "P", value_parser = parse_rate)]
    rate_limit_rate: Option<f64>,
    /// Retry-After sent with injected 429s.
    #[arg(long, value_name = "SECS")]
    retry_after_secs: Option<u64>,
    #[arg(long, value_name = "P", value_parser = parse_rate)]
    reset_before_rate: Option<f64>,
    #[arg(long, value_name = "P", value_parser = parse_rate)]
    reset_after_rate: Option<f64>,
    #[arg(long, value_name = "P", value_parser = parse_rate)]
    timeout_rate: Option<f64>,
    #[arg(long, value_name = "P", value_parser = parse_rate)]
    timeout_after_write_rate: Option<f64>,
    #[arg(long, value_name = "P", value_parser = parse_rate)]
    malformed_rate: Option<f64>,
    /// `honour` replays repeated Idempotency-Keys; `ignore` (default) is what the real vendors do.
    #[arg(long, value_name = "MODE")]
    idempotency: Option<IdempotencyMode>,
    /// Seed of the fault RNG.
    #[arg(long, default_value_t = DEFAULT_SEED)]
    seed: u64,
}

fn parse_client(s: &str) -> Result<ClientCredentials, String> {
    // The secret sits in the middle and may itself contain ':'.
    let (id, rest) = s.split_once(':').ok_or("expected ID:SECRET:ORG_UUID")?;
    let (secret, org) = rest.rsplit_once(':').ok_or("expected ID:SECRET:ORG_UUID")?;
    if id.is_empty() || secret.is_empty() {
        return Err("client id and secret must not be empty".into());
    }
    let org = Uuid::parse_str(org).map_err(|e| format!("bad organization uuid {org:?}: {e}"))?;
    Ok(ClientCredentials::new(id, secret, org))
}

fn parse_connection(s: &str) -> Result<(Uuid, Uuid), String> {
    let (requester, target) = s.split_once(':').ok_or("expected REQUESTER_UUID:TARGET_UUID")?;
    let parse = |u: &str| Uuid::parse_str(u).map_err(|e| format!("bad uuid {u:?}: {e}"));
    Ok((parse(requester)?, parse(target)?))
}

fn parse_rate(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(p) if (0.0..=1.0).contains(&p) => Ok(p),
        _ => Err(format!("{s:?} is not a probability between 0.0 and 1.0")),
    }
}

impl Cli {
    fn faults(&self) -> Faults {
        let mut f = if self.chaos { Faults::chaos() } else { Faults::none() };
        let set = |slot: &mut f64, value: Option<f64>| {
            if let Some(v) = value {
                *slot = v;
            }
        };
        set(&mut f.server_error_rate, self.server_error_rate);
        set(&mut f.rate_limit_rate, self.rate_limit_rate);
        set(&mut f.reset_before_rate, self.reset_before_rate);
        set(&mut f.reset_after_rate, self.reset_after_rate);
        set(&mut f.timeout_rate, self.timeout_rate);
        set(&mut f.timeout_after_write_rate, self.timeout_after_write_rate);
        set(&mut f.malformed_rate, self.malformed_rate);
        f.latency_ms = self.latency_ms.unwrap_or(f.latency_ms);
        f.retry_after_secs = self.retry_after_secs.unwrap_or(f.retry_after_secs);
        f.idempotency = self.idempotency.unwrap_or(f.idempotency);
        f
    }

    fn into_config(self) -> Config {
        let defaults = Config::default();
        Config {
            addr: Some(self.addr),
            db_path: self.db.clone(),
            partners_prefix: self.partners_prefix.clone(),
            clients: if self.clients.is_empty() { defaults.clients } else { self.clients.clone() },
            connections: self.connections.clone(),
            writable_connections: self.writable_connections.clone(),
            api_keys: if self.api_keys.is_empty() { defaults.api_keys } else { self.api_keys.clone() },
            token_ttl_secs: self.token_ttl,
            assumed_partner_ops: !self.no_assumed_ops,
            faults: self.faults(),
            seed: self.seed,
        }
    }
}

/// Ctrl-C, or SIGTERM on Unix (what scripts and `kill` send), so the database is closed cleanly.
async fn wait_for_stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = terminate.recv() => {}
                }
                return;
            }
            Err(e) => eprintln!("partnerbook-standin: cannot watch SIGTERM: {e}"),
        }
    }
    if let Err(e) = tokio::signal::ctrl_c().await {
        eprintln!("partnerbook-standin: cannot wait for Ctrl-C: {e}");
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("partnerbook_standin=info")),
        )
        .init();
    let cli = Cli::parse();
    if !cli.addr.ip().is_loopback() {
        eprintln!(
            "partnerbook-standin: refusing to listen on {}: the stand-in has no real security; use a loopback address such as 127.0.0.1",
            cli.addr
        );
        return ExitCode::from(2);
    }
    let config = cli.into_config();
    let (clients, api_keys) = (config.clients.clone(), config.api_keys.clone());
    let standin = match StandIn::start(config).await {
        Ok(standin) => standin,
        Err(e) => {
            eprintln!("partnerbook-standin: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut out = std::io::stdout().lock();
    let _ = writeln!(
        out,
        "listening on http://{addr} (partners: {partners}, organizations: {orgs})",
        addr = standin.addr(),
        partners = standin.partners_url(),
        orgs = standin.organizations_url()
    );
    for c in &clients {
        let _ =
            writeln!(out, "client: client_id={} client_secret={} org_id={}", c.client_id, c.client_secret, c.org_id);
    }
    for key in &api_keys {
        let _ = writeln!(out, "api key: {key}");
    }
    let _ = out.flush();
    drop(out);

    wait_for_stop_signal().await;
    standin.shutdown().await;
    ExitCode::SUCCESS
}
