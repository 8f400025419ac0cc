//! The commands that act on the ledger as one carrier (`--dir DIR --as CARRIER`): publish
//! ratesheets, sign deals, issue statements, export, dispute and pay (SPEC §10). Each opens
//! the embedded network in DIR, submits through the carrier's gateway, and waits until every
//! peer has committed before it returns.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Subcommand};
use contracts::CLEARING;
use ledger::network::{Network, pair_channel};
use ledger::validate::ValidationCode;
use settlement::carrier::CarrierId;

use super::{Failure, usage};

/// How long peers may take to catch up after a commit before the command reports it.
const SETTLE: Duration = Duration::from_secs(30);

/// How a session reaches the network: in this process, or served by `iclear up`.
#[derive(Clone)]
enum Link {
    /// This process opened the network.
    Embedded(std::sync::Arc<Network>),
    /// Another process serves it.
    Served(Served),
}

/// A network served by `iclear up`.
#[derive(Clone)]
struct Served {
    url: String,
    orgs: Vec<String>,
    agent: ureq::Agent,
}

impl Served {
    /// Calls a route; a refusal comes back as the server's [`super::up::Fault`].
    async fn call(&self, route: &str, call: super::up::Call) -> Result<Vec<u8>, super::up::Fault> {
        let (agent, url) = (self.agent.clone(), format!("{}/v1/{route}", self.url));
        let transport = |error: String| super::up::Fault {
            error,
            transient: false,
        };
        tokio::task::spawn_blocking(move || {
            let mut r = agent
                .post(&url)
                .send_json(&call)
                .map_err(|e| transport(format!("{url}: {e}")))?;
            if r.status() == 200 {
                let reply: super::up::Reply = r
                    .body_mut()
                    .read_json()
                    .map_err(|e| transport(e.to_string()))?;
                hex::decode(reply.payload).map_err(|e| transport(e.to_string()))
            } else {
                Err(r
                    .body_mut()
                    .read_json::<super::up::Fault>()
                    .unwrap_or_else(|e| transport(format!("{url}: status {}: {e}", r.status()))))
            }
        })
        .await
        .unwrap_or_else(|e| Err(transport(e.to_string())))
    }
}

/// A carrier's session on the network in `--dir`.
pub struct Session {
    link: Link,
    me: CarrierId,
}

impl Session {
    /// Reaches the network in `dir` as `me`: through `iclear up` if it serves the network,
    /// else by opening it in this process.
    pub async fn open(dir: &Path, me: CarrierId) -> anyhow::Result<Session> {
        let d = dir.to_path_buf();
        if let Some(url) = tokio::task::spawn_blocking(move || super::up::served(&d)).await? {
            let agent = super::up::agent();
            let (a, u) = (agent.clone(), format!("{url}/v1/orgs"));
            let orgs: Vec<String> =
                tokio::task::spawn_blocking(move || -> anyhow::Result<Vec<String>> {
                    Ok(a.get(&u).call()?.body_mut().read_json()?)
                })
                .await??;
            let link = Link::Served(Served { url, orgs, agent });
            return Session::with_link(link, me);
        }
        let net = Network::open(dir, contracts::installed())
            .await
            .with_context(|| format!("{}: cannot open the network", dir.display()))?;
        Session::on(std::sync::Arc::new(net), me)
    }

    /// A session as `me` on a network already open (a process opens a network once).
    pub fn on(net: std::sync::Arc<Network>, me: CarrierId) -> anyhow::Result<Session> {
        Session::with_link(Link::Embedded(net), me)
    }

    fn with_link(link: Link, me: CarrierId) -> anyhow::Result<Session> {
        let s = Session { link, me };
        if !s.orgs().iter().any(|o| o == me.as_str()) {
            bail!("{me} is not an organisation of this network");
        }
        Ok(s)
    }

    /// The same network, as another carrier.
    pub fn as_carrier(&self, other: CarrierId) -> anyhow::Result<Session> {
        Session::with_link(self.link.clone(), other)
    }

