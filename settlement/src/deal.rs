//! Bilateral deals (SPEC §5): the TOML file, its rules, and a commitment's total.

use num_bigint::BigInt;
use rust_decimal::Decimal;
use toml::Value;

use crate::carrier::CarrierId;
use crate::money::{Currency, Exact, Rounding, parse_decimal};
use crate::number::Number;
use crate::period::{Period, PeriodError};
use crate::service::Service;
use crate::time::{Instant, Timestamp};

/// One price band of a commitment: up to `up_to` rate units (the last has no bound).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tier {
    /// Upper bound in rate units, cumulative; `None` on the last tier.
    pub up_to: Option<Decimal>,
    /// Price per rate unit within the band.
    pub rate: Decimal,
}

/// A volume commitment of one payer to one payee for one service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Commitment {
    /// Who pays.
    pub payer: CarrierId,
    /// Who is paid.
    pub payee: CarrierId,
    /// The service committed.
    pub service: Service,
    /// Destination prefixes it covers.
    pub prefixes: Vec<Box<str>>,
    /// Committed volume per statement period, in rate units.
    pub committed_units: Decimal,
    /// Price of each committed rate unit not used.
    pub shortfall_rate: Decimal,
    /// Marginal price bands.
    pub tiers: Vec<Tier>,
}

/// A deal between two carriers over `[from, to)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deal {
    /// The deal's id, when the file gives one.
    pub id: Option<String>,
    /// The two carriers.
    pub parties: [CarrierId; 2],
    /// `[from, to)`, as the file gives it.
    pub period: Period,
    /// The currency of every price.
    pub currency: Currency,
    /// Commitments in file order (a record belongs to the first that covers it).
    pub commitments: Vec<Commitment>,
}

/// Why a deal is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DealError {
    /// Not TOML.
    #[error("{0}")]
    Toml(String),
    /// A field is missing or malformed.
    #[error("`{field}`: {message}")]
    Field {
        /// Where, e.g. `commitment[1].tiers[0].up_to`.
        field: String,
        /// What is wrong.
        message: String,
    },
    /// A rule between fields is broken.
    #[error("{0}")]
    Rule(String),
}

fn field_err(field: impl Into<String>, message: impl Into<String>) -> DealError {
    DealError::Field {
        field: field.into(),
        message: message.into(),
    }
}

fn get<'a>(t: &'a toml::Table, key: &str, path: &str) -> Result<&'a Value, DealError> {
    t.get(key)
        .ok_or_else(|| field_err(join(path, key), "is missing"))
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_string()
    } else {
        format!("{path}.{key}")
    }
}

fn string<'a>(v: &'a Value, field: &str) -> Result<&'a str, DealError> {
    v.as_str()
        .ok_or_else(|| field_err(field, "must be a string"))
}

fn carrier(v: &Value, field: &str) -> Result<CarrierId, DealError> {
    let s = string(v, field)?;
    CarrierId::parse(s).ok_or_else(|| field_err(field, format!("`{s}` is not a carrier id")))
}

/// A decimal written as a string or an integer; floats are refused so nothing is rounded.
fn decimal(v: &Value, field: &str) -> Result<Decimal, DealError> {
    match v {
        Value::String(s) => {
            parse_decimal(s).ok_or_else(|| field_err(field, format!("`{s}` is not a decimal ≥ 0")))
        }
        Value::Integer(i) if *i >= 0 => Ok(Decimal::from(*i)),
        Value::Integer(i) => Err(field_err(field, format!("{i} is negative"))),
        Value::Float(_) => Err(field_err(
            field,
            "is a TOML float; write decimals as strings (\"0.0100\") so nothing is rounded",
        )),
        _ => Err(field_err(field, "must be a decimal string or an integer")),
    }
}

fn bound_text(v: &Value, field: &str) -> Result<String, DealError> {
    match v {
        Value::String(s) => Ok(s.clone()),
        Value::Datetime(d) => Ok(d.to_string()),
        _ => Err(field_err(field, "must be a date or an RFC 3339 time")),
    }
}

