//! Publishing ratesheets (SPEC §3, §3.1): the owner publishes, the counterparty's peer
//! checks the same rules while endorsing, and the sheet in force is kept in the world state
//! (its earlier versions are the key's history).

use ledger::contract::{Context, ContractError};
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;
use settlement::money::{Currency, Rounding};
use settlement::ratesheet::change::{ChangeProblem, Prior, check_publication};
use settlement::ratesheet::diff::{ChangeClass, RowChange, diff};
use settlement::ratesheet::{Ratesheet, RatesheetError, SheetTerms};
use settlement::service::Service;
use settlement::time::Timestamp;

use crate::store::{caller, emit, fetch, get_json, now, put_json};
use crate::{agreement, keys};

/// The metadata of an upload (SPEC §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Terms {
    /// The payee publishing it.
    pub owner: CarrierId,
    /// voice, sms or data.
    pub service: Service,
    /// ISO 4217.
    pub currency: Currency,
    /// The one counterparty it is for; none for all.
    #[serde(default)]
    pub counterparty: Option<CarrierId>,
    /// Decimals of each charge.
    #[serde(default = "default_decimals")]
    pub decimals: u32,
    /// half_up, half_even, up or down.
    #[serde(default)]
    pub rounding: Rounding,
}

fn default_decimals() -> u32 {
    4
}

impl Terms {
    /// The engine's terms, or a refusal naming the bad field.
    pub fn sheet_terms(&self) -> Result<SheetTerms, ContractError> {
        let mut t = SheetTerms::new(self.service, self.currency, self.decimals, self.rounding)
            .map_err(|e| ContractError::refused(e.to_string()))?;
        t.owner = Some(self.owner);
        t.counterparty = self.counterparty;
        Ok(t)
    }

    fn scope(&self) -> &str {
        self.counterparty.as_ref().map_or("*", CarrierId::as_str)
    }
}

/// `ratesheet.publish`'s request: the terms, and the file as the call's body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PublishRatesheet {
    /// The upload's metadata.
    pub terms: Terms,
    /// The ratesheet file (CSV), carried as the call's body, not in the JSON.
    #[serde(skip)]
    pub csv: Vec<u8>,
}

/// What a publication did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Published {
    /// Rows in force afterwards.
    pub rows: usize,
    /// Its transaction time, seconds.
    pub published_at: i64,
    /// The version it made.
    pub version: u32,
}

/// Which sheet: an owner's, for a service, general or for one counterparty.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SheetQuery {
    /// The payee that published it.
    pub owner: CarrierId,
    /// The service.
    pub service: Service,
    /// The counterparty scope; none for the general sheet.
    #[serde(default)]
    pub counterparty: Option<CarrierId>,
}

/// The sheet in force for one owner, service and scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredSheet {
    /// Its terms.
    pub terms: Terms,
    /// Its rows as a canonical ratesheet file.
    pub csv: String,
    /// Transaction time of the last publication, seconds.
    pub published_at: i64,
    /// Version of the sheet in force: 1 for the baseline, one more per publication.
    #[serde(default)]
    pub version: u32,
    /// Every publication so far, oldest first.
    #[serde(default)]
    pub history: Vec<Publication>,
}

/// The event of a publication: which sheet, its version and size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SheetEvent {
    /// The sheet's terms.
    pub terms: Terms,
    /// The version made.
    pub version: u32,
    /// Transaction time, seconds.
    pub published_at: i64,
    /// Rows in force.
    pub rows: usize,
}

/// One publication of a sheet.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Publication {
    /// The version it made.
    pub version: u32,
    /// Its transaction.
    pub tx_id: String,
    /// Its transaction time, seconds.
    pub at: i64,
    /// Rows in the file published.
    pub rows: usize,
}

impl StoredSheet {
    /// The sheet stored as `bytes` under `key`, parsed; bytes that do not decode or parse
    /// are corrupt state.
    pub(crate) fn parse(key: &str, bytes: &[u8]) -> Result<Ratesheet, ContractError> {
        let stored: StoredSheet =
            serde_json::from_slice(bytes).map_err(|e| ContractError::corrupt(key, e))?;
        stored.sheet()
    }

    /// The sheet, parsed; a stored sheet that does not parse is corrupt state.
    pub fn sheet(&self) -> Result<Ratesheet, ContractError> {
        let key = keys::sheet(
            self.terms.owner.as_str(),
            self.terms.service.as_str(),
            self.terms.scope(),
        );
        let terms = self
            .terms
            .sheet_terms()
            .map_err(|e| ContractError::corrupt(key.clone(), e))?;
        Ratesheet::read(self.csv.as_bytes(), terms).map_err(|e| ContractError::corrupt(key, e))
    }

    /// What the read model keeps of a publication.
    pub fn event(&self) -> SheetEvent {
        SheetEvent {
            terms: self.terms.clone(),
            version: self.version,
            published_at: self.published_at,
            rows: self.csv.lines().count().saturating_sub(1),
        }
    }
}

