//! How far each commitment of a deal has come in its period, as each carrier reported its
//! traffic: the billable volume of the records it covers so far (§5: a record belongs to
//! the first commitment of the file whose prefixes start its `b_number`), the share of the
//! committed units, and what the commitment would cost if the period ended with it.

use rust_decimal::Decimal;
use rust_decimal::prelude::FromPrimitive;
use serde::{Deserialize, Serialize};

use super::{Commitment, Deal};
use crate::carrier::CarrierId;
use crate::service::Service;

/// Records of one reporter, direction and service whose `b_number` starts with
/// `number_prefix` (at least as long as the deal's longest prefix, or the whole number).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Traffic {
    /// Who reported them.
    pub reporter: CarrierId,
    /// Who pays.
    pub payer: CarrierId,
    /// Who is paid.
    pub payee: CarrierId,
    /// Their service.
    pub service: Service,
    /// The first digits of their `b_number`.
    pub number_prefix: String,
    /// How many.
    pub records: u64,
    /// Their billable units (§4), in the service's own units.
    pub billable: u128,
}

/// One carrier's view of a commitment so far.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SideProgress {
    /// Whose records.
    pub reporter: CarrierId,
    /// Covered records.
    pub records: u64,
    /// Their volume `V` in the deal's units (billable units / U), to 4 decimals.
    pub volume: Decimal,
    /// `V` as a percentage of `committed_units`, to 1 decimal (none when nothing is
    /// committed).
    pub percent: Option<Decimal>,
    /// Units still to reach the commitment (0 once reached).
    pub remaining: Decimal,
    /// The commitment's total if the period ended now (tiers plus any shortfall, §5).
    pub total_if_ended_now: Decimal,
}

/// One commitment's progress.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitmentProgress {
    /// Its place in the deal file, from 1 (the statement's `deal:ID:N`).
    pub number: usize,
    /// Who pays.
    pub payer: CarrierId,
    /// Who is paid.
    pub payee: CarrierId,
    /// Its service.
    pub service: Service,
    /// The prefixes it covers.
    pub prefixes: Vec<String>,
    /// The committed volume.
    pub committed_units: Decimal,
    /// Each reporter's view, the payer's first.
    pub sides: Vec<SideProgress>,
}

/// Why progress could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProgressError {
    /// A sum does not fit.
    #[error("a commitment's volume overflows")]
    Overflow,
}

impl Deal {
    /// The length of its longest prefix: traffic grouped by that many leading digits of
    /// `b_number` is enough to place every record.
    pub fn longest_prefix(&self) -> usize {
        self.commitments
            .iter()
            .flat_map(|c| c.prefixes.iter().map(|p| p.len()))
            .max()
            .unwrap_or(0)
    }

    /// Each commitment's progress from `traffic` (already limited to the deal's period).
    pub fn progress(&self, traffic: &[Traffic]) -> Result<Vec<CommitmentProgress>, ProgressError> {
        let mut sums: Vec<[(u64, u128); 2]> = vec![[(0, 0); 2]; self.commitments.len()];
        for t in traffic {
            let Some(k) = self.commitments.iter().position(|c| {
                c.applies_to(t.payer, t.payee, t.service)
                    && c.covers_digits(t.number_prefix.as_bytes())
            }) else {
                continue;
            };
            let c = &self.commitments[k];
            if t.reporter != c.payer && t.reporter != c.payee {
                continue;
            }
            let side = usize::from(t.reporter != c.payer);
            let s = &mut sums[k][side];
            s.0 = s.0.checked_add(t.records).ok_or(ProgressError::Overflow)?;
            s.1 = s.1.checked_add(t.billable).ok_or(ProgressError::Overflow)?;
        }
        self.commitments
            .iter()
            .zip(sums)
            .enumerate()
            .map(|(i, (c, sides))| {
                Ok(CommitmentProgress {
                    number: i + 1,
                    payer: c.payer,
                    payee: c.payee,
                    service: c.service,
                    prefixes: c.prefixes.iter().map(|p| p.to_string()).collect(),
                    committed_units: c.committed_units,
                    sides: [c.payer, c.payee]
                        .into_iter()
                        .zip(sides)
                        .map(|(reporter, (records, billable))| {
                            side(c, self, reporter, records, billable)
                        })
                        .collect::<Result<_, _>>()?,
                })
            })
            .collect()
    }
}

