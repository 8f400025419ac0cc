//! TEMPORARY entry point of the `ledger` branch, only to exercise `ledger_cli` until the
//! lead merges it into the real command line (which owns this file on `main`).

mod ledger_cli;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ledger_cli::{BenchLedgerArgs, LedgerCmd, NetworkInitArgs};

#[derive(Parser)]
#[command(name = "iclear")]
struct Cli {
    /// Network directory.
    #[arg(long)]
    dir: Option<PathBuf>,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Network administration.
    #[command(subcommand)]
    Network(NetworkCmd),
    /// Ledger inspection.
    #[command(subcommand)]
    Ledger(LedgerCmd),
    /// Benchmarks.
    #[command(subcommand)]
    Bench(BenchCmd),
}

#[derive(Subcommand)]
enum NetworkCmd {
    /// Lay out a new network.
    Init(NetworkInitArgs),
}

#[derive(Subcommand)]
enum BenchCmd {
    /// Benchmark the ledger.
    Ledger(BenchLedgerArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match &cli.cmd {
        Cmd::Network(NetworkCmd::Init(args)) => ledger_cli::run_network_init(args),
        Cmd::Bench(BenchCmd::Ledger(args)) => ledger_cli::run_bench_ledger(args),
        Cmd::Ledger(cmd) => match &cli.dir {
            Some(dir) => ledger_cli::run_ledger(dir, cmd),
            None => {
                eprintln!("iclear: `ledger` needs --dir DIR");
                return ExitCode::from(2);
            }
        },
    };
    match result {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("iclear: {e:#}");
            ExitCode::from(1)
        }
    }
}