impl Deal {
    /// Parses and checks a deal file (SPEC §5).
    pub fn parse(text: &str) -> Result<Deal, DealError> {
        let t: toml::Table = text
            .parse()
            .map_err(|e: toml::de::Error| DealError::Toml(e.to_string()))?;
        let id = match t.get("id") {
            None => None,
            Some(v) => {
                let s = string(v, "id")?;
                if s.is_empty() || s.len() > 64 || s.chars().any(char::is_control) {
                    return Err(field_err(
                        "id",
                        "must be 1 to 64 characters, none a control character",
                    ));
                }
                Some(s.to_string())
            }
        };
        let parties = get(&t, "parties", "")?
            .as_array()
            .ok_or_else(|| field_err("parties", "must be an array of two carrier ids"))?;
        let parties: Vec<CarrierId> = parties
            .iter()
            .enumerate()
            .map(|(i, v)| carrier(v, &format!("parties[{i}]")))
            .collect::<Result<_, _>>()?;
        let [a, b] = parties[..] else {
            return Err(DealError::Rule(
                "parties must name exactly two carriers".into(),
            ));
        };
        if a == b {
            return Err(DealError::Rule(format!(
                "parties must be two different carriers, not {a} twice"
            )));
        }
        let from = bound_text(get(&t, "from", "")?, "from")?;
        let to = bound_text(get(&t, "to", "")?, "to")?;
        let period = Period::parse(&from, &to).map_err(|e| match e {
            PeriodError::Bound { bound, .. } => field_err(bound, e.to_string()),
            PeriodError::NotAfter { .. } => DealError::Rule(e.to_string()),
        })?;
        let cur = string(get(&t, "currency", "")?, "currency")?;
        let currency = Currency::parse(cur)
            .ok_or_else(|| field_err("currency", format!("`{cur}` is not an ISO 4217 code")))?;
        let list = get(&t, "commitment", "")?.as_array().ok_or_else(|| {
            field_err("commitment", "must be an array of tables ([[commitment]])")
        })?;
        if list.is_empty() {
            return Err(DealError::Rule(
                "a deal needs at least one commitment".into(),
            ));
        }
        let commitments = list
            .iter()
            .enumerate()
            .map(|(i, v)| commitment(v, &format!("commitment[{i}]"), [a, b]))
            .collect::<Result<_, _>>()?;
        Ok(Deal {
            id,
            parties: [a, b],
            period,
            currency,
            commitments,
        })
    }

    /// Whether `[from, to)` shares time with the deal ([`Period::overlaps_bounds`]).
    pub fn overlaps(&self, from: &Instant, to: &Instant) -> bool {
        self.period.overlaps_bounds(from, to)
    }

    /// Whether a record starting at `t` lies in the deal's period ([`Period::contains`]).
    pub fn contains(&self, t: Timestamp) -> bool {
        self.period.contains(t)
    }
}