    /// The carrier acting.
    pub fn me(&self) -> CarrierId {
        self.me
    }

    /// The network, when this process opened it.
    pub fn network(&self) -> anyhow::Result<&Network> {
        match &self.link {
            Link::Embedded(net) => Ok(net),
            Link::Served(s) => bail!(
                "the network is served by `iclear up` at {}; this needs it in process",
                s.url
            ),
        }
    }

    fn orgs(&self) -> Vec<String> {
        match &self.link {
            Link::Embedded(net) => net.config().orgs.clone(),
            Link::Served(s) => s.orgs.clone(),
        }
    }

    /// The other carriers of the network.
    pub fn partners(&self) -> Vec<CarrierId> {
        self.orgs()
            .iter()
            .filter_map(|o| CarrierId::parse(o))
            .filter(|o| *o != self.me)
            .collect()
    }

    fn call(&self, other: CarrierId, function: &str, args: Vec<Vec<u8>>) -> super::up::Call {
        super::up::Call {
            as_carrier: self.me.to_string(),
            other: other.to_string(),
            function: function.to_string(),
            args: args.iter().map(hex::encode).collect(),
        }
    }

    /// Submits `function` on the pair channel with `other`, waits for every peer to commit,
    /// and returns the contract's reply; a refusal or an invalid commit is an error.
    pub async fn submit(
        &self,
        other: CarrierId,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> anyhow::Result<Vec<u8>> {
        self.submit_raw(other, function, args)
            .await
            .map_err(|f| anyhow::anyhow!("{}", f.error))
    }

    /// As [`Session::submit`], with the refusal as the served API reports it.
    pub async fn submit_raw(
        &self,
        other: CarrierId,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> Result<Vec<u8>, super::up::Fault> {
        let net = match &self.link {
            Link::Served(s) => return s.call("submit", self.call(other, function, args)).await,
            Link::Embedded(net) => net,
        };
        let fault = |error: String, transient| super::up::Fault { error, transient };
        let gw = net
            .gateway(self.me.as_str())
            .map_err(|e| fault(e.to_string(), false))?;
        let channel = pair_channel(self.me.as_str(), other.as_str());
        let (tx, code, response) = gw
            .submit_transaction(&channel, CLEARING, function, args)
            .await
            .map_err(|e| {
                let transient = matches!(e, ledger::gateway::GatewayError::Mismatch(_));
                fault(e.to_string(), transient)
            })?;
        if code != ValidationCode::Valid {
            return Err(fault(
                format!("transaction {tx} was committed as {code}: it changed nothing"),
                matches!(
                    code,
                    ValidationCode::MvccReadConflict | ValidationCode::PhantomReadConflict
                ),
            ));
        }
        if !net.settle(SETTLE).await {
            return Err(fault(
                format!(
                    "transaction {tx} committed, but not every peer caught up within {SETTLE:?}"
                ),
                false,
            ));
        }
        Ok(response.payload)
    }

    /// Evaluates a query on this carrier's own peer.
    pub async fn query(
        &self,
        other: CarrierId,
        function: &str,
        args: Vec<Vec<u8>>,
    ) -> anyhow::Result<Vec<u8>> {
        match &self.link {
            Link::Served(s) => s
                .call("query", self.call(other, function, args))
                .await
                .map_err(|f| anyhow::anyhow!("{}", f.error)),
            Link::Embedded(net) => {
                let gw = net.gateway(self.me.as_str())?;
                let channel = pair_channel(self.me.as_str(), other.as_str());
                gw.evaluate(&channel, CLEARING, function, args)
                    .await
                    .map_err(|e| anyhow::anyhow!("{e}"))
            }
        }
    }

    /// The partner on whose channel `get_function ID` finds something (deals, disputes,
    /// payments are found by id).
    pub async fn find(&self, get_function: &str, id: &str) -> anyhow::Result<CarrierId> {
        for p in self.partners() {
            if self
                .query(p, get_function, vec![id.as_bytes().to_vec()])
                .await
                .is_ok()
            {
                return Ok(p);
            }
        }
        bail!("no `{id}` on any channel of {}", self.me)
    }
}

/// Submits CDR batches through a session, whichever way it reaches the network.
pub struct SessionSink<'a>(pub &'a Session);

#[async_trait::async_trait]
impl ingest::BatchSink for SessionSink<'_> {
    async fn submit(
        &self,
        counterparty: CarrierId,
        csv: Vec<u8>,
    ) -> Result<contracts::BatchSummary, ingest::SinkError> {
        let payload = self
            .0
            .submit_raw(
                counterparty,
                "usage.submit",
                vec![counterparty.as_str().as_bytes().to_vec(), csv],
            )
            .await
            .map_err(|f| ingest::SinkError::Remote {
                message: f.error,
                transient: f.transient,
            })?;
        serde_json::from_slice(&payload).map_err(|error| ingest::SinkError::BadReply {
            tx_id: String::new(),
            error,
        })
    }
}

