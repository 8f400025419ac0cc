//! The commands that act on the ledger as one carrier (`--dir DIR --as CARRIER`, SPEC §10):
//! their flags, and how each builds a typed request for the client and prints its reply.
//! Nothing here knows how the network is reached (`cli::session`) or what a rule says
//! (`contracts`, `settlement`).

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::{Args, Subcommand};
use contracts::api;
use contracts::client::Clearing;
use contracts::readmodel::views::Kind;
use contracts::{
    AgreementProposal, AgreementTerms, BalanceQuery, Counterparty, DealId, DisputeId, DisputeStep,
    OpenRequest, PaymentId, PaymentRequest, ProposeDeal, PublishRatesheet, StatementId, Terms,
};
use rust_decimal::Decimal;
use settlement::carrier::CarrierId;
use settlement::dispute::StepName;
use settlement::period::Period;

use super::args::decimal_flag;
use super::session::{block_on, connect};
use super::{Failure, usage};

/// `ratesheet …`
#[derive(Debug, Subcommand)]
pub enum RatesheetCmd {
    /// Publish a ratesheet as its owner (the carrier of --as).
    Publish(PublishArgs),
}

/// `ratesheet publish`'s flags.
#[derive(Debug, Args)]
pub struct PublishArgs {
    /// The ratesheet (CSV, SPEC §3).
    #[arg(long)]
    pub file: PathBuf,
    /// voice, sms or data.
    #[arg(long)]
    pub service: settlement::service::Service,
    /// ISO 4217.
    #[arg(long)]
    pub currency: settlement::money::Currency,
    /// Publish for this counterparty only (default: every partner).
    #[arg(long)]
    pub counterparty: Option<CarrierId>,
    /// Decimals of each charge.
    #[arg(long, default_value_t = 4)]
    pub decimals: u32,
    /// half_up, half_even, up or down.
    #[arg(long, default_value = "half_up")]
    pub rounding: settlement::money::Rounding,
}

/// `deal …`
#[derive(Debug, Subcommand)]
pub enum DealCmd {
    /// Propose a deal (TOML, SPEC §5); prints its id.
    Propose {
        /// The deal file.
        #[arg(long)]
        file: PathBuf,
    },
    /// Accept a deal the other party proposed.
    Accept {
        /// The deal's id.
        #[arg(long)]
        id: String,
    },
    /// Withdraw a deal you proposed that is not yet accepted.
    Withdraw {
        /// The deal's id.
        #[arg(long)]
        id: String,
    },
    /// Deals with one partner or all, newest first.
    List(ListArgs),
}

/// A list's filter.
#[derive(Debug, Args)]
pub struct ListArgs {
    /// Only those with this partner.
    #[arg(long)]
    pub with: Option<CarrierId>,
}

/// `agreement …`
#[derive(Debug, Subcommand)]
pub enum AgreementCmd {
    /// Propose new terms for the agreement with a partner (SPEC §1.1); terms not given keep
    /// their value in force.
    Propose(AgreementArgs),
    /// Accept the terms the partner proposed.
    Accept {
        /// The partner.
        #[arg(long)]
        with: CarrierId,
    },
    /// The terms in force and any pending proposal.
    Show {
        /// The partner.
        #[arg(long)]
        with: CarrierId,
    },
}

/// `agreement propose`'s flags.
#[derive(Debug, Args)]
pub struct AgreementArgs {
    /// The partner.
    #[arg(long)]
    pub with: CarrierId,
    /// Days of notice a rate raise needs.
    #[arg(long)]
    pub notice_days: Option<u32>,
    /// Largest start-time difference of a matched pair, seconds.
    #[arg(long)]
    pub match_window: Option<u64>,
    /// Largest units difference of a matched pair.
    #[arg(long)]
    pub units_tolerance: Option<u64>,
    /// Largest variance of an agreed statement, percent.
    #[arg(long, value_parser = decimal_flag)]
    pub threshold_pct: Option<Decimal>,
    /// Days after issue in which a statement may be disputed.
    #[arg(long)]
    pub dispute_window_days: Option<u32>,
}