fn side(
    c: &Commitment,
    deal: &Deal,
    reporter: CarrierId,
    records: u64,
    billable: u128,
) -> Result<SideProgress, ProgressError> {
    let unit = c.service.rate_unit();
    // `from_u128` is `None` past Decimal's 96 bits (`From<u128>` would panic).
    let volume = Decimal::from_u128(billable)
        .and_then(|b| b.checked_div(Decimal::from(unit)))
        .ok_or(ProgressError::Overflow)?
        .round_dp(4);
    let percent = (!c.committed_units.is_zero())
        .then(|| {
            volume
                .checked_mul(Decimal::ONE_HUNDRED)
                .and_then(|v| v.checked_div(c.committed_units))
                .map(|p| p.round_dp(1))
        })
        .map(|p| p.ok_or(ProgressError::Overflow))
        .transpose()?;
    let remaining = c
        .committed_units
        .checked_sub(volume)
        .ok_or(ProgressError::Overflow)?
        .max(Decimal::ZERO);
    let total_if_ended_now = c
        .total(billable, unit, deal.currency)
        .ok_or(ProgressError::Overflow)?;
    Ok(SideProgress {
        reporter,
        records,
        volume,
        percent,
        remaining,
        total_if_ended_now,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DEAL: &str = r#"
id = "d1"
parties = ["alpha", "beta"]
from = "2026-10-01"
to = "2027-01-01"
currency = "EUR"

[[commitment]]
payer = "alpha"
payee = "beta"
service = "voice"
prefixes = ["4915", "4916"]
committed_units = "1000"
shortfall_rate = "0.0020"
tiers = [{ up_to = "500", rate = "0.0100" }, { rate = "0.0080" }]

[[commitment]]
payer = "alpha"
payee = "beta"
service = "voice"
prefixes = ["491"]
committed_units = "10"
shortfall_rate = "0.0100"
tiers = [{ rate = "0.0200" }]
"#;

    fn c(s: &str) -> CarrierId {
        CarrierId::parse(s).unwrap()
    }

    fn t(reporter: &str, prefix: &str, billable: u128) -> Traffic {
        Traffic {
            reporter: c(reporter),
            payer: c("alpha"),
            payee: c("beta"),
            service: Service::Voice,
            number_prefix: prefix.into(),
            records: 1,
            billable,
        }
    }

    fn d(s: &str) -> Decimal {
        s.parse().unwrap()
    }

    #[test]
    fn each_record_counts_once_for_the_first_commitment_that_covers_it() {
        let deal = Deal::parse(DEAL).unwrap();
        assert_eq!(deal.longest_prefix(), 4);
        let traffic = [
            // 600 minutes on 4915 as alpha saw them, 540 as beta did.
            t("alpha", "4915", 600 * 60),
            t("beta", "4915", 540 * 60),
            // 4917 is the second commitment's (491), not the first's.
            t("alpha", "4917", 30),
            // Not covered at all, and gamma's report of nothing it is party to.
            t("alpha", "3312", 6000),
            t("gamma", "4915", 6000),
        ];
        let p = deal.progress(&traffic).unwrap();
        assert_eq!(p.len(), 2);
        let first = &p[0];
        assert_eq!((first.number, first.sides.len()), (1, 2));
        let (a, b) = (&first.sides[0], &first.sides[1]);
        assert_eq!((a.reporter, a.records, a.volume), (c("alpha"), 1, d("600")));
        assert_eq!((a.percent, a.remaining), (Some(d("60.0")), d("400")));
        // 500 at 0.01 + 100 at 0.008 + 400 short at 0.002 = 5.80 + 0.80 = 6.60
        assert_eq!(a.total_if_ended_now, d("6.60"));
        assert_eq!((b.reporter, b.volume), (c("beta"), d("540")));
        let second = &p[1].sides[0];
        assert_eq!((second.records, second.volume), (1, d("0.5")));
        // Nothing reported: the whole commitment is still to reach, its shortfall owed.
        let none = deal.progress(&[]).unwrap();
        assert_eq!(none[0].sides[1].remaining, d("1000"));
        assert_eq!(none[0].sides[1].total_if_ended_now, d("2.00"));
        // A volume past what a decimal holds is an error, never a panic or a wrap.
        assert_eq!(
            deal.progress(&[t("alpha", "4915", u128::MAX)]),
            Err(ProgressError::Overflow)
        );
    }
}