fn commitment(v: &Value, path: &str, parties: [CarrierId; 2]) -> Result<Commitment, DealError> {
    let t = v
        .as_table()
        .ok_or_else(|| field_err(path, "must be a table"))?;
    let payer = carrier(get(t, "payer", path)?, &join(path, "payer"))?;
    let payee = carrier(get(t, "payee", path)?, &join(path, "payee"))?;
    if payer == payee || !parties.contains(&payer) || !parties.contains(&payee) {
        return Err(DealError::Rule(format!(
            "{path}: payer {payer} and payee {payee} must be the deal's two parties ({} and {})",
            parties[0], parties[1]
        )));
    }
    let svc = string(get(t, "service", path)?, &join(path, "service"))?;
    let service = Service::parse(svc).ok_or_else(|| {
        field_err(
            join(path, "service"),
            format!("`{svc}` is not voice, sms or data"),
        )
    })?;
    let prefixes_path = join(path, "prefixes");
    let prefixes = get(t, "prefixes", path)?
        .as_array()
        .ok_or_else(|| field_err(&prefixes_path, "must be an array of digit strings"))?
        .iter()
        .enumerate()
        .map(|(i, v)| {
            let f = format!("{prefixes_path}[{i}]");
            let s = string(v, &f)?;
            if s.is_empty() || s.len() > 15 || !s.bytes().all(|b| b.is_ascii_digit()) {
                return Err(field_err(f, format!("`{s}` is not 1 to 15 digits")));
            }
            Ok(Box::<str>::from(s))
        })
        .collect::<Result<Vec<_>, _>>()?;
    if prefixes.is_empty() {
        return Err(field_err(prefixes_path, "must name at least one prefix"));
    }
    let committed_units = decimal(
        get(t, "committed_units", path)?,
        &join(path, "committed_units"),
    )?;
    let shortfall_rate = decimal(
        get(t, "shortfall_rate", path)?,
        &join(path, "shortfall_rate"),
    )?;
    let tiers_path = join(path, "tiers");
    let raw_tiers = get(t, "tiers", path)?
        .as_array()
        .ok_or_else(|| field_err(&tiers_path, "must be an array of { up_to, rate } tables"))?;
    if raw_tiers.is_empty() {
        return Err(field_err(&tiers_path, "must have at least one tier"));
    }
    let mut tiers = Vec::with_capacity(raw_tiers.len());
    for (i, v) in raw_tiers.iter().enumerate() {
        let tp = format!("{tiers_path}[{i}]");
        let tt = v
            .as_table()
            .ok_or_else(|| field_err(&tp, "must be a table { up_to, rate }"))?;
        let rate = decimal(get(tt, "rate", &tp)?, &join(&tp, "rate"))?;
        let up_to = tt
            .get("up_to")
            .map(|u| decimal(u, &join(&tp, "up_to")))
            .transpose()?;
        let last = i + 1 == raw_tiers.len();
        match (&up_to, last) {
            (Some(_), true) => {
                return Err(DealError::Rule(format!(
                    "{tp}: the last tier must have no up_to"
                )));
            }
            (None, false) => {
                return Err(DealError::Rule(format!(
                    "{tp}: every tier but the last needs an up_to"
                )));
            }
            _ => {}
        }
        if let (
            Some(u),
            Some(Tier {
                up_to: Some(prev), ..
            }),
        ) = (up_to, tiers.last())
            && u <= *prev
        {
            return Err(DealError::Rule(format!(
                "{tp}: up_to values must increase ({u} follows {prev})"
            )));
        }
        tiers.push(Tier { up_to, rate });
    }
    Ok(Commitment {
        payer,
        payee,
        service,
        prefixes,
        committed_units,
        shortfall_rate,
        tiers,
    })
}

impl Commitment {
    /// Whether the commitment is of this payer, payee and service.
    pub fn applies_to(&self, payer: CarrierId, payee: CarrierId, service: Service) -> bool {
        self.payer == payer && self.payee == payee && self.service == service
    }

    /// Whether one of its prefixes starts `b_number`.
    pub fn covers_number(&self, b_number: &Number) -> bool {
        let digits = b_number.digits();
        self.prefixes
            .iter()
            .any(|p| digits.starts_with(p.as_bytes()))
    }