/// Runs an async command on a fresh runtime.
pub fn block_on<T>(f: impl std::future::Future<Output = anyhow::Result<T>>) -> anyhow::Result<T> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?
        .block_on(f)
}

fn b(s: &str) -> Vec<u8> {
    s.as_bytes().to_vec()
}

fn show(bytes: &[u8]) -> anyhow::Result<serde_json::Value> {
    serde_json::from_slice(bytes).context("the contract's reply is not JSON")
}

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
    fn json(&self) -> String {
        serde_json::json!({
            "payer": self.payer.as_str(),
            "payee": self.payee.as_str(),
            "service": self.service.as_str(),
            "from": self.from.text,
            "to": self.to.text,
        })
        .to_string()
    }

    fn other(&self, me: CarrierId) -> Result<CarrierId, Failure> {
        if me == self.payer {
            Ok(self.payee)
        } else if me == self.payee {
            Ok(self.payer)
        } else {
            Err(usage(format!("{me} is neither --payer nor --payee")))
        }
    }
}

/// `statement …`
#[derive(Debug, Subcommand)]
pub enum StatementCmd {
    /// Issue the statement of a period; both carriers' peers compute it.
    Issue(StatementArgs),
}

/// What to export.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ExportKind {
    /// Rated records of both carriers for the period.
    Rated,
    /// `discrepancies.csv` of an issued statement.
    Discrepancies,
    /// `statement.csv` of an issued statement (and `summary.json` beside it).
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
    /// Where to write.
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
    #[arg(long)]
    pub claimed: String,
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
    #[arg(long)]
    pub amount: Option<String>,
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
        #[arg(long)]
        amount: String,
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
}

/// The ledger commands a carrier runs.
#[derive(Debug)]
pub enum Action {
    /// `ratesheet`.
    Ratesheet(RatesheetCmd),
    /// `deal`.
    Deal(DealCmd),
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
    let me = me.ok_or_else(|| usage("this command needs --as CARRIER"))?;
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
        let s = Session::open(&dir, me).await?;
        act(&s, action).await
    })
    .map_err(Failure::from)
}

async fn act(s: &Session, action: Action) -> anyhow::Result<u8> {
    match action {
        Action::Ratesheet(RatesheetCmd::Publish(a)) => publish(s, &a).await,
        Action::Deal(cmd) => deal(s, cmd).await,
        Action::Statement(StatementCmd::Issue(a)) => {
            let other = a.other(s.me()).map_err(|e| anyhow::anyhow!("{e}"))?;
            let out = show(
                &s.submit(other, "statement.issue", vec![b(&a.json())])
                    .await?,
            )?;
            println!(
                "issued {} {} → {} {} to {}: amount billed {} {} ({}), hash {}",
                a.service,
                a.payer,
                a.payee,
                a.from.text,
                a.to.text,
                out["amount_billed"].as_str().unwrap_or(""),
                out["currency"].as_str().unwrap_or(""),
                out["status"].as_str().unwrap_or(""),
                out["hash"].as_str().unwrap_or("")
            );
            Ok(0)
        }
        Action::Export(a) => export(s, &a).await,
        Action::Dispute(cmd) => dispute(s, cmd).await,
        Action::Payment(cmd) => payment(s, cmd).await,
    }
}

