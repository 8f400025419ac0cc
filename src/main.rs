//! The `iclear` command line (SPEC §10).

mod cli;
mod ledger_cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    limit_malloc_arenas();
    let args = cli::Cli::parse();
    match cli::run(args) {
        Ok(code) => ExitCode::from(code),
        Err(failure) => {
            eprintln!("iclear: {failure}");
            ExitCode::from(failure.exit_code())
        }
    }
}

/// glibc gives each thread that allocates under contention an arena of its own, up to eight
/// per core, and memory freed in one is not reused by the others. A node's tokio workers,
/// SQLite connection threads and blocking pool then hold a third more memory than they use
/// (a 509 MB `cdr submit` through `up`: peak RSS 284 MB with the default, 195 MB with two
/// arenas, at the same throughput). Called before any thread starts.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    // SAFETY: `mallopt` only sets an allocator parameter; no other thread exists yet. Its
    // result (1 on success) is only advisory: the allocator's default is a valid fallback.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}
