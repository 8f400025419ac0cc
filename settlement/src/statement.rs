//! Statement lines, totals, the amount billed and the status (SPEC §6.2, §6.3).

use std::fmt;

use rust_decimal::Decimal;

use crate::carrier::CarrierId;
use crate::deal::Deal;
use crate::money::{Exact, Rounding, to_minor_unit};
use crate::period::Period;
use crate::ratesheet::Ratesheet;
use crate::reconcile::{Outcome, Pairing, SideRecord};
use crate::service::Service;

/// Whose statement, for what, over which period.
#[derive(Debug, Clone)]
pub struct StatementScope {
    /// The carrier that handed the traffic over.
    pub payer: CarrierId,
    /// The carrier that terminated and invoices it.
    pub payee: CarrierId,
    /// The service.
    pub service: Service,
    /// `[from, to)`: the records whose start time it contains.
    pub period: Period,
}

/// One side's figures on a line.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SideTotals {
    /// Records.
    pub count: u64,
    /// Units, in the service's own units.
    pub units: u128,
    /// Charges, exact sums (a deal line: the commitment's total).
    pub charge: Decimal,
}

/// One statement line: a destination, the empty destination, or `deal:ID:N`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementLine {
    /// The line's name.
    pub destination: String,
    /// The payer's figures.
    pub payer: SideTotals,
    /// The payee's figures.
    pub payee: SideTotals,
}

impl StatementLine {
    /// `payee_charge − payer_charge`.
    pub fn variance(&self) -> Decimal {
        self.payee.charge - self.payer.charge
    }

    /// `variance / payee_charge · 100`, half_up to 2 decimals; `None` when the payee charge is 0.
    pub fn variance_pct(&self) -> Option<Decimal> {
        percent(self.variance(), self.payee.charge)
    }
}

/// Whether the payee's figure stands (SPEC §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// The variance is within the threshold.
    Agreed,
    /// It is not.
    Disputable,
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Status::Agreed => "agreed",
            Status::Disputable => "disputable",
        })
    }
}

/// A computed statement.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement {
    /// Lines in byte order of their names.
    pub lines: Vec<StatementLine>,
    /// Sum of the payer charges of the lines.
    pub payer_total: Decimal,
    /// Sum of the payee charges of the lines.
    pub payee_total: Decimal,
    /// The payee's total rounded to the currency's minor unit, half_up.
    pub amount_billed: Decimal,
    /// Agreed or disputable.
    pub status: Status,
    /// How many pairings ended in each outcome, in [`Outcome::ALL`] order.
    pub outcomes: [u64; 5],
}

impl Statement {
    /// `payee_total − payer_total`.
    pub fn variance_total(&self) -> Decimal {
        self.payee_total - self.payer_total
    }

    /// The variance as a percentage of the payee total, as for a line.
    pub fn variance_pct(&self) -> Option<Decimal> {
        percent(self.variance_total(), self.payee_total)
    }
}

fn percent(variance: Decimal, base: Decimal) -> Option<Decimal> {
    if base.is_zero() {
        return None;
    }
    Exact::from(variance)
        .mul(&Exact::int(100))
        .div_round(&Exact::from(base), 2, Rounding::HalfUp)
}

/// A statement that cannot be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    /// A sum left the range of 28 digits.
    #[error("the statement's charges do not fit in 28 digits")]
    Overflow,
    /// A count or a units total left the range of its integer.
    #[error("the statement's {what} total does not fit in its integer")]
    CountOverflow {
        /// `count`, `units` or `billable units`.
        what: &'static str,
    },
    /// The deal is priced in another currency than the ratesheet.
    #[error("the deal's currency {deal} differs from the ratesheet's {sheet}")]
    Currency {
        /// The deal's.
        deal: String,
        /// The sheet's.
        sheet: String,
    },
    /// A deal without an id cannot name its lines.
    #[error("the deal has no `id`; one is required here")]
    NoDealId,
}