/// Which statement: payer, payee, service and period.
#[derive(Debug, Args, Clone)]
pub struct StatementArgs {
    /// The carrier that pays.
    #[arg(long)]
    pub payer: CarrierId,
    /// The carrier that bills.
    #[arg(long)]
    pub payee: CarrierId,
    /// voice, sms or data.
    #[arg(long)]
    pub service: settlement::service::Service,
    /// Start of the period (date or RFC 3339), inclusive.
    #[arg(long)]
    pub from: super::args::Bound,
    /// End, exclusive.
    #[arg(long)]
    pub to: super::args::Bound,
}

impl StatementArgs {
    /// The statement's id as the contract names it; a period that is not one is a usage
    /// error.
    pub fn id(&self) -> Result<StatementId, Failure> {
        Ok(StatementId {
            payer: self.payer,
            payee: self.payee,
            service: self.service,
            period: Period::parse(&self.from.text, &self.to.text)
                .map_err(|e| usage(e.to_string()))?,
        })
    }

    fn other(&self, me: CarrierId) -> Result<CarrierId, Failure> {
        self.id()?
            .other(me)
            .ok_or_else(|| usage(format!("{me} is neither --payer nor --payee")))
    }

    fn checked(&self) -> anyhow::Result<StatementId> {
        self.id().map_err(|e| anyhow::anyhow!("{e}"))
    }
}

/// `statement …`
#[derive(Debug, Subcommand)]
pub enum StatementCmd {
    /// Issue the statement of an ended period; both carriers' peers compute it.
    Issue(StatementArgs),
    /// Issued statements with one partner or all.
    List(ListArgs),
}

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportKind {
    /// Rated records of both carriers for the period.
    Rated,
    /// `discrepancies.csv` of an issued statement.
    Discrepancies,
    /// `statement.csv` of an issued statement, and its `summary.json` beside it.
    Statement,
}

/// `export`'s flags.
#[derive(Debug, Args)]
pub struct ExportArgs {
    /// rated, discrepancies or statement.
    #[arg(value_enum)]
    pub kind: ExportKind,
    #[command(flatten)]
    pub statement: StatementArgs,
    /// Where to write (a statement's summary goes beside it, as OUT without `.csv` plus
    /// `.summary.json`).
    #[arg(long)]
    pub out: PathBuf,
}

/// `dispute …`
#[derive(Debug, Subcommand)]
pub enum DisputeCmd {
    /// Open a dispute on an issued statement or one of its lines (the payer).
    Open(DisputeOpenArgs),
    /// The payee accepts the claim.
    Accept(DisputeStepArgs),
    /// The payee rejects the claim.
    Reject(DisputeStepArgs),
    /// The payee counters with --amount.
    Counter(DisputeStepArgs),
    /// The payer accepts the counter offer.
    AcceptCounter(DisputeStepArgs),
    /// The payer escalates.
    Escalate(DisputeStepArgs),
    /// The payer withdraws.
    Withdraw(DisputeStepArgs),
    /// Either side proposes settling at --amount.
    ProposeSettlement(DisputeStepArgs),
    /// The side that did not propose accepts the settlement.
    AcceptSettlement(DisputeStepArgs),
    /// Disputes with one partner or all, most recently moved first.
    List(ListArgs),
    /// One dispute with its history.
    Show {
        /// The dispute's id.
        #[arg(long)]
        id: String,
    },
}

/// `dispute open`'s flags.
#[derive(Debug, Args)]
pub struct DisputeOpenArgs {
    #[command(flatten)]
    pub statement: StatementArgs,
    /// A line's destination; none disputes the whole statement.
    #[arg(long)]
    pub line: Option<String>,
    /// The amount claimed.
    #[arg(long, value_parser = decimal_flag)]
    pub claimed: Decimal,
    /// Why.
    #[arg(long)]
    pub reason: String,
    /// A file of evidence, e.g. discrepancy records.
    #[arg(long)]
    pub evidence: Option<PathBuf>,
}

