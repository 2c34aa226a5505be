//! The command line's shape (clap derive). `docs/cli.md` documents it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "partnerbook",
    version,
    about = "Partnerbook: business partners and organizations, saved locally and synced to the central API.",
    after_help = "Exit codes: 0 done, 1 failed, 2 bad usage, 3 invalid field values (nothing written), 4 not found."
)]
pub struct Cli {
    /// Database file [default: the platform's app-data directory]
    #[arg(long, global = true, env = "PARTNERBOOK_DB", value_name = "PATH")]
    pub db: Option<PathBuf>,

    /// Print machine-readable JSON (see docs/cli.md for the shapes)
    #[arg(long, global = true)]
    pub json: bool,

    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Business partners (customers and suppliers)
    #[command(subcommand)]
    Partner(PartnerCommand),
    /// Organizations and their contacts
    #[command(subcommand)]
    Org(OrgCommand),
    /// Changes waiting to be sent to the central API
    #[command(subcommand)]
    Outbox(OutboxCommand),
    /// Where the database is, its schema version and what it holds
    Info,
    /// Send waiting changes to the central APIs and bring theirs in
    Sync(SyncArgs),
    /// Fields changed here and on the server since the last sync
    Conflicts,
    /// Look for partners an earlier version stored twice (each linked to its
    /// own record on the central system) and ask about each pair, as sync does
    Doctor,
    /// Settle a record's conflicts: keep your values or take the server's
    Resolve {
        /// The record's key (or a unique prefix)
        key: String,
        /// Keep the local values (they are sent to the server)
        #[arg(long, conflicts_with = "theirs", required_unless_present = "theirs")]
        mine: bool,
        /// Take the server's values
        #[arg(long)]
        theirs: bool,
    },
}

/// Settings come from the database (set in the app); these variables override
/// them: PARTNERBOOK_PARTNERS_URL, PARTNERBOOK_CLIENT_ID, PARTNERBOOK_CLIENT_SECRET,
/// PARTNERBOOK_REQUESTER_ORG, PARTNERBOOK_TARGET_ORGS (comma-separated),
/// PARTNERBOOK_ASSUMED_OPS (1 if the server offers partner update/delete),
/// PARTNERBOOK_ORGS_URL, PARTNERBOOK_ORGS_API_KEY.
#[derive(Debug, Args)]
pub struct SyncArgs {
    /// One run, then exit (the default)
    #[arg(long, conflicts_with = "watch")]
    pub once: bool,
    /// Keep running: sync every --interval seconds
    #[arg(long)]
    pub watch: bool,
    /// Seconds between rounds with --watch (1 to 86400)
    #[arg(long, default_value_t = 60, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub interval: u64,
    /// Requests in flight at once (1 to 256)
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: u16,
    /// How long one run waits for changes backing off after a failure
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u64).range(0..=86_400))]
    pub wait: u64,
    /// First retry delay in milliseconds (doubles per attempt)
    #[arg(long, default_value_t = 2000, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub retry_base_ms: u64,
    /// Longest retry delay in milliseconds
    #[arg(long, default_value_t = 300_000, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=86_400_000))]
    pub retry_cap_ms: u64,
    /// Per-request timeout in seconds
    #[arg(long, default_value_t = 30, value_name = "SECS", value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub timeout: u64,
    /// How long a partner create whose answer was lost may still arrive at
    /// the server; it is checked for and sent again only after this
    /// [default: twice --timeout]
    #[arg(long, value_name = "MS", value_parser = clap::value_parser!(u64).range(1..=3_600_000))]
    pub settle_ms: Option<u64>,
    /// Only send; do not read the server's lists (the records about to be
    /// updated are still read back by id first, so no change made there is overwritten)
    #[arg(long)]
    pub no_pull: bool,
    /// Ask an API paused for a refused sign-in again now (as the window's
    /// "Try again"); otherwise it waits for new credentials or its hourly probe
    #[arg(long)]
    pub try_again: bool,
}