/// Checks that a deal can be used with a sheet (SPEC §5).
pub fn check_deal(deal: &Deal, sheet: &Ratesheet) -> Result<(), StatementError> {
    if deal.currency != sheet.terms().currency {
        return Err(StatementError::Currency {
            deal: deal.currency.to_string(),
            sheet: sheet.terms().currency.to_string(),
        });
    }
    if deal.id.is_none() {
        return Err(StatementError::NoDealId);
    }
    Ok(())
}

/// `n + 1`, or the overflow of the count named `what`.
fn plus_one(n: u64, what: &'static str) -> Result<u64, StatementError> {
    n.checked_add(1)
        .ok_or(StatementError::CountOverflow { what })
}

/// One line's running sums: per side the totals and the billable units.
#[derive(Debug, Clone, Copy, Default)]
struct Acc {
    used: bool,
    payer: (SideTotals, u128),
    payee: (SideTotals, u128),
}

/// Computes the statement of matched records (SPEC §6.2, §6.3).
pub fn build_statement(
    scope: &StatementScope,
    payer: &[SideRecord],
    payee: &[SideRecord],
    pairings: &[Pairing],
    sheet: &Ratesheet,
    deal: Option<&Deal>,
    threshold_pct: Decimal,
) -> Result<Statement, StatementError> {
    let mut sums = StatementSums::new(scope, sheet, deal)?;
    sums.add(payer, payee, pairings)?;
    sums.finish(threshold_pct)
}

/// A statement summed pairing by pairing, so that a reconciliation can be computed a part at
/// a time: the parts' pairings added in any order give the statement of them all (every sum
/// is exact, and each `(a_number, b_number)` group's pairings come whole from one part).
#[derive(Debug)]
pub struct StatementSums<'a> {
    service: Service,
    sheet: &'a Ratesheet,
    deal: Option<&'a Deal>,
    /// The commitments of this payer, payee and service whose deal overlaps the period.
    commitments: Vec<usize>,
    /// One per destination of the sheet, one for the empty destination, one per commitment.
    acc: Vec<Acc>,
    outcomes: [u64; 5],
}

impl<'a> StatementSums<'a> {
    /// Nothing summed yet; refused when the deal cannot be used with the sheet.
    pub fn new(
        scope: &StatementScope,
        sheet: &'a Ratesheet,
        deal: Option<&'a Deal>,
    ) -> Result<Self, StatementError> {
        if let Some(d) = deal {
            check_deal(d, sheet)?;
        }
        let commitments: Vec<usize> = deal
            .filter(|d| d.period.overlaps(&scope.period))
            .map(|d| {
                d.commitments
                    .iter()
                    .enumerate()
                    .filter(|(_, c)| c.applies_to(scope.payer, scope.payee, scope.service))
                    .map(|(i, _)| i)
                    .collect()
            })
            .unwrap_or_default();
        let acc = vec![Acc::default(); sheet.destinations().len() + 1 + commitments.len()];
        Ok(StatementSums {
            service: scope.service,
            sheet,
            deal,
            commitments,
            acc,
            outcomes: [0; 5],
        })
    }

    /// The accumulator of the line `r` decides: its commitment, else its destination.
    fn slot(&self, r: &SideRecord) -> usize {
        let empty = self.sheet.destinations().len();
        let covering = || -> Option<usize> {
            let d = self.deal?;
            r.rated.row?;
            if !d.period.contains(r.start) {
                return None;
            }
            self.commitments
                .iter()
                .position(|&i| d.commitments[i].covers_number(&r.b_number))
        };
        match covering() {
            Some(k) => empty + 1 + k,
            None => r
                .rated
                .row
                .map_or(empty, |i| self.sheet.destination_id(i) as usize),
        }
    }