/// A dispute step's flags.
#[derive(Debug, Args)]
pub struct DisputeStepArgs {
    /// The dispute's id.
    #[arg(long)]
    pub id: String,
    /// The amount of a counter or settlement proposal.
    #[arg(long, value_parser = decimal_flag)]
    pub amount: Option<Decimal>,
    /// Why.
    #[arg(long, default_value = "")]
    pub reason: String,
}

/// `payment …`
#[derive(Debug, Subcommand)]
pub enum PaymentCmd {
    /// Record a payment you made.
    Record {
        /// Who was paid.
        #[arg(long)]
        payee: CarrierId,
        /// How much.
        #[arg(long, value_parser = decimal_flag)]
        amount: Decimal,
        /// ISO 4217.
        #[arg(long)]
        currency: settlement::money::Currency,
        /// Value date, YYYY-MM-DD.
        #[arg(long)]
        date: String,
        /// Your reference.
        #[arg(long)]
        reference: String,
    },
    /// Confirm a payment you received.
    Confirm {
        /// The payment's id.
        #[arg(long)]
        id: String,
    },
    /// Who owes whom, per currency, after statements, disputes and confirmed payments.
    Balance {
        /// The other carrier.
        #[arg(long)]
        with: CarrierId,
    },
    /// Payments with one partner or all, newest first.
    List(ListArgs),
}

/// The ledger commands a carrier runs.
#[derive(Debug)]
pub enum Action {
    /// `ratesheet`.
    Ratesheet(RatesheetCmd),
    /// `deal`.
    Deal(DealCmd),
    /// `agreement`.
    Agreement(AgreementCmd),
    /// `statement`.
    Statement(StatementCmd),
    /// `export`.
    Export(ExportArgs),
    /// `dispute`.
    Dispute(DisputeCmd),
    /// `payment`.
    Payment(PaymentCmd),
}

/// Runs one carrier command on the network in `dir`.
pub fn run(dir: Option<PathBuf>, me: Option<CarrierId>, action: Action) -> Result<u8, Failure> {
    let dir = dir.ok_or_else(|| usage("this command needs --dir DIR (the network's directory)"))?;
    let me = super::session::acting_as(&dir, me)?;
    // Usage errors first, before the network is opened.
    if let Action::Statement(StatementCmd::Issue(s))
    | Action::Export(ExportArgs { statement: s, .. }) = &action
    {
        s.other(me)?;
    }
    if let Action::Dispute(DisputeCmd::Open(o)) = &action {
        o.statement.other(me)?;
    }
    block_on(async move {
        let c = connect(&dir, me).await?;
        act(&c, action).await
    })
    .map_err(Failure::from)
}

async fn act(c: &Clearing, action: Action) -> anyhow::Result<u8> {
    match action {
        Action::Ratesheet(RatesheetCmd::Publish(a)) => publish(c, &a).await,
        Action::Deal(cmd) => deal(c, cmd).await,
        Action::Agreement(cmd) => agreement(c, cmd).await,
        Action::Statement(StatementCmd::Issue(a)) => {
            let other = a.other(c.me()).map_err(|e| anyhow::anyhow!("{e}"))?;
            let out = c.issue_statement(other, a.checked()?).await?;
            println!(
                "issued {} {} → {} {} to {}: amount billed {} {} ({}), hash {}",
                a.service,
                a.payer,
                a.payee,
                a.from.text,
                a.to.text,
                out.amount_billed,
                out.currency,
                out.status,
                out.hash
            );
            Ok(0)
        }
        Action::Statement(StatementCmd::List(l)) => {
            let list = c.statements(l.with).await?;
            if list.is_empty() {
                println!("no statement has been issued");
            }
            for s in list {
                println!(
                    "{} → {} {} {} to {}: {} {} ({}), issued by {}",
                    s.id.payer,
                    s.id.payee,
                    s.id.service,
                    s.id.period.from_text(),
                    s.id.period.to_text(),
                    s.amount_billed,
                    s.currency,
                    s.status,
                    s.issued_by
                );
            }
            Ok(0)
        }
        Action::Export(a) => export(c, &a).await,
        Action::Dispute(cmd) => dispute(c, cmd).await,
        Action::Payment(cmd) => payment(c, cmd).await,
    }
}

