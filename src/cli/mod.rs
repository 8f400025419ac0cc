//! Subcommands and the mapping of failures to exit statuses (SPEC §10: 0 success, 1 a fault
//! found or input rejected as a whole, 2 bad usage).

mod admin;
mod args;
mod bench;
mod bench_kafka;
mod cdr;
mod clearing;
mod control;
mod demo;

mod files;
mod fixtures;
mod frame;
mod node_start;
mod org;

mod progress;
mod rate;
mod reconcile;
mod served;
mod session;
mod stream;
mod up;
mod user;

use std::fmt;
use std::path::PathBuf;

use clap::{Parser, Subcommand};

/// iclear settles money between telecom carriers.
#[derive(Debug, Parser)]
#[command(name = "iclear", version, about, propagate_version = true)]
pub struct Cli {
    /// The network's directory (ledger commands).
    #[arg(long, global = true)]
    pub dir: Option<PathBuf>,
    /// The carrier a ledger command acts as.
    #[arg(long = "as", global = true, value_name = "CARRIER")]
    pub as_carrier: Option<settlement::carrier::CarrierId>,
    #[command(subcommand)]
    pub command: Command,
}

/// What to do.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Rate a CDR file with one ratesheet, no ledger.
    Rate(rate::RateArgs),
    /// Reconcile a payer's and a payee's CDRs into a statement, no ledger.
    Reconcile(reconcile::ReconcileArgs),
    /// Sample data sets.
    #[command(subcommand)]
    Fixtures(fixtures::FixturesCmd),
    /// Measure throughput.
    #[command(subcommand)]
    Bench(bench::BenchCmd),
    /// Lay out a network.
    #[command(subcommand)]
    Network(NetworkCmd),
    /// Inspect and verify the ledger of the network in --dir.
    #[command(subcommand)]
    Ledger(crate::ledger_cli::LedgerCmd),
    /// Ratesheets on the ledger.
    #[command(subcommand)]
    Ratesheet(clearing::RatesheetCmd),
    /// Bilateral deals on the ledger.
    #[command(subcommand)]
    Deal(clearing::DealCmd),
    /// The pair's agreement: notice, matching, threshold and dispute window (SPEC §1.1).
    #[command(subcommand)]
    Agreement(clearing::AgreementCmd),
    /// Statements on the ledger.
    #[command(subcommand)]
    Statement(clearing::StatementCmd),
    /// Export an issued statement, its discrepancies, or rated records.
    Export(clearing::ExportArgs),
    /// Disputes on issued statements.
    #[command(subcommand)]
    Dispute(clearing::DisputeCmd),
    /// Payments and balances.
    #[command(subcommand)]
    Payment(clearing::PaymentCmd),
    /// CDR files onto the ledger.
    #[command(subcommand)]
    Cdr(cdr::CdrCmd),
    /// A settlement month on a fresh network of three carriers, with a report.
    Demo(demo::DemoArgs),
    /// One organisation's own material (SPEC §11).
    #[command(subcommand)]
    Org(org::OrgCmd),
    /// CDR streams: Kafka ingestion with an exactly-once effect (SPEC §12).
    #[command(subcommand)]
    Ingest(stream::IngestCmd),
    /// One organisation's node (SPEC §11).
    #[command(subcommand)]
    Node(node_start::NodeCmd),
    /// Channels of separate organisations (SPEC §11).
    #[command(subcommand)]
    Channel(org::ChannelCmd),
    /// The consortium of a running network of separate organisations (SPEC §11).
    #[command(subcommand)]
    Consortium(admin::ConsortiumCmd),
    /// Keep the network in --dir open and serve it to other commands of its owner, and
    /// with --portal the partner portal.
    Up(up::UpArgs),
    /// The portal's users (SPEC §13).
    #[command(subcommand)]
    User(user::UserCmd),
}

/// Network administration.
#[derive(Debug, Subcommand)]
pub enum NetworkCmd {
    /// Create CAs, certificates, the consortium channel and one channel per pair in --dir.
    Init(crate::ledger_cli::NetworkInitArgs),
}

/// Why a command did not succeed, and so its exit status.
#[derive(Debug)]
pub enum Failure {
    /// Bad usage: exit 2.
    Usage(String),
    /// The command ran but failed or refused its input: exit 1.
    Fault(anyhow::Error),
}

impl Failure {
    /// The exit status of SPEC §10.
    pub fn exit_code(&self) -> u8 {
        match self {
            Failure::Usage(_) => 2,
            Failure::Fault(_) => 1,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::Usage(m) => write!(f, "usage: {m}"),
            Failure::Fault(e) => write!(f, "{e:#}"),
        }
    }
}

impl From<anyhow::Error> for Failure {
    fn from(e: anyhow::Error) -> Self {
        Failure::Fault(e)
    }
}

/// A usage error with a message.
pub fn usage(msg: impl Into<String>) -> Failure {
    Failure::Usage(msg.into())
}

/// Runs a parsed command line; the `u8` is the exit status of a run that finished.
pub fn run(cli: Cli) -> Result<u8, Failure> {
    match cli.command {
        Command::Rate(a) => rate::run(a),
        Command::Reconcile(a) => reconcile::run(a),
        Command::Fixtures(c) => fixtures::run(c),
        Command::Bench(c) => bench::run(c),
        Command::Network(NetworkCmd::Init(a)) => {
            let dir = cli
                .dir
                .ok_or_else(|| usage("`network init` needs --dir DIR"))?;
            ledger_status(crate::ledger_cli::run_network_init(&dir, &a))
        }
        Command::Ratesheet(c) => {
            clearing::run(cli.dir, cli.as_carrier, clearing::Action::Ratesheet(c))
        }
        Command::Deal(c) => clearing::run(cli.dir, cli.as_carrier, clearing::Action::Deal(c)),
        Command::Agreement(c) => {
            clearing::run(cli.dir, cli.as_carrier, clearing::Action::Agreement(c))
        }
        Command::Statement(c) => {
            clearing::run(cli.dir, cli.as_carrier, clearing::Action::Statement(c))
        }
        Command::Export(a) => clearing::run(cli.dir, cli.as_carrier, clearing::Action::Export(a)),
        Command::Dispute(c) => clearing::run(cli.dir, cli.as_carrier, clearing::Action::Dispute(c)),
        Command::Payment(c) => clearing::run(cli.dir, cli.as_carrier, clearing::Action::Payment(c)),
        Command::Cdr(c) => cdr::run(cli.dir, cli.as_carrier, c),
        Command::Demo(a) => demo::run(a, cli.dir),
        Command::Up(a) => up::run(cli.dir, a),
        Command::User(c) => user::run(cli.dir, cli.as_carrier, c),
        Command::Org(c) => org::run_org(cli.dir, c),
        Command::Channel(c) => org::run_channel(cli.dir, c),
        Command::Consortium(c) => admin::run_consortium(cli.dir, c),
        Command::Node(c) => node_start::run(cli.dir, c),
        Command::Ingest(c) => stream::run(cli.dir, cli.as_carrier, c),
        Command::Ledger(c) => {
            let dir = cli.dir.ok_or_else(|| usage("`ledger` needs --dir DIR"))?;
            ledger_status(crate::ledger_cli::run_ledger(&dir, &c))
        }
    }
}

/// The ledger commands report 0 or 1 themselves.
fn ledger_status(r: anyhow::Result<i32>) -> Result<u8, Failure> {
    Ok(u8::try_from(r?).unwrap_or(1))
}
