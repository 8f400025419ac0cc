//! A statement computed from the stored records a range of numbers at a time, so that a peer
//! holds a bounded share of the period's records whatever its volume (issue 13's memory
//! goal).
//!
//! Each pass reads every stored batch of the direction and keeps the records of the period
//! whose `(a_number, b_number)` falls in its range. When a pass holds more than
//! [`RECORDS_PER_PASS`], its range is cut at the median of the numbers it holds: it keeps
//! the lower part and leaves the upper part to a later pass. Ranges are taken in ascending
//! order and an `(a_number, b_number)` group is never cut, so the passes' pairings are the
//! canonical pairings of the whole period, in order: their `discrepancies.csv` rows are
//! written one pass after the other and their sums added up, and the files are the same
//! bytes as from one pass over everything (`settlement::offline::reconcile`). Which ranges
//! a peer uses depends on the order it reads in and on nothing the other peer must agree
//! on: only the files are compared.

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;

use ledger::contract::{Context, ContractError};
use settlement::cdr::CdrView;
use settlement::export::DiscrepancyWriter;
use settlement::money::Currency;
use settlement::number::Number;
use settlement::ratesheet::Ratesheet;
use settlement::reconcile::{SideRecord, match_records};
use settlement::statement::{Statement, StatementScope, StatementSums};

use super::{StatementId, deal_in_force, refused, usage_of};
use crate::{agreement, ratesheet, stored};

/// The records (both sides) a pass holds before its range is cut, unless set otherwise
/// ([`set_records_per_pass`]): about 40 MB of the engine's records, with the sort keys and
/// pairings of matching them.
pub const RECORDS_PER_PASS: usize = 262_144;

static PER_PASS: AtomicUsize = AtomicUsize::new(RECORDS_PER_PASS);

/// Sets how many records a peer of this process holds at a time while it computes a
/// statement (at least 1): fewer hold less memory and read the stored batches more times.
/// Only the work changes, never a statement's bytes.
pub fn set_records_per_pass(n: usize) {
    PER_PASS.store(n.max(1), Relaxed);
}

/// Stored batches read from the world state at a time.
pub(super) const BATCHES_PER_READ: u32 = 4;

/// What a statement is ordered and grouped by.
type Key = (Number, Number);

/// The `(a_number, b_number)` keys in `[from, until)`; `None` is unbounded.
#[derive(Debug, Clone, Copy)]
struct Range {
    from: Option<Key>,
    until: Option<Key>,
}

impl Range {
    const ALL: Range = Range {
        from: None,
        until: None,
    };

    fn contains(&self, k: &Key) -> bool {
        self.from.is_none_or(|f| f <= *k) && self.until.is_none_or(|u| *k < u)
    }
}

fn key_of(r: &SideRecord) -> Key {
    (r.a_number, r.b_number)
}

/// A statement as one peer computes it from its world state.
pub(super) struct Computed {
    /// The statement.
    pub statement: Statement,
    /// `discrepancies.csv`, whole.
    pub discrepancies: Vec<u8>,
    /// The records of the period it was computed from, both sides.
    pub in_scope: u64,
    /// The sheet's decimals.
    pub decimals: u32,
    /// The sheet's currency.
    pub currency: Currency,
}

