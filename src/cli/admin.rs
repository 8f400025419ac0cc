//! An organisation admin's changes to a running network (SPEC §11): `consortium add`
//! (admins of a majority of the members) and `channel create --with` (both carriers'
//! admins). Each admin runs the same command in its own directory with the same
//! `--update FILE`: the command derives the change from the consortium's configuration in
//! force on its own node, adds its admin's signature to the file, and, once the file holds
//! every signature the change needs, has its own node send it. The process holds this
//! organisation's admin key only; the signatures of the others come in the file.

use std::path::{Path, PathBuf};

use anyhow::Context as _;
use clap::{Args, Subcommand};
use ledger::channel::config_envelope;
use ledger::identity::CertificateAuthority;
use ledger::identity::SigningIdentity;
use ledger::network::CONSORTIUM_CHANNEL;
use ledger::proto::ChannelConfig;
use ledger::system::config::sign_update;
use node::admin::{Signing, consortium_add, own_crl, pair_creation};
use settlement::carrier::CarrierId;

use super::served::Served;
use super::session::{acting_as, block_on};
use super::{Failure, usage};

/// The consortium of carriers.
#[derive(Debug, Subcommand)]
pub enum ConsortiumCmd {
    /// Admit a carrier to the running consortium: needs admins of a majority of members.
    Add(AddArgs),
}

/// `consortium add`.
#[derive(Debug, Args)]
pub struct AddArgs {
    /// The new carrier's org.json.
    #[arg(long)]
    org: PathBuf,
    /// The file gathering the admins' signatures: each admin runs this command with it in
    /// turn; the one whose signature completes it has its node send the change.
    #[arg(long, value_name = "FILE")]
    update: Option<PathBuf>,
}

/// `org revoke`.
#[derive(Debug, Args)]
pub struct RevokeArgs {
    /// The certificate to revoke (PEM), issued by this organisation's CA.
    #[arg(long)]
    cert: PathBuf,
}

/// `channel create`.
#[derive(Debug, Args)]
pub struct CreateArgs {
    /// The other carrier of the channel.
    #[arg(long)]
    with: CarrierId,
    /// The file gathering both admins' signatures (see `consortium add --update`).
    #[arg(long, value_name = "FILE")]
    update: Option<PathBuf>,
}

/// This organisation's running node, its admin identity and its carrier.
async fn own_node(dir: &Path) -> anyhow::Result<(Served, SigningIdentity, CarrierId)> {
    let me = acting_as(dir, None).map_err(|e| anyhow::anyhow!("{e}"))?;
    let admin = SigningIdentity::load(&node::org::crypto_dir(dir), "admin")
        .with_context(|| format!("{}: this organisation's admin identity", dir.display()))?;
    let node = Served::find(dir).await?.with_context(|| {
        format!(
            "{}: the organisation's node is not running; start it with `iclear --dir {} node start --genesis GENESIS`",
            dir.display(),
            dir.display()
        )
    })?;
    Ok((node, admin, me))
}

/// Signs `config` as `admin` in `file`; once admins of `needed` of `from` signed, has the
/// node send it as a change of `channel`. What happened, for the user.
async fn sign_and_send(
    node: &Served,
    admin: &SigningIdentity,
    config: &ChannelConfig,
    channel: &str,
    from: &[String],
    needed: usize,
    file: Option<&Path>,
) -> Result<String, Failure> {
    let mut signing = Signing::of(config, file).map_err(anyhow::Error::from)?;
    signing.sign(admin).map_err(anyhow::Error::from)?;
    let signed: Vec<String> = signing
        .signers()
        .into_iter()
        .filter(|s| from.contains(s))
        .collect();
    if signed.len() >= needed {
        let envelope = config_envelope(&signing.update, channel, admin, ledger::tx::now_ms())
            .map_err(anyhow::Error::from)?;
        return Ok(node
            .configure(&envelope)
            .await
            .map_err(anyhow::Error::from)?);
    }
    let Some(path) = file else {
        return Err(usage(format!(
            "this change needs the signatures of admins of {needed} of {}; give --update FILE to gather them",
            from.join(", ")
        )));
    };
    signing.save(path).map_err(anyhow::Error::from)?;
    Ok(format!(
        "signed by {} of the {needed} admins needed ({}); pass {} to the admin of another of {}, who runs the same command with --update {}",
        signed.len(),
        signed.join(", "),
        path.display(),
        from.join(", "),
        path.display()
    ))
}