/// Publishes a ratesheet on each channel it concerns and reports the rows in force.
pub async fn publish(c: &Clearing, a: &PublishArgs) -> anyhow::Result<u8> {
    let csv =
        std::fs::read(&a.file).with_context(|| format!("{}: cannot read", a.file.display()))?;
    let terms = Terms {
        owner: c.me(),
        service: a.service,
        currency: a.currency,
        counterparty: a.counterparty,
        decimals: a.decimals,
        rounding: a.rounding,
    };
    // A sheet for all counterparties is published on each pair's channel, where each
    // counterparty's peer checks it too.
    let partners = match a.counterparty {
        Some(p) => vec![p],
        None => c.partners(),
    };
    for p in partners {
        let request = PublishRatesheet {
            terms: terms.clone(),
            csv: csv.clone(),
        };
        let out = c
            .call::<api::PublishSheet>(p, request)
            .await
            .with_context(|| {
                format!(
                    "{}: not published on the channel with {p}",
                    a.file.display()
                )
            })?;
        println!(
            "published {} {} ratesheet for {p}: version {}, {} rows in force",
            c.me(),
            a.service,
            out.version,
            out.rows
        );
    }
    Ok(0)
}

/// Reads a deal file and proposes it to its other party; returns the deal's id.
pub async fn propose_deal(c: &Clearing, file: &Path) -> anyhow::Result<String> {
    let toml = std::fs::read_to_string(file)
        .with_context(|| format!("{}: cannot read", file.display()))?;
    let deal = settlement::deal::Deal::parse(&toml)
        .with_context(|| format!("{}: deal refused", file.display()))?;
    let other = deal
        .parties
        .iter()
        .copied()
        .find(|p| *p != c.me())
        .context("the deal's parties do not include another carrier")?;
    let out = c
        .call::<api::ProposeDealFn>(other, ProposeDeal { toml })
        .await?;
    Ok(out.id)
}

async fn deal(c: &Clearing, cmd: DealCmd) -> anyhow::Result<u8> {
    match cmd {
        DealCmd::Propose { file } => println!("{}", propose_deal(c, &file).await?),
        DealCmd::Accept { id } => {
            let other = c.locate(Kind::Deal, &id).await?;
            c.call::<api::AcceptDeal>(other, DealId { id: id.clone() })
                .await?;
            println!("deal {id} is in force");
        }
        DealCmd::Withdraw { id } => {
            let other = c.locate(Kind::Deal, &id).await?;
            c.call::<api::WithdrawDeal>(other, DealId { id: id.clone() })
                .await?;
            println!("deal {id} withdrawn");
        }
        DealCmd::List(l) => {
            let deals = c.deals(l.with).await?;
            if deals.is_empty() {
                println!("no deal");
            }
            for d in deals {
                println!(
                    "{}: {} and {}, {:?}, proposed by {}",
                    d.id, d.parties[0], d.parties[1], d.state, d.proposer
                );
            }
        }
    }
    Ok(0)
}