/// A publication judged as the contract judges it, before anything is written.
struct Judged {
    key: String,
    previous: Option<StoredSheet>,
    /// What the upload is compared with: the scope's sheet, or the general one for a
    /// counterparty's first sheet.
    reference: Option<Ratesheet>,
    /// Rows in the file.
    published_rows: usize,
    at: Timestamp,
    notice_days: u32,
    /// The sheet in force afterwards, or every problem by line.
    outcome: Result<Ratesheet, Problems>,
}

/// Why a publication would be refused: its file (SPEC §3) or its change (§3.1).
enum Problems {
    File(RatesheetError),
    Change(Vec<ChangeProblem>),
}

impl Problems {
    /// Each problem on its own, with its line where it has one.
    fn each(&self) -> Vec<String> {
        match self {
            Problems::File(RatesheetError::Rows(rows)) => {
                rows.iter().map(ToString::to_string).collect()
            }
            Problems::File(e) => vec![e.to_string()],
            Problems::Change(c) => c.iter().map(ToString::to_string).collect(),
        }
    }

    /// The refusal `ratesheet.publish` gives.
    fn refusal(self) -> ContractError {
        ContractError::refused(match self {
            Problems::File(e) => format!("ratesheet refused: {e}"),
            Problems::Change(c) => c
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; "),
        })
    }
}

/// Judges a publication by the caller (SPEC §3, §3.1) at the transaction's time: who may
/// publish and for whom are refusals; the file's and the change rules' problems are the
/// outcome, every one with its line.
async fn judge(ctx: &mut Context<'_>, terms: &Terms, csv: &[u8]) -> Result<Judged, ContractError> {
    let me = caller(ctx)?;
    if terms.owner != me {
        return Err(ContractError::refused(format!(
            "{me} cannot publish {}'s ratesheet",
            terms.owner
        )));
    }
    let parties = agreement::pair(ctx)?;
    if !parties.contains(&me) {
        return Err(ContractError::refused(format!(
            "{me} is not a carrier of this channel"
        )));
    }
    if let Some(c) = terms.counterparty
        && (c == me || !parties.contains(&c))
    {
        return Err(ContractError::refused(format!(
            "counterparty {c} is not the other carrier of this channel"
        )));
    }
    let sheet_terms = terms.sheet_terms()?;
    let key = keys::sheet(terms.owner.as_str(), terms.service.as_str(), terms.scope());
    let previous: Option<StoredSheet> = get_json(ctx, &key).await?;
    if let Some(p) = &previous
        && (p.terms.currency, p.terms.decimals, p.terms.rounding)
            != (terms.currency, terms.decimals, terms.rounding)
    {
        return Err(ContractError::refused(format!(
            "this scope is published in {} with {} decimals, {}; a later publication must keep them",
            p.terms.currency, p.terms.decimals, p.terms.rounding
        )));
    }
    let old = previous.as_ref().map(StoredSheet::sheet).transpose()?;
    // SPEC §3.1: only the owner's very first publication for the service on this channel,
    // in any scope, is the baseline; a counterparty's first sheet after a general one is
    // judged against the general one.
    let other_scope = match terms.counterparty {
        Some(_) => "*".to_string(),
        None => parties
            .iter()
            .find(|p| **p != me)
            .map(|p| p.to_string())
            .unwrap_or_default(),
    };
    let other_key = keys::sheet(terms.owner.as_str(), terms.service.as_str(), &other_scope);
    let other: Option<StoredSheet> = get_json(ctx, &other_key).await?;
    let general = match (terms.counterparty, &other) {
        (Some(_), Some(g)) => Some(g.sheet()?),
        _ => None,
    };
    let notice_days = agreement::terms(ctx).await?.notice_days();
    let at = now(ctx);
    let baseline = old.is_none() && other.is_none();
    let reference = old.or(general);
    let (published_rows, outcome) = match Ratesheet::read(csv, sheet_terms) {
        Err(e) => (0, Err(Problems::File(e))),
        Ok(sheet) => {
            let rows = sheet.rows().len();
            let prior = if baseline {
                Prior::Baseline
            } else {
                Prior::Published {
                    scope: previous.as_ref().and(reference.as_ref()),
                    general: reference.as_ref(),
                }
            };
            let judged = check_publication(prior, sheet, at, notice_days).map_err(Problems::Change);
            (rows, judged)
        }
    };
    Ok(Judged {
        key,
        previous,
        reference,
        published_rows,
        at,
        notice_days,
        outcome,
    })
}