#[derive(Debug, Subcommand)]
pub enum PartnerCommand {
    /// Add a partner (every field is checked; nothing is saved if one is wrong)
    Add {
        #[command(flatten)]
        fields: PartnerFieldArgs,
        /// Your own organization (UUID), the only one a partner can be created in [default: your own]
        #[arg(long, value_name = "UUID")]
        target_org: Option<String>,
    },
    /// List partners, sorted and filtered
    List(PartnerListArgs),
    /// Show one partner (by key, or a unique start of it)
    Show { id: String },
    /// Change some fields of a partner
    Edit {
        id: String,
        #[command(flatten)]
        fields: PartnerFieldArgs,
    },
    /// Delete a partner (the delete is synced too)
    Delete { id: String },
    /// Export the partners a search selects to CSV, XLSX or JSON Lines
    Export(PartnerExportArgs),
    /// Import partners from a CSV or XLSX file with a header row (columns matched by name)
    Import {
        file: PathBuf,
        /// Only check: report every row's errors and likely duplicates, write nothing
        #[arg(long)]
        dry_run: bool,
        /// Write the refused rows, with row number and reason, to this CSV file
        #[arg(long, value_name = "FILE")]
        rejects: Option<PathBuf>,
    },
}

/// Where and how an export is written (shared by partners and organizations).
#[derive(Debug, Args)]
pub struct ExportFileArgs {
    /// csv, xlsx or jsonl
    #[arg(long, default_value = "csv")]
    pub format: String,
    /// File to write (replaced only once the export is complete)
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Add a sync_state column, so readers see what is not yet on the central API
    #[arg(long)]
    pub sync_state: bool,
    /// CSV: separate cells with ";" (what spreadsheets expect in many countries)
    #[arg(long)]
    pub semicolon: bool,
    /// CSV: start with a UTF-8 byte-order mark (for older Excel)
    #[arg(long)]
    pub bom: bool,
}

/// Which partners a list or an export takes.
#[derive(Debug, Args)]
pub struct PartnerFilterArgs {
    /// Type-ahead search: words matched at the start of words in company name or email
    #[arg(long, short)]
    pub search: Option<String>,
    /// Only customers or only suppliers
    #[arg(long = "type", value_name = "customer|supplier")]
    pub partner_type: Option<String>,
    /// Only partners of this connected organization (UUID), or `own` for your own organization's
    #[arg(long, value_name = "UUID|own")]
    pub target_org: Option<String>,
}

/// Which organizations a list or an export takes.
#[derive(Debug, Args)]
pub struct OrgFilterArgs {
    /// Type-ahead search on name, billing email and city
    #[arg(long, short)]
    pub search: Option<String>,
    /// F, S, B, R or V
    #[arg(long = "type")]
    pub org_type: Option<String>,
    /// ISO country code
    #[arg(long)]
    pub country: Option<String>,
}

/// Which page of a list, in which order.
#[derive(Debug, Args)]
pub struct PageArgs {
    /// Sort descending
    #[arg(long)]
    pub desc: bool,
    /// Rows a page shows (1 to 100000)
    #[arg(long, default_value_t = 50, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub limit: u32,
    /// Rows skipped (at most 10^12)
    #[arg(long, default_value_t = 0, value_parser = clap::value_parser!(u64).range(0..=1_000_000_000_000))]
    pub offset: u64,
    /// Include deleted records
    #[arg(long)]
    pub deleted: bool,
}

impl From<PageArgs> for partnerbook::store::Paging {
    fn from(a: PageArgs) -> Self {
        partnerbook::store::Paging { include_deleted: a.deleted, descending: a.desc, limit: a.limit, offset: a.offset }
    }
}

#[derive(Debug, Args)]
pub struct PartnerExportArgs {
    #[command(flatten)]
    pub file: ExportFileArgs,
    #[command(flatten)]
    pub filter: PartnerFilterArgs,
    /// Only records in this sync state: pending, synced, rejected, conflict
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// Columns, in order [default: company_name,sales_amount,partner_type,email,frequency,payment_terms]
    #[arg(long, value_delimiter = ',', value_name = "A,B,C")]
    pub columns: Vec<String>,
}

#[derive(Debug, Args)]
pub struct OrgExportArgs {
    #[command(flatten)]
    pub file: ExportFileArgs,
    #[command(flatten)]
    pub filter: OrgFilterArgs,
    /// Only records in this sync state: pending, synced, rejected, conflict
    #[arg(long, value_name = "STATE")]
    pub state: Option<String>,
    /// Contacts as numbered columns on one row per organization, or one row per contact
    #[arg(long, default_value = "columns", value_name = "columns|rows")]
    pub contacts: String,
    /// Columns, in order; `contacts` places the contact columns (leave it out for none)
    /// [default: every field, then contacts]
    #[arg(long, value_delimiter = ',', value_name = "A,B,C")]
    pub columns: Vec<String>,
}