async fn agreement(c: &Clearing, cmd: AgreementCmd) -> anyhow::Result<u8> {
    let state = match cmd {
        AgreementCmd::Propose(a) => {
            // Terms not given keep the value in force; settlement checks the bounds.
            let mut draft = c
                .call::<api::GetAgreement>(a.with, ())
                .await?
                .in_force
                .draft();
            draft.notice_days = a.notice_days.unwrap_or(draft.notice_days);
            draft.match_window = a.match_window.unwrap_or(draft.match_window);
            draft.units_tolerance = a.units_tolerance.or(draft.units_tolerance);
            draft.threshold_pct = a.threshold_pct.unwrap_or(draft.threshold_pct);
            draft.dispute_window_days = a.dispute_window_days.unwrap_or(draft.dispute_window_days);
            let terms = AgreementTerms::try_from(draft)?;
            let s = c
                .call::<api::ProposeAgreement>(
                    a.with,
                    AgreementProposal {
                        with: a.with,
                        terms,
                    },
                )
                .await?;
            println!("proposed to {}; in force once {} accepts", a.with, a.with);
            s
        }
        AgreementCmd::Accept { with } => {
            let s = c
                .call::<api::AcceptAgreement>(with, Counterparty { with })
                .await?;
            println!("the agreement with {with} is in force");
            s
        }
        AgreementCmd::Show { with } => c.call::<api::GetAgreement>(with, ()).await?,
    };
    let t = &state.in_force;
    println!(
        "in force: notice_days {}, match_window {} s, units_tolerance {}, threshold_pct {}, dispute_window_days {}",
        t.notice_days(),
        t.match_window(),
        t.units_tolerance()
            .map_or("the service's default".to_string(), |u| u.to_string()),
        t.threshold_pct(),
        t.dispute_window_days()
    );
    if let Some(p) = &state.pending {
        println!("pending: proposed by {} — {:?}", p.by, p.terms);
    }
    Ok(0)
}

/// `X` for `X.csv`: where an output's companion files go.
fn stem(out: &Path) -> String {
    let s = out.as_os_str().to_string_lossy();
    s.strip_suffix(".csv").unwrap_or(&s).to_string()
}

async fn export(c: &Clearing, a: &ExportArgs) -> anyhow::Result<u8> {
    let other = a
        .statement
        .other(c.me())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let id = a.statement.checked()?;
    let (bytes, summary) = match a.kind {
        ExportKind::Rated => (c.call::<api::Rated>(other, id).await?.into_bytes(), None),
        ExportKind::Discrepancies => {
            let st = c.statement(other, id).await?;
            (st.discrepancies_csv.into_bytes(), None)
        }
        ExportKind::Statement => {
            let st = c.call::<api::GetStatement>(other, id).await?;
            (
                st.statement_csv.into_bytes(),
                Some(st.summary_json.into_bytes()),
            )
        }
    };
    write(&a.out, &bytes)?;
    match summary {
        Some(summary) => {
            let path = PathBuf::from(format!("{}.summary.json", stem(&a.out)));
            write(&path, &summary)?;
            println!("wrote {} and {}", a.out.display(), path.display());
        }
        None => println!("wrote {}", a.out.display()),
    }
    Ok(0)
}

/// Writes a whole file beside its final name and renames it into place.
fn write(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write as _;
    let (out, mut w) = super::files::Output::create(path)?;
    w.write_all(bytes)
        .with_context(|| format!("{}: cannot write", path.display()))?;
    super::files::finish(w, path)?;
    out.commit()
}

fn show_dispute(d: &contracts::DisputeRecord) {
    let s = &d.statement;
    println!(
        "{}: {} → {} {} {} to {}{}, {} (claimed {}{})",
        d.id,
        s.payer,
        s.payee,
        s.service,
        s.period.from_text(),
        s.period.to_text(),
        d.line
            .as_deref()
            .map(|l| format!(", line `{l}`"))
            .unwrap_or_default(),
        d.dispute.state,
        d.dispute.claimed,
        d.dispute
            .adjustment()
            .map(|a| format!(", adjustment {a}"))
            .unwrap_or_default()
    );
}