/// Reconciles the statement's direction and period from the stored records, under the
/// sheet, deal and matching rules in force.
pub(super) async fn compute(
    ctx: &mut Context<'_>,
    id: &StatementId,
) -> Result<Computed, ContractError> {
    let (payer, payee, service) = (id.payer, id.payee, id.service);
    let (from, to) = (id.period.from().clone(), id.period.to().clone());
    let terms = agreement::terms(ctx).await?;
    let rules = terms.match_rules(service);
    let threshold = terms.threshold_pct();
    let sheet = ratesheet::sheet_for(ctx, payee, payer, service)
        .await?
        .ok_or_else(|| refused(format!("{payee} has no {service} ratesheet for {payer}")))?;
    let deal = deal_in_force(
        ctx,
        payer,
        payee,
        service,
        &from,
        &to,
        sheet.terms().currency,
    )
    .await?;
    let scope = StatementScope {
        payer,
        payee,
        service,
        period: id.period.clone(),
    };
    let not_computed =
        |e: &dyn std::fmt::Display| refused(format!("cannot compute the statement: {e}"));
    let written = |e: std::io::Error| ContractError::internal(e.to_string());
    let decimals = sheet.terms().decimals;
    let mut sums =
        StatementSums::new(&scope, &sheet, deal.as_ref()).map_err(|e| not_computed(&e))?;
    let mut file = DiscrepancyWriter::new(Vec::new(), decimals).map_err(written)?;
    let mut in_scope = 0u64;
    let mut passes = Passes::new(PER_PASS.load(Relaxed));
    while let Some(mut pass) = passes.next() {
        read(ctx, &scope, &sheet, &mut pass).await?;
        let [payer_side, payee_side] = pass.into_sides();
        in_scope = in_scope
            .checked_add((payer_side.len() + payee_side.len()) as u64)
            .ok_or_else(|| refused("the statement's record count does not fit in 64 bits"))?;
        let pairings = match_records(&payer_side, &payee_side, rules);
        sums.add(&payer_side, &payee_side, &pairings)
            .map_err(|e| not_computed(&e))?;
        file.add(&payer_side, &payee_side, &pairings)
            .map_err(written)?;
    }
    Ok(Computed {
        statement: sums.finish(threshold).map_err(|e| not_computed(&e))?,
        discrepancies: file.finish().map_err(written)?,
        in_scope,
        decimals,
        currency: sheet.terms().currency,
    })
}

/// Reads every stored batch of the direction and hands `pass` the period's records it
/// wants, each rated.
async fn read(
    ctx: &mut Context<'_>,
    scope: &StatementScope,
    sheet: &Ratesheet,
    pass: &mut Pass<'_>,
) -> Result<(), ContractError> {
    let (payer, payee, service) = (scope.payer, scope.payee, scope.service);
    let (lo, hi) = (
        scope.period.from().ceil_secs(),
        scope.period.to().ceil_secs(),
    );
    stored::each_batch(ctx, (payer, payee, service), BATCHES_PER_READ, |batch| {
        // The records' text is borrowed from the stored bytes: a pass reads every record of
        // the period and keeps few.
        let side = usize::from(batch.reporter != payer);
        for r in batch
            .records
            .iter()
            .filter(|r| lo <= r.start && r.start < hi)
        {
            let usage = usage_of(r, payer, payee, service)?;
            if !pass.wants(&(usage.a_number, usage.b_number)) {
                continue;
            }
            let rated = sheet.rate(&usage).map_err(|e| refused(e.to_string()))?;
            let record = CdrView {
                record_id: &r.id,
                usage,
            };
            pass.hold(side, SideRecord::new(&record, rated));
        }
        Ok(())
    })
    .await
}

/// The ranges of numbers still to read, the lowest on top, and how many records a pass
/// may hold.
struct Passes {
    todo: Vec<Range>,
    per_pass: usize,
}

impl Passes {
    fn new(per_pass: usize) -> Self {
        Passes {
            todo: vec![Range::ALL],
            per_pass: per_pass.max(1),
        }
    }

    /// The pass over the lowest range left.
    fn next(&mut self) -> Option<Pass<'_>> {
        let range = self.todo.pop()?;
        Some(Pass {
            range,
            sides: [Vec::new(), Vec::new()],
            limit: self.per_pass,
            todo: &mut self.todo,
        })
    }
}

