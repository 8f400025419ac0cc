//! The `iclear` command line (SPEC §10).

mod allocator;
mod cli;
mod ledger_cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("iclear: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}