/// Publishes a ratesheet on each channel it concerns and reports the rows in force.
pub async fn publish(s: &Session, a: &PublishArgs) -> anyhow::Result<u8> {
    let csv = std::fs::read_to_string(&a.file)
        .with_context(|| format!("{}: cannot read", a.file.display()))?;
    let terms = serde_json::json!({
        "owner": s.me().as_str(),
        "service": a.service.as_str(),
        "currency": a.currency.as_str(),
        "counterparty": a.counterparty.map(|c| c.to_string()),
        "decimals": a.decimals,
        "rounding": a.rounding.to_string(),
    })
    .to_string();
    // A sheet for all counterparties is published on each pair's channel, where each
    // counterparty's peer checks it too.
    let partners = match a.counterparty {
        Some(c) => vec![c],
        None => s.partners(),
    };
    for p in partners {
        let out = show(
            &s.submit(p, "ratesheet.publish", vec![b(&terms), b(&csv)])
                .await
                .with_context(|| {
                    format!(
                        "{}: not published on the channel with {p}",
                        a.file.display()
                    )
                })?,
        )?;
        println!(
            "published {} {} ratesheet for {p}: {} rows in force",
            s.me(),
            a.service,
            out["rows"]
        );
    }
    Ok(0)
}

async fn deal(s: &Session, cmd: DealCmd) -> anyhow::Result<u8> {
    match cmd {
        DealCmd::Propose { file } => {
            let text = std::fs::read_to_string(&file)
                .with_context(|| format!("{}: cannot read", file.display()))?;
            let deal = settlement::deal::Deal::parse(&text)
                .with_context(|| format!("{}: deal refused", file.display()))?;
            let other = deal
                .parties
                .iter()
                .copied()
                .find(|p| *p != s.me())
                .context("the deal's parties do not include another carrier")?;
            let out = show(&s.submit(other, "deal.propose", vec![b(&text)]).await?)?;
            println!("{}", out["id"].as_str().unwrap_or_default());
        }
        DealCmd::Accept { id } | DealCmd::Withdraw { id } if id.is_empty() => {
            bail!("--id is empty")
        }
        DealCmd::Accept { id } => {
            let other = s.find("deal.get", &id).await?;
            s.submit(other, "deal.accept", vec![b(&id)]).await?;
            println!("deal {id} is in force");
        }
        DealCmd::Withdraw { id } => {
            let other = s.find("deal.get", &id).await?;
            s.submit(other, "deal.withdraw", vec![b(&id)]).await?;
            println!("deal {id} withdrawn");
        }
    }
    Ok(0)
}

async fn export(s: &Session, a: &ExportArgs) -> anyhow::Result<u8> {
    let other = a
        .statement
        .other(s.me())
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let (bytes, extra): (Vec<u8>, Option<Vec<u8>>) = match a.kind {
        ExportKind::Rated => (
            s.query(other, "usage.rated", vec![b(&a.statement.json())])
                .await?,
            None,
        ),
        kind => {
            let st: contracts::IssuedStatement = serde_json::from_slice(
                &s.query(other, "statement.get", vec![b(&a.statement.json())])
                    .await?,
            )
            .context("the stored statement is unreadable")?;
            match kind {
                ExportKind::Discrepancies => (st.discrepancies_csv.into_bytes(), None),
                _ => (
                    st.statement_csv.into_bytes(),
                    Some(st.summary_json.into_bytes()),
                ),
            }
        }
    };
    std::fs::write(&a.out, &bytes).with_context(|| format!("{}: cannot write", a.out.display()))?;
    if let Some(summary) = extra {
        let path = a.out.with_file_name("summary.json");
        std::fs::write(&path, summary)
            .with_context(|| format!("{}: cannot write", path.display()))?;
        println!("wrote {} and {}", a.out.display(), path.display());
    } else {
        println!("wrote {}", a.out.display());
    }
    Ok(0)
}