/// One pass: the records of its range, the payer's and the payee's, held as they are read.
struct Pass<'a> {
    range: Range,
    sides: [Vec<SideRecord>; 2],
    /// Held records past which a cut is tried. One group alone can exceed it and is then
    /// held whole; the cut is tried again once the records held have doubled.
    limit: usize,
    /// Where a cut leaves the part of the range above what it keeps.
    todo: &'a mut Vec<Range>,
}

impl Pass<'_> {
    /// Whether a record of these numbers belongs to this pass.
    fn wants(&self, k: &Key) -> bool {
        self.range.contains(k)
    }

    /// Holds a record it wants, of side 0 (the payer's) or 1; past the limit, keeps the
    /// lower part of what it holds and leaves the rest of its range to a later pass.
    fn hold(&mut self, side: usize, r: SideRecord) {
        self.sides[side].push(r);
        if self.sides[0].len() + self.sides[1].len() <= self.limit {
            return;
        }
        match cut_point(&self.sides) {
            Some(at) => {
                for s in &mut self.sides {
                    s.retain(|r| key_of(r) < at);
                }
                self.todo.push(Range {
                    from: Some(at),
                    until: self.range.until,
                });
                self.range.until = Some(at);
            }
            None => self.limit = self.limit.saturating_mul(2),
        }
    }

    fn into_sides(self) -> [Vec<SideRecord>; 2] {
        self.sides
    }
}