/// Runs `consortium add`.
pub fn run_consortium(dir: Option<PathBuf>, cmd: ConsortiumCmd) -> Result<u8, Failure> {
    let ConsortiumCmd::Add(a) = cmd;
    let dir = dir.ok_or_else(|| usage("`consortium add` needs --dir ORGDIR"))?;
    let new = node::org::load(&a.org).map_err(|e| usage(e.to_string()))?;
    let said = block_on(async {
        let (node, admin, _) = own_node(&dir).await?;
        let current = node
            .config(CONSORTIUM_CHANNEL)
            .await?
            .context("this organisation's peer is not on the consortium's channel")?;
        let next = consortium_add(&current, &new)?;
        let members: Vec<String> = current.orgs.iter().map(|o| o.msp_id.clone()).collect();
        let needed = members.len() / 2 + 1;
        Ok(sign_and_send(
            &node,
            &admin,
            &next,
            CONSORTIUM_CHANNEL,
            &members,
            needed,
            a.update.as_deref(),
        )
        .await)
    })??;
    println!("{said}");
    Ok(0)
}

/// Runs `channel create`.
pub fn run_create(dir: Option<PathBuf>, a: CreateArgs) -> Result<u8, Failure> {
    let dir = dir.ok_or_else(|| usage("`channel create` needs --dir ORGDIR"))?;
    let said = block_on(async {
        let (node, admin, me) = own_node(&dir).await?;
        let consortium = node
            .config(CONSORTIUM_CHANNEL)
            .await?
            .context("this organisation's peer is not on the consortium's channel")?;
        let config = pair_creation(&consortium, me.as_str(), a.with.as_str())?;
        if node.config(&config.channel_id).await?.is_some() {
            return Ok(Ok(format!(
                "{me} is a member of `{}` already",
                config.channel_id
            )));
        }
        let both = [me.to_string(), a.with.to_string()];
        Ok(sign_and_send(
            &node,
            &admin,
            &config,
            &config.channel_id,
            &both,
            2,
            a.update.as_deref(),
        )
        .await)
    })??;
    println!("{said}");
    Ok(0)
}

/// Runs `org revoke`: the organisation's CA adds the certificate to its revocation list
/// (`ORGDIR/crypto/crl.pem`, and `org.json`), and its admin alone replaces its list on
/// every channel of its node — from that block on, every peer and the ordering service
/// refuse the certificate's signatures.
pub fn run_revoke(dir: Option<PathBuf>, a: RevokeArgs) -> Result<u8, Failure> {
    let dir = dir.ok_or_else(|| usage("`org revoke` needs --dir ORGDIR"))?;
    let cert = std::fs::read(&a.cert).with_context(|| format!("reading `{}`", a.cert.display()))?;
    block_on(async {
        let (node, admin, me) = own_node(&dir).await?;
        let crypto = node::org::crypto_dir(&dir);
        let mut ca = CertificateAuthority::load(&crypto)
            .with_context(|| format!("{}: this organisation's CA", crypto.display()))?;
        ca.revoke_cert(&cert)
            .with_context(|| format!("`{}`", a.cert.display()))?;
        ca.save_crl(&crypto)?;
        let crl = std::fs::read(crypto.join("crl.pem"))
            .with_context(|| format!("{}: the revocation list", crypto.display()))?;
        node::org::set_crl(&dir, &crl)?;
        for channel in node.channels().await? {
            let Some(current) = node.config(&channel).await? else {
                continue;
            };
            let Some(next) = own_crl(&current, me.as_str(), &crl) else {
                println!("`{channel}`: already revoked there");
                continue;
            };
            let update = sign_update(&next, &[&admin])?;
            let envelope = config_envelope(&update, &channel, &admin, ledger::tx::now_ms())?;
            println!("{}", node.configure(&envelope).await?);
        }
        Ok(())
    })?;
    println!("revoked; org.json carries the new revocation list");
    Ok(0)
}