    /// Adds `pairings`, whose indices point into `payer` and `payee`.
    pub fn add(
        &mut self,
        payer: &[SideRecord],
        payee: &[SideRecord],
        pairings: &[Pairing],
    ) -> Result<(), StatementError> {
        for p in pairings {
            let k = Outcome::ALL
                .iter()
                .position(|o| *o == p.outcome)
                .unwrap_or(0);
            self.outcomes[k] = plus_one(self.outcomes[k], "outcome")?;
            let q = p.payee.map(|k| &payee[k as usize]);
            let pr = p.payer.map(|k| &payer[k as usize]);
            // The payee record decides the line of a pair; a lone record decides its own.
            let Some(decider) = q.or(pr) else { continue };
            let slot = self.slot(decider);
            let a = &mut self.acc[slot];
            a.used = true;
            for (rec, side) in [(pr, &mut a.payer), (q, &mut a.payee)] {
                if let Some(r) = rec {
                    side.0.count = plus_one(side.0.count, "count")?;
                    side.0.units = side
                        .0
                        .units
                        .checked_add(u128::from(r.units))
                        .ok_or(StatementError::CountOverflow { what: "units" })?;
                    side.0.charge = side
                        .0
                        .charge
                        .checked_add(r.rated.charge)
                        .ok_or(StatementError::Overflow)?;
                    side.1 = side.1.checked_add(u128::from(r.rated.billable)).ok_or(
                        StatementError::CountOverflow {
                            what: "billable units",
                        },
                    )?;
                }
            }
        }
        Ok(())
    }

    /// The statement of everything added.
    pub fn finish(self, threshold_pct: Decimal) -> Result<Statement, StatementError> {
        let StatementSums {
            service,
            sheet,
            deal,
            commitments,
            acc,
            outcomes,
        } = self;
        let dests = sheet.destinations();
        let empty = dests.len();
        let first_commitment = empty + 1;
        let unit = service.rate_unit();
        let currency = sheet.terms().currency;
        let mut out: Vec<StatementLine> = Vec::new();
        for (slot, a) in acc.into_iter().enumerate() {
            let (mut p, mut q) = (a.payer.0, a.payee.0);
            let destination = if slot < empty {
                dests[slot].to_string()
            } else if slot == empty {
                String::new()
            } else {
                let (d, c) = (
                    deal.ok_or(StatementError::NoDealId)?,
                    commitments[slot - first_commitment],
                );
                let commitment = &d.commitments[c];
                p.charge = commitment
                    .total(a.payer.1, unit, currency)
                    .ok_or(StatementError::Overflow)?;
                q.charge = commitment
                    .total(a.payee.1, unit, currency)
                    .ok_or(StatementError::Overflow)?;
                // Every commitment gets its line, records or not: its shortfall is owed.
                out.push(StatementLine {
                    destination: format!("deal:{}:{}", d.id.as_deref().unwrap_or_default(), c + 1),
                    payer: p,
                    payee: q,
                });
                continue;
            };
            if a.used {
                out.push(StatementLine {
                    destination,
                    payer: p,
                    payee: q,
                });
            }
        }
        out.sort_by(|a, b| a.destination.as_bytes().cmp(b.destination.as_bytes()));
        let sum = |f: fn(&StatementLine) -> Decimal| {
            out.iter()
                .try_fold(Decimal::ZERO, |acc, l| acc.checked_add(f(l)))
                .ok_or(StatementError::Overflow)
        };
        let payer_total = sum(|l| l.payer.charge)?;
        let payee_total = sum(|l| l.payee.charge)?;
        let variance = Exact::from(payee_total - payer_total);
        let abs_variance = if variance.is_negative() {
            Exact::zero().sub(&variance)
        } else {
            variance
        };
        // |variance| ≤ threshold_pct % of the payee total, compared exactly.
        let allowed = Exact::from(threshold_pct).mul(&Exact::from(payee_total));
        let status = if abs_variance
            .mul(&Exact::int(100))
            .cmp_value(&allowed)
            .is_le()
        {
            Status::Agreed
        } else {
            Status::Disputable
        };
        Ok(Statement {
            lines: out,
            payer_total,
            payee_total,
            amount_billed: to_minor_unit(payee_total, currency),
            status,
            outcomes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_are_checked() {
        assert_eq!(plus_one(41, "count"), Ok(42));
        assert_eq!(
            plus_one(u64::MAX, "count"),
            Err(StatementError::CountOverflow { what: "count" })
        );
        assert_eq!(
            StatementError::CountOverflow { what: "units" }.to_string(),
            "the statement's units total does not fit in its integer"
        );
    }
}