/// Where to cut the records held so that about half stay: the median key, or when more than
/// half share the least key, the next key after it. `None` when they are one group.
fn cut_point(sides: &[Vec<SideRecord>; 2]) -> Option<Key> {
    let mut keys: Vec<Key> = sides.iter().flatten().map(key_of).collect();
    let least = *keys.iter().min()?;
    let mid = keys.len() / 2;
    let (_, median, _) = keys.select_nth_unstable(mid);
    if *median > least {
        return Some(*median);
    }
    keys.into_iter().filter(|k| *k > least).min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use rust_decimal::Decimal;
    use settlement::export::write_discrepancies;
    use settlement::rating::Rated;
    use settlement::reconcile::{MatchRules, Outcome};
    use settlement::time::Timestamp;

    fn number(n: &str) -> Number {
        Number::parse(&format!("44{n:0>7}")).unwrap()
    }

    fn key(a: &str, b: &str) -> Key {
        (number(a), number(b))
    }

    fn rec(id: &str, a: &str, b: &str, start: i64, units: u64, rated: bool) -> SideRecord {
        SideRecord {
            record_id: id.into(),
            a_number: number(a),
            b_number: number(b),
            start: Timestamp(start),
            units,
            rated: Rated {
                row: rated.then_some(0),
                billable: units,
                charge: Decimal::new(i64::try_from(units).unwrap() * 7, 2),
            },
        }
    }

    fn at(a: &str, b: &str) -> SideRecord {
        rec("r", a, b, 0, 1, true)
    }

    #[test]
    fn a_cut_keeps_about_half_and_never_splits_a_group() {
        let sides = [
            vec![at("441", "1"), at("442", "1"), at("443", "1")],
            vec![at("441", "1"), at("444", "1")],
        ];
        // Keys 441 441 442 443 444: the median is 442, above the least.
        assert_eq!(cut_point(&sides), Some(key("442", "1")));
        // Most share the least key: cut after that group.
        let sides = [
            vec![at("441", "1"), at("441", "1"), at("441", "1")],
            vec![at("441", "1"), at("450", "2"), at("450", "1")],
        ];
        assert_eq!(cut_point(&sides), Some(key("450", "1")));
        // One group: no cut.
        let sides = [vec![at("441", "1"), at("441", "1")], vec![at("441", "1")]];
        assert_eq!(cut_point(&sides), None);
        assert_eq!(cut_point(&[Vec::new(), Vec::new()]), None);
    }

    #[test]
    fn ranges_are_half_open() {
        let r = Range {
            from: Some(key("442", "1")),
            until: Some(key("443", "1")),
        };
        assert!(!r.contains(&key("441", "9")));
        assert!(r.contains(&key("442", "1")));
        assert!(r.contains(&key("442", "99")));
        assert!(!r.contains(&key("443", "1")));
        assert!(Range::ALL.contains(&key("1", "1")));
    }

    #[test]
    fn a_group_larger_than_a_pass_is_held_whole() {
        let mut passes = Passes::new(2);
        let mut pass = passes.next().unwrap();
        for i in 0..5 {
            pass.hold(i % 2, at("441", "1"));
        }
        let [p, q] = pass.into_sides();
        assert_eq!((p.len(), q.len()), (3, 2));
        assert!(passes.next().is_none());
    }

    const RULES: MatchRules = MatchRules {
        match_window: 5,
        units_tolerance: 1,
    };

    type Row = (u8, u8, i64, u64, bool);

    fn side(tag: &str, rows: &[Row]) -> Vec<SideRecord> {
        rows.iter()
            .enumerate()
            .map(|(i, &(a, b, start, units, rated))| {
                rec(
                    &format!("{tag}{i}"),
                    &a.to_string(),
                    &b.to_string(),
                    start,
                    units,
                    rated,
                )
            })
            .collect()
    }

    /// Each pairing by its outcome and record ids.
    fn named(
        payer: &[SideRecord],
        payee: &[SideRecord],
        pairings: &[settlement::reconcile::Pairing],
    ) -> Vec<(Outcome, Option<String>, Option<String>)> {
        let id = |s: &[SideRecord], k: Option<u32>| k.map(|k| s[k as usize].record_id.to_string());
        pairings
            .iter()
            .map(|p| (p.outcome, id(payer, p.payer), id(payee, p.payee)))
            .collect()
    }

    proptest! {
        /// However small a pass and in whatever order the records are read, the passes pair
        /// the records as one pass over all of them does, in the same order, and write the
        /// same `discrepancies.csv`.
        #[test]
        fn passes_pair_and_write_as_one_pass_does(
            payer in proptest::collection::vec((0u8..3, 0u8..4, 0i64..30, 0u64..4, any::<bool>()), 0..50),
            payee in proptest::collection::vec((0u8..3, 0u8..4, 0i64..30, 0u64..4, any::<bool>()), 0..50),
            per_pass in 1usize..24,
            seed in any::<u64>(),
        ) {
            let (payer, payee) = (side("p", &payer), side("q", &payee));
            let whole = match_records(&payer, &payee, RULES);
            let expected_file = write_discrepancies(Vec::new(), &payer, &payee, &whole, 2).unwrap();
            // The order the stored batches are read in: a fixed shuffle of both sides.
            let mut order: Vec<(usize, usize)> = (0..payer.len())
                .map(|i| (0, i))
                .chain((0..payee.len()).map(|i| (1, i)))
                .collect();
            order.sort_by_key(|&(s, i)| (((s * 1000 + i) as u64) ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15));
            let mut passes = Passes::new(per_pass);
            let mut got = Vec::new();
            let mut file = DiscrepancyWriter::new(Vec::new(), 2).unwrap();
            let mut count = 0;
            while let Some(mut pass) = passes.next() {
                count += 1;
                for &(s, i) in &order {
                    let r = if s == 0 { &payer[i] } else { &payee[i] };
                    if pass.wants(&key_of(r)) {
                        pass.hold(s, r.clone());
                    }
                }
                let [p, q] = pass.into_sides();
                prop_assert!(count == 1 || !p.is_empty() || !q.is_empty(), "an empty pass after a cut");
                let pairings = match_records(&p, &q, RULES);
                got.extend(named(&p, &q, &pairings));
                file.add(&p, &q, &pairings).unwrap();
            }
            prop_assert_eq!(got, named(&payer, &payee, &whole));
            prop_assert_eq!(file.finish().unwrap(), expected_file);
        }
    }
}
