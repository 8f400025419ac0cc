//! `iclear --dir DIR [--as CARRIER] user add|token`: the portal's users, in the node's own
//! database (`DIR/portal.sqlite`), never on the ledger (SPEC §13).

use std::io::BufRead;
use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::Subcommand;
use portal::{Role, Users};
use settlement::carrier::CarrierId;

use super::session::block_on;
use super::{Failure, usage};

/// The portal's user database of a network directory.
pub fn users_db(dir: &Path) -> PathBuf {
    dir.join("portal.sqlite")
}

/// `user …`
#[derive(Debug, Subcommand)]
pub enum UserCmd {
    /// Add a user of the carrier of --as; the password is read from stdin (one line).
    Add {
        /// The user's name.
        #[arg(long)]
        name: String,
        /// admin, settlement or viewer.
        #[arg(long)]
        role: Role,
    },
    /// Print a new API token for a user (only its hash is kept).
    Token {
        /// The user's name.
        #[arg(long)]
        name: String,
    },
}

/// The carrier a user command acts for: --as, or the network's only carrier; it must be
/// an organisation of the network in `dir`.
fn carrier(dir: &Path, me: Option<CarrierId>) -> Result<CarrierId, Failure> {
    let config = ledger::network::load_config(dir)
        .map_err(|e| usage(format!("{}: no network here: {e}", dir.display())))?;
    let orgs: Vec<CarrierId> = config
        .orgs
        .iter()
        .filter_map(|o| CarrierId::parse(o))
        .collect();
    match me {
        Some(c) if orgs.contains(&c) => Ok(c),
        Some(c) => Err(usage(format!("{c} is not an organisation of this network"))),
        None if orgs.len() == 1 => Ok(orgs[0]),
        None => Err(usage(
            "this network holds several carriers: give --as CARRIER",
        )),
    }
}

pub fn run(dir: Option<PathBuf>, me: Option<CarrierId>, cmd: UserCmd) -> Result<u8, Failure> {
    let dir = dir.ok_or_else(|| usage("`user` needs --dir DIR (the network's directory)"))?;
    let me = carrier(&dir, me)?;
    block_on(async {
        let users = Users::open(&users_db(&dir)).await?;
        match cmd {
            UserCmd::Add { name, role } => {
                let mut password = String::new();
                std::io::stdin()
                    .lock()
                    .read_line(&mut password)
                    .context("cannot read the password from stdin")?;
                let password = password.trim_end_matches(['\n', '\r']);
                users.add(me, &name, role, password).await?;
                println!("user {name} of {me} added as {}", role.as_str());
            }
            UserCmd::Token { name } => println!("{}", users.issue_token(me, &name).await?),
        }
        Ok(0)
    })
    .map_err(Failure::from)
}