    /// The commitment's total for one statement period (SPEC §5): the tiers price the
    /// volume `V = billable / U` marginally, a shortfall is added below `committed_units`,
    /// and the sum is rounded once to the currency's minor unit, half_up.
    pub fn total(&self, billable: u128, unit: u64, currency: Currency) -> Option<Decimal> {
        // Everything stays in the service's own units (rate units × U); divide by U last.
        let u = Exact::int(unit);
        let used = Exact::int(BigInt::from(billable));
        let mut amount = Exact::zero();
        let mut lower = Exact::zero();
        for tier in &self.tiers {
            let upper = tier.up_to.map(|x| Exact::from(x).mul(&u));
            let above = used.sub(&lower).max(Exact::zero());
            let in_band = match &upper {
                Some(up) => above.min(up.sub(&lower)),
                None => above,
            };
            amount = amount.add(&in_band.mul(&Exact::from(tier.rate)));
            match upper {
                Some(up) => lower = up,
                None => break,
            }
        }
        let committed = Exact::from(self.committed_units).mul(&u);
        if used.cmp_value(&committed).is_lt() {
            amount = amount.add(&committed.sub(&used).mul(&Exact::from(self.shortfall_rate)));
        }
        amount.div_round(&u, currency.minor_unit(), Rounding::HalfUp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = r#"
id = "alpha-beta-2026q4"
parties = ["alpha", "beta"]
from = "2026-10-01"
to = 2027-01-01
currency = "EUR"

[[commitment]]
payer = "alpha"
payee = "beta"
service = "voice"
prefixes = ["4915", "4916", "4917"]
committed_units = "100000"
shortfall_rate = "0.0020"
tiers = [{ up_to = "50000", rate = "0.0100" }, { rate = "0.0080" }]
"#;

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn parses_the_spec_example() {
        let deal = Deal::parse(SAMPLE).unwrap();
        assert_eq!(deal.id.as_deref(), Some("alpha-beta-2026q4"));
        assert_eq!(deal.commitments[0].tiers.len(), 2);
        assert_eq!(deal.period.to().to_string(), "2027-01-01T00:00:00Z");
    }

    #[test]
    fn totals_are_marginal_with_shortfall() {
        let c = &Deal::parse(SAMPLE).unwrap().commitments[0];
        let eur = Currency::parse("EUR").unwrap();
        // 60,000 minutes: 50,000 at 0.01 + 10,000 at 0.008 = 580; shortfall 40,000 · 0.002 = 80.
        assert_eq!(c.total(60_000 * 60, 60, eur), Some(d("660.00")));
        // Nothing used: only the shortfall, 100,000 · 0.002.
        assert_eq!(c.total(0, 60, eur), Some(d("200.00")));
        // 150,000 minutes: 500 + 800, no shortfall.
        assert_eq!(c.total(150_000 * 60, 60, eur), Some(d("1300.00")));
        // 90 s = 1.5 minutes: 0.015 + shortfall 99,998.5 · 0.002 = 0.015 + 199.997 = 200.012.
        assert_eq!(c.total(90, 60, eur), Some(d("200.01")));
    }

    #[test]
    fn refusals() {
        let cases: [(&str, &str); 9] = [
            (
                "tiers = [{ up_to = \"50000\", rate = \"0.0100\" }, { up_to = \"60000\", rate = \"0.0080\" }]",
                "last tier",
            ),
            (
                "tiers = [{ up_to = \"50000\", rate = \"0.0100\" }, { up_to = \"40000\", rate = \"0.0090\" }, { rate = \"0.0080\" }]",
                "increase",
            ),
            (
                "tiers = [{ up_to = \"-5\", rate = \"0.0100\" }, { rate = \"0.0080\" }]",
                "decimal",
            ),
            (
                "tiers = [{ up_to = -5, rate = \"0.0100\" }, { rate = \"0.0080\" }]",
                "negative",
            ),
            (
                "tiers = [{ up_to = 50000.0, rate = \"0.0100\" }, { rate = \"0.0080\" }]",
                "float",
            ),
            ("to = \"2026-09-01\"", "after"),
            ("parties = [\"alpha\", \"alpha\"]", "different"),
            ("payer = \"gamma\"", "parties"),
            ("from = \"2026-10-01T00:00:00\"", "offset"),
        ];
        for (replace, want) in cases {
            let key = replace.split(" = ").next().unwrap();
            let text: String = SAMPLE
                .lines()
                .map(|l| {
                    if l.starts_with(&format!("{key} =")) {
                        replace
                    } else {
                        l
                    }
                })
                .collect::<Vec<_>>()
                .join("\n");
            let err = Deal::parse(&text).unwrap_err().to_string();
            assert!(err.contains(want), "{replace}: {err}");
        }
    }
}