async fn dispute(s: &Session, cmd: DisputeCmd) -> anyhow::Result<u8> {
    let (name, step) = match cmd {
        DisputeCmd::Open(o) => {
            let other = o
                .statement
                .other(s.me())
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            let evidence = match &o.evidence {
                Some(p) => Some(
                    std::fs::read_to_string(p)
                        .with_context(|| format!("{}: cannot read", p.display()))?,
                ),
                None => None,
            };
            let req = serde_json::json!({
                "statement": serde_json::from_str::<serde_json::Value>(&o.statement.json())?,
                "line": o.line,
                "claimed": o.claimed,
                "reason": o.reason,
                "evidence": evidence,
            })
            .to_string();
            let out = show(&s.submit(other, "dispute.open", vec![b(&req)]).await?)?;
            println!("{}", out["id"].as_str().unwrap_or_default());
            return Ok(0);
        }
        DisputeCmd::Accept(a) => ("accept", a),
        DisputeCmd::Reject(a) => ("reject", a),
        DisputeCmd::Counter(a) => ("counter", a),
        DisputeCmd::AcceptCounter(a) => ("accept-counter", a),
        DisputeCmd::Escalate(a) => ("escalate", a),
        DisputeCmd::Withdraw(a) => ("withdraw", a),
        DisputeCmd::ProposeSettlement(a) => ("propose-settlement", a),
        DisputeCmd::AcceptSettlement(a) => ("accept-settlement", a),
    };
    let other = s.find("dispute.get", &step.id).await?;
    let out: contracts::DisputeRecord = serde_json::from_slice(
        &s.submit(
            other,
            "dispute.step",
            vec![
                b(&step.id),
                b(name),
                b(step.amount.as_deref().unwrap_or("")),
                b(&step.reason),
            ],
        )
        .await?,
    )?;
    let adjustment = out
        .dispute
        .adjustment()
        .map(|a| format!(", adjustment {a}"))
        .unwrap_or_default();
    println!("dispute {} is {}{adjustment}", out.id, out.dispute.state);
    Ok(0)
}

async fn payment(s: &Session, cmd: PaymentCmd) -> anyhow::Result<u8> {
    match cmd {
        PaymentCmd::Record {
            payee,
            amount,
            currency,
            date,
            reference,
        } => {
            let req = serde_json::json!({
                "payee": payee.as_str(), "amount": amount, "currency": currency.as_str(),
                "date": date, "reference": reference,
            })
            .to_string();
            let out = show(&s.submit(payee, "payment.record", vec![b(&req)]).await?)?;
            println!("{}", out["id"].as_str().unwrap_or_default());
        }
        PaymentCmd::Confirm { id } => {
            let other = s.find("payment.get", &id).await?;
            s.submit(other, "payment.confirm", vec![b(&id)]).await?;
            println!("payment {id} confirmed");
        }
        PaymentCmd::Balance { with } => {
            let out: Vec<contracts::Balance> = serde_json::from_slice(
                &s.query(
                    with,
                    "payment.balance",
                    vec![b(s.me().as_str()), b(with.as_str())],
                )
                .await?,
            )?;
            if out.is_empty() {
                println!("nothing is due between {} and {with}", s.me());
            }
            for p in out {
                println!(
                    "{}: {} owes {} {} — balance after confirmed payments {}",
                    p.currency, p.debtor, p.creditor, p.due, p.balance
                );
            }
        }
    }
    Ok(0)
}