/// `ratesheet.publish`: validates the file (SPEC §3) and the change rules (§3.1, judged
/// by the transaction's time) and stores the sheet in force. The owner is the caller, and
/// a named counterparty must be the other carrier of the channel.
pub async fn publish(
    ctx: &mut Context<'_>,
    req: PublishRatesheet,
) -> Result<Published, ContractError> {
    let PublishRatesheet { terms, csv } = req;
    let judged = judge(ctx, &terms, &csv).await?;
    let merged = judged.outcome.map_err(Problems::refusal)?;
    let at = judged.at;
    let version = judged.previous.as_ref().map_or(0, |p| p.version) + 1;
    let mut history = judged.previous.map(|p| p.history).unwrap_or_default();
    history.push(Publication {
        version,
        tx_id: ctx.tx_id().to_string(),
        at: at.0,
        rows: judged.published_rows,
    });
    let stored = StoredSheet {
        terms,
        csv: merged.to_csv(),
        published_at: at.0,
        version,
        history,
    };
    put_json(ctx, &judged.key, &stored)?;
    emit(ctx, "ratesheet", &stored.event())?;
    Ok(Published {
        rows: merged.rows().len(),
        published_at: at.0,
        version,
    })
}

/// One row a publication would change, as a rate notification shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SheetChange {
    /// new, dearer, cheaper, same, closed or removed.
    pub class: ChangeClass,
    /// The row's line in its file.
    pub line: u64,
    /// The prefix.
    pub prefix: String,
    /// The destination.
    pub destination: String,
    /// The rate as written.
    pub rate: String,
    /// When the change takes effect (RFC 3339).
    pub takes_effect: String,
    /// The terms that moved, each as `name old → new`.
    pub terms: Vec<String>,
}

impl From<&RowChange> for SheetChange {
    fn from(c: &RowChange) -> SheetChange {
        SheetChange {
            class: c.class,
            line: c.row.line,
            prefix: c.row.prefix.to_string(),
            destination: c.row.destination.to_string(),
            rate: c.row.rate_text.to_string(),
            takes_effect: c.takes_effect().to_string(),
            terms: c.terms.clone(),
        }
    }
}

/// `ratesheet.preview`'s reply: what publishing the file now would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Preview {
    /// The time it was judged at (the proposal's), seconds.
    pub at: i64,
    /// The agreement's notice for a raise, days.
    pub notice_days: u32,
    /// The earliest a raise may take effect if published now (RFC 3339).
    pub earliest_raise: String,
    /// The version it would make.
    pub version: u32,
    /// Every problem by line; empty when the publication would be accepted.
    pub problems: Vec<String>,
    /// The rows that would change against the sheet in force (against the general sheet
    /// for a counterparty's first sheet); empty when there are problems.
    pub changes: Vec<SheetChange>,
}

/// `ratesheet.preview`: judges a publication exactly as `ratesheet.publish` would at the
/// proposal's time, writes nothing, and says what it would change or what is wrong.
pub async fn preview(
    ctx: &mut Context<'_>,
    req: PublishRatesheet,
) -> Result<Preview, ContractError> {
    let judged = judge(ctx, &req.terms, &req.csv).await?;
    let earliest = Timestamp(
        judged
            .at
            .0
            .saturating_add(i64::from(judged.notice_days).saturating_mul(86_400)),
    );
    let (problems, changes) = match &judged.outcome {
        Err(problems) => (problems.each(), Vec::new()),
        Ok(merged) => (
            Vec::new(),
            diff(judged.reference.as_ref(), merged)
                .iter()
                .map(SheetChange::from)
                .collect(),
        ),
    };
    Ok(Preview {
        at: judged.at.0,
        notice_days: judged.notice_days,
        earliest_raise: earliest.to_string(),
        version: judged.previous.as_ref().map_or(0, |p| p.version) + 1,
        problems,
        changes,
    })
}

/// `ratesheet.get`: the sheet in force for an owner, service and scope.
pub async fn get(ctx: &mut Context<'_>, q: SheetQuery) -> Result<StoredSheet, ContractError> {
    let scope = q.counterparty.as_ref().map_or("*", CarrierId::as_str);
    let key = keys::sheet(q.owner.as_str(), q.service.as_str(), scope);
    fetch(ctx, &key, || {
        format!("{} has no such {} ratesheet", q.owner, q.service)
    })
    .await
}

/// SPEC §3.2: the stored payee's sheet for the payer as named counterparty if there is
/// one, else its general one: its key and its bytes as the transaction read them.
pub(crate) async fn stored_sheet_for(
    ctx: &mut Context<'_>,
    payee: CarrierId,
    payer: CarrierId,
    service: Service,
) -> Result<Option<(String, Vec<u8>)>, ContractError> {
    for scope in [payer.as_str(), "*"] {
        let key = keys::sheet(payee.as_str(), service.as_str(), scope);
        if let Some(bytes) = ctx.get(&key).await? {
            return Ok(Some((key, bytes)));
        }
    }
    Ok(None)
}

/// SPEC §3.2: the payee's sheet for the payer as named counterparty if there is one, else
/// its general one, parsed.
pub async fn sheet_for(
    ctx: &mut Context<'_>,
    payee: CarrierId,
    payer: CarrierId,
    service: Service,
) -> Result<Option<Ratesheet>, ContractError> {
    match stored_sheet_for(ctx, payee, payer, service).await? {
        Some((key, bytes)) => StoredSheet::parse(&key, &bytes).map(Some),
        None => Ok(None),
    }
}