/// The six partner fields; each optional so that every missing one is reported at once.
#[derive(Debug, Args)]
pub struct PartnerFieldArgs {
    /// Company name, 1-100 characters
    #[arg(long, allow_hyphen_values = true)]
    pub company_name: Option<String>,
    /// Sales amount, a whole number from 0 to 2147483647
    #[arg(long, allow_hyphen_values = true)]
    pub sales_amount: Option<String>,
    /// customer or supplier
    #[arg(long, allow_hyphen_values = true)]
    pub partner_type: Option<String>,
    /// Email address, up to 100 characters
    #[arg(long, allow_hyphen_values = true)]
    pub email: Option<String>,
    /// Frequency, 1-30 characters (e.g. "monthly")
    #[arg(long, allow_hyphen_values = true)]
    pub frequency: Option<String>,
    /// Payment terms, 1-50 characters (e.g. "net 30")
    #[arg(long, allow_hyphen_values = true)]
    pub payment_terms: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum PartnerSortArg {
    CompanyName,
    Email,
    SalesAmount,
    Created,
    Updated,
}

#[derive(Debug, Args)]
pub struct PartnerListArgs {
    #[command(flatten)]
    pub filter: PartnerFilterArgs,
    /// Only records in this sync state: pending, synced, rejected, conflict
    #[arg(long, value_name = "STATE")]
    pub sync_state: Option<String>,
    #[arg(long, value_enum, default_value = "company-name")]
    pub sort: PartnerSortArg,
    #[command(flatten)]
    pub page: PageArgs,
}

#[derive(Debug, Subcommand)]
pub enum OrgCommand {
    /// Add an organization with at least one contact
    Add(OrgFieldArgs),
    /// List organizations
    List(OrgListArgs),
    /// Show one organization with its contacts
    Show { id: String },
    /// Change some fields; --contact/--contacts-file replace the whole contact list;
    /// an empty value ("") clears an optional field
    Edit {
        id: String,
        #[command(flatten)]
        fields: OrgFieldArgs,
    },
    /// Delete an organization (the delete is synced too)
    Delete { id: String },
    /// Export the organizations a search selects, with their contacts, to CSV, XLSX or JSON Lines
    Export(OrgExportArgs),
}

#[derive(Debug, Args)]
pub struct OrgFieldArgs {
    #[arg(long, allow_hyphen_values = true)]
    pub name: Option<String>,
    /// F (Factory), S (Supplier), B (Brand), R (Retailer) or V (Vendor)
    #[arg(long = "type", allow_hyphen_values = true)]
    pub org_type: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub address: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub address2: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub city: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub province: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub postal: Option<String>,
    /// ISO 3166-1 alpha-2 code, e.g. US, DE, VN
    #[arg(long, allow_hyphen_values = true)]
    pub country: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub phone: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub billing_email: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub office_id: Option<String>,
    #[arg(long, allow_hyphen_values = true)]
    pub description: Option<String>,
    /// -90 to 90 (give --longitude too; "" for both clears the location)
    #[arg(long, allow_hyphen_values = true)]
    pub latitude: Option<String>,
    /// -180 to 180
    #[arg(long, allow_hyphen_values = true)]
    pub longitude: Option<String>,
    /// A contact as "First;Last;email;phone;workPhone" (later parts optional); repeatable
    #[arg(long = "contact", allow_hyphen_values = true, value_name = "F;L;E;P;W")]
    pub contacts: Vec<String>,
    /// Contacts from a JSON file: [{"firstName": .., "lastName": .., "email": .., "phone": .., "workPhone": ..}]
    #[arg(long, value_name = "FILE")]
    pub contacts_file: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct OrgListArgs {
    #[command(flatten)]
    pub filter: OrgFilterArgs,
    /// Only records in this sync state: pending, synced, rejected, conflict
    #[arg(long, value_name = "STATE")]
    pub sync_state: Option<String>,
    #[command(flatten)]
    pub page: PageArgs,
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Every change waiting to be sent, oldest first
    List,
}