async fn dispute(c: &Clearing, cmd: DisputeCmd) -> anyhow::Result<u8> {
    let (name, step) = match cmd {
        DisputeCmd::Open(o) => {
            let other = o
                .statement
                .other(c.me())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let evidence = match &o.evidence {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .with_context(|| format!("{}: cannot read", p.display()))?,
                ),
                None => None,
            };
            let req = OpenRequest {
                statement: o.statement.checked()?,
                line: o.line,
                claimed: o.claimed,
                reason: o.reason,
                evidence,
            };
            let out = c.call::<api::OpenDispute>(other, req).await?;
            println!("{}", out.id);
            return Ok(0);
        }
        DisputeCmd::List(l) => {
            let list = c.disputes(l.with).await?;
            if list.is_empty() {
                println!("no dispute");
            }
            list.iter().for_each(show_dispute);
            return Ok(0);
        }
        DisputeCmd::Show { id } => {
            let other = c.locate(Kind::Dispute, &id).await?;
            let d = c.call::<api::GetDispute>(other, DisputeId { id }).await?;
            show_dispute(&d);
            for e in &d.history {
                println!(
                    "  {} {} by {}{}{}",
                    settlement::time::Timestamp(e.at),
                    e.step,
                    e.by,
                    e.amount.map(|a| format!(" ({a})")).unwrap_or_default(),
                    if e.reason.is_empty() {
                        String::new()
                    } else {
                        format!(": {}", e.reason)
                    }
                );
            }
            println!("  next: {}", d.dispute.who_may_act());
            return Ok(0);
        }
        DisputeCmd::Accept(a) => (StepName::Accept, a),
        DisputeCmd::Reject(a) => (StepName::Reject, a),
        DisputeCmd::Counter(a) => (StepName::Counter, a),
        DisputeCmd::AcceptCounter(a) => (StepName::AcceptCounter, a),
        DisputeCmd::Escalate(a) => (StepName::Escalate, a),
        DisputeCmd::Withdraw(a) => (StepName::Withdraw, a),
        DisputeCmd::ProposeSettlement(a) => (StepName::ProposeSettlement, a),
        DisputeCmd::AcceptSettlement(a) => (StepName::AcceptSettlement, a),
    };
    let other = c.locate(Kind::Dispute, &step.id).await?;
    let out = c
        .call::<api::StepDispute>(
            other,
            DisputeStep {
                id: step.id,
                step: name,
                amount: step.amount,
                reason: step.reason,
            },
        )
        .await?;
    let adjustment = out
        .dispute
        .adjustment()
        .map(|a| format!(", adjustment {a}"))
        .unwrap_or_default();
    println!("dispute {} is {}{adjustment}", out.id, out.dispute.state);
    Ok(0)
}

async fn payment(c: &Clearing, cmd: PaymentCmd) -> anyhow::Result<u8> {
    match cmd {
        PaymentCmd::Record {
            payee,
            amount,
            currency,
            date,
            reference,
        } => {
            let req = PaymentRequest {
                payee,
                amount,
                currency,
                date,
                reference,
            };
            let out = c.call::<api::RecordPayment>(payee, req).await?;
            println!("{}", out.id);
        }
        PaymentCmd::Confirm { id } => {
            let other = c.locate(Kind::Payment, &id).await?;
            c.call::<api::ConfirmPayment>(other, PaymentId { id: id.clone() })
                .await?;
            println!("payment {id} confirmed");
        }
        PaymentCmd::Balance { with } => {
            let out = c
                .call::<api::GetBalance>(with, BalanceQuery { a: c.me(), b: with })
                .await?;
            if out.is_empty() {
                println!("nothing is due between {} and {with}", c.me());
            }
            for p in out {
                println!(
                    "{}: {} owes {} {} — balance after confirmed payments {}",
                    p.currency, p.debtor, p.creditor, p.due, p.balance
                );
            }
        }
        PaymentCmd::List(l) => {
            let list = c.payments(l.with).await?;
            if list.is_empty() {
                println!("no payment");
            }
            for p in list {
                println!(
                    "{}: {} → {} {} {} on {} ({}), {}",
                    p.id,
                    p.payer,
                    p.payee,
                    p.amount,
                    p.currency,
                    p.date,
                    p.reference,
                    if p.confirmed_at.is_some() {
                        "confirmed"
                    } else {
                        "awaiting confirmation"
                    }
                );
            }
        }
    }
    Ok(0)
}
