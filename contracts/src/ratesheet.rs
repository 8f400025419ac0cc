//! Publishing ratesheets (SPEC §3, §3.1): the owner publishes, the counterparty's peer
//! checks the same rules while endorsing, and the sheet in force is kept in the world state
//! (its earlier versions are the key's history).

use ledger::contract::{Context, ContractError};
use serde::{Deserialize, Serialize};
use settlement::carrier::CarrierId;
use settlement::money::{Currency, Rounding};
use settlement::ratesheet::change::publish as check_change;
use settlement::ratesheet::{Ratesheet, SheetTerms};
use settlement::service::Service;

use crate::store::{arg, caller, fetch, get_json, json_arg, now, put_json, reply};
use crate::{agreement, keys};

/// The metadata of an upload (SPEC §3).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Terms {
    /// The payee publishing it.
    pub owner: String,
    /// voice, sms or data.
    pub service: String,
    /// ISO 4217.
    pub currency: String,
    /// The one counterparty it is for; none for all.
    #[serde(default)]
    pub counterparty: Option<String>,
    /// Decimals of each charge.
    #[serde(default = "default_decimals")]
    pub decimals: u32,
    /// half_up, half_even, up or down.
    #[serde(default = "default_rounding")]
    pub rounding: String,
}

fn default_decimals() -> u32 {
    4
}

fn default_rounding() -> String {
    "half_up".into()
}

impl Terms {
    /// The engine's terms, or a refusal naming the bad field.
    pub fn sheet_terms(&self) -> Result<SheetTerms, ContractError> {
        let refuse = |m: String| ContractError::refused(m);
        let service: Service = self
            .service
            .parse()
            .map_err(|e: settlement::service::BadService| refuse(e.to_string()))?;
        let currency: Currency = self
            .currency
            .parse()
            .map_err(|e: settlement::money::BadCurrency| refuse(e.to_string()))?;
        let rounding: Rounding = self
            .rounding
            .parse()
            .map_err(|e: settlement::money::BadRounding| refuse(e.to_string()))?;
        let mut t = SheetTerms::new(service, currency, self.decimals, rounding)
            .map_err(|e| refuse(e.to_string()))?;
        t.owner = Some(
            CarrierId::parse(&self.owner)
                .ok_or_else(|| refuse(format!("owner `{}` is not a carrier id", self.owner)))?,
        );
        t.counterparty = match &self.counterparty {
            None => None,
            Some(c) => Some(
                CarrierId::parse(c)
                    .ok_or_else(|| refuse(format!("counterparty `{c}` is not a carrier id")))?,
            ),
        };
        Ok(t)
    }

    fn scope(&self) -> &str {
        self.counterparty.as_deref().unwrap_or("*")
    }
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
    /// The sheet, parsed.
    pub fn sheet(&self) -> Result<Ratesheet, ContractError> {
        Ratesheet::read(self.csv.as_bytes(), self.terms.sheet_terms()?)
            .map_err(|e| ContractError::refused(format!("the stored ratesheet is unreadable: {e}")))
    }
}

/// `ratesheet.publish TERMS_JSON CSV`: validates the file (SPEC §3) and the change rules
/// (§3.1, judged by the transaction's time) and stores the sheet in force.
pub async fn publish(ctx: &mut Context<'_>, args: &[Vec<u8>]) -> Result<Vec<u8>, ContractError> {
    let terms: Terms = json_arg(args, 0, "terms")?;
    let csv = arg(args, 1, "ratesheet file")?;
    let me = caller(ctx)?;
    if terms.owner != me.as_str() {
        return Err(ContractError::refused(format!(
            "{me} cannot publish {}'s ratesheet",
            terms.owner
        )));
    }
    let sheet_terms = terms.sheet_terms()?;
    let sheet = Ratesheet::read(csv.as_bytes(), sheet_terms)
        .map_err(|e| ContractError::refused(format!("ratesheet refused: {e}")))?;
    let published_rows = sheet.rows().len();
    let key = keys::sheet(&terms.owner, &terms.service, terms.scope());
    let previous: Option<StoredSheet> = get_json(ctx, &key).await?;
    let old = match &previous {
        Some(p) => {
            if (&p.terms.currency, p.terms.decimals, &p.terms.rounding)
                != (&terms.currency, terms.decimals, &terms.rounding)
            {
                return Err(ContractError::refused(format!(
                    "this scope is published in {} with {} decimals, {}; a later publication must keep them",
                    p.terms.currency, p.terms.decimals, p.terms.rounding
                )));
            }
            Some(p.sheet()?)
        }
        None => None,
    };
    let notice_days = agreement::load(ctx).await?.map_or(7, |a| a.notice_days);
    let at = now(ctx);
    let merged = check_change(old.as_ref(), sheet, at, notice_days).map_err(|problems| {
        ContractError::refused(
            problems
                .iter()
                .map(|p| p.to_string())
                .collect::<Vec<_>>()
                .join("; "),
        )
    })?;
    let version = previous.as_ref().map_or(0, |p| p.version) + 1;
    let mut history = previous.map(|p| p.history).unwrap_or_default();
    history.push(Publication {
        version,
        tx_id: ctx.tx_id().to_string(),
        at: at.0,
        rows: published_rows,
    });
    let stored = StoredSheet {
        terms,
        csv: merged.to_csv(),
        published_at: at.0,
        version,
        history,
    };
    put_json(ctx, &key, &stored)?;
    reply(
        &serde_json::json!({ "rows": merged.rows().len(), "published_at": at.0, "version": version }),
    )
}

/// `ratesheet.get OWNER SERVICE SCOPE`: the sheet in force (`*` is the general scope).
pub async fn get(ctx: &mut Context<'_>, args: &[Vec<u8>]) -> Result<Vec<u8>, ContractError> {
    let key = keys::sheet(
        arg(args, 0, "owner")?,
        arg(args, 1, "service")?,
        arg(args, 2, "scope")?,
    );
    let sheet: StoredSheet = fetch(ctx, &key, || "no such ratesheet".into()).await?;
    reply(&sheet)
}

/// SPEC §3.2: the payee's sheet for the payer as named counterparty if there is one, else
/// its general one.
pub async fn sheet_for(
    ctx: &mut Context<'_>,
    payee: CarrierId,
    payer: CarrierId,
    service: Service,
) -> Result<Option<Ratesheet>, ContractError> {
    for scope in [payer.as_str(), "*"] {
        let key = keys::sheet(payee.as_str(), service.as_str(), scope);
        if let Some(s) = get_json::<StoredSheet>(ctx, &key).await? {
            return s.sheet().map(Some);
        }
    }
    Ok(None)
}
