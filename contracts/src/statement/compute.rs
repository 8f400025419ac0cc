//! A statement computed from the stored records a range at a time, so that a peer holds a
//! bounded share of the period's records whatever its volume (issue 13's memory goal).
//!
//! Records are kept by bucket (`stored::Bucket`, a function of the `(a_number, b_number)`
//! group), and a pass is a range of [`Pos`]: bucket, then numbers. A pass reads the values
//! of its buckets only, bucket by bucket, and keeps the records of the period in its range;
//! batches stored before buckets are read by every pass, which keeps its share of them. When
//! a pass holds more than [`RECORDS_PER_PASS`], its range is cut: at the start of the last
//! bucket it reached when what it holds below that is at least half (so that only that
//! bucket is read again), otherwise at the median of what it holds. It keeps the lower part
//! and leaves the upper part to a later pass. A group is never cut, so each pass's pairings
//! are the canonical pairings of its groups; sums are added up, and `discrepancies.csv`'s
//! rows, each pass's a sorted run kept in a scratch file (`runs`), are merged back into
//! number order at the end, a group's rows in the order its pass wrote them: the same bytes
//! as from one pass over everything (`settlement::offline::reconcile`). Which ranges a peer
//! uses depends on the order it reads in and on nothing the other peer must agree on: only
//! the files are compared.

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;

use ledger::contract::{Context, ContractError};
use settlement::cdr::CdrView;
use settlement::money::Currency;
use settlement::number::Number;
use settlement::ratesheet::Ratesheet;
use settlement::reconcile::{SideRecord, match_records};
use settlement::statement::{Statement, StatementScope, StatementSums};

use super::runs::{Discrepancies, SPILL_AFTER, SortedRows};
use super::{StatementId, deal_in_force, refused, usage_of};
use crate::stored::{self, BUCKETS, Bucket};
use crate::usage::{StoredBatch, Text};
use crate::{agreement, ratesheet};

/// The records (both sides) a pass holds before its range is cut, unless set otherwise
/// ([`set_records_per_pass`]): about 40 MB of a peer's memory at its peak, with the sort
/// keys and pairings of matching them (about 80 MB for 262,144, measured at twenty million
/// records, where two peers computing at once took a process past 512 MB).
pub const RECORDS_PER_PASS: usize = 131_072;

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
pub(super) type Key = (Number, Number);

/// Where a record stands in the order passes take: its bucket, then its numbers. `key:
/// None` is the start of the bucket, before every record in it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Pos {
    bucket: Bucket,
    key: Option<Key>,
}

/// The positions in `[from, until)`; `None` is unbounded.
#[derive(Debug, Clone, Copy)]
struct Range {
    from: Option<Pos>,
    until: Option<Pos>,
}

impl Range {
    const ALL: Range = Range {
        from: None,
        until: None,
    };

    fn contains(&self, p: &Pos) -> bool {
        self.from.is_none_or(|f| f <= *p) && self.until.is_none_or(|u| *p < u)
    }

    /// The buckets the range has records in, `[first, end)`.
    fn buckets(&self) -> (u8, u8) {
        let first = self.from.map_or(0, |p| p.bucket.index());
        let end = self.until.map_or(BUCKETS, |u| match u.key {
            None => u.bucket.index(),
            Some(_) => u.bucket.index() + 1,
        });
        (first, end)
    }
}

fn key_of(r: &SideRecord) -> Key {
    (r.a_number, r.b_number)
}

fn pos_of(r: &SideRecord) -> Pos {
    Pos {
        bucket: Bucket::of(&r.a_number, &r.b_number),
        key: Some(key_of(r)),
    }
}

/// A statement as one peer computes it from its world state.
pub(super) struct Computed {
    /// The statement.
    pub statement: Statement,
    /// `discrepancies.csv`, a slice at a time.
    pub discrepancies: SortedRows,
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
    let mut file = Discrepancies::new(decimals, SPILL_AFTER).map_err(written)?;
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
        discrepancies: file.finish(),
        in_scope,
        decimals,
        currency: sheet.terms().currency,
    })
}

/// Reads the stored batches of the pass's range and hands `pass` the period's records it
/// wants, each rated: first every batch kept before buckets, then the pass's buckets one
/// after the other, for as long as they are still its own (a cut can end its range sooner).
async fn read(
    ctx: &mut Context<'_>,
    scope: &StatementScope,
    sheet: &Ratesheet,
    pass: &mut Pass<'_>,
) -> Result<(), ContractError> {
    let dir = (scope.payer, scope.payee, scope.service);
    stored::each_unbucketed(ctx, dir, BATCHES_PER_READ, |batch| {
        take(scope, sheet, pass, None, batch)
    })
    .await?;
    let (mut b, _) = pass.range.buckets();
    while b < pass.range.buckets().1 {
        let bucket = Bucket::new(b).ok_or_else(|| ContractError::internal("no such bucket"))?;
        stored::each_in_bucket(ctx, dir, bucket, BATCHES_PER_READ, |batch| {
            take(scope, sheet, pass, Some(bucket), batch)
        })
        .await?;
        b += 1;
    }
    Ok(())
}

/// Hands `pass` the records of `batch` (read from `bucket`, or kept before buckets) that
/// start in the period and that it wants. The records' text is borrowed from the stored
/// bytes: a pass can read many records and keep few.
fn take(
    scope: &StatementScope,
    sheet: &Ratesheet,
    pass: &mut Pass<'_>,
    bucket: Option<Bucket>,
    batch: StoredBatch<Text<'_>>,
) -> Result<(), ContractError> {
    let (payer, payee, service) = (scope.payer, scope.payee, scope.service);
    let (lo, hi) = (
        scope.period.from().ceil_secs(),
        scope.period.to().ceil_secs(),
    );
    let side = usize::from(batch.reporter != payer);
    for r in batch
        .records
        .iter()
        .filter(|r| lo <= r.start && r.start < hi)
    {
        let usage = usage_of(r, payer, payee, service)?;
        let at = Pos {
            bucket: Bucket::of(&usage.a_number, &usage.b_number),
            key: Some((usage.a_number, usage.b_number)),
        };
        if bucket.is_some_and(|b| b != at.bucket) {
            return Err(ContractError::corrupt(
                crate::keys::bucketed(
                    (payer.as_str(), payee.as_str(), service.as_str()),
                    bucket.map_or(0, Bucket::index),
                    batch.reporter.as_str(),
                    "*",
                ),
                format!("stored record {} is not of this bucket", &*r.id),
            ));
        }
        if !pass.wants(&at) {
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
}

/// The ranges still to read, the lowest on top, and how many records a pass may hold.
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
    /// Whether a record at this position belongs to this pass.
    fn wants(&self, p: &Pos) -> bool {
        self.range.contains(p)
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
                    s.retain(|r| pos_of(r) < at);
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

/// Where to cut the records held. Read bucket by bucket, a pass is best cut at the start of
/// the last bucket it holds records of, when at least half of what it holds is below it:
/// only that bucket is read again. Otherwise about half stay: the median position, or when
/// more than half share the least, the next position after it. `None` when they are one
/// group.
fn cut_point(sides: &[Vec<SideRecord>; 2]) -> Option<Pos> {
    let mut at: Vec<Pos> = sides.iter().flatten().map(pos_of).collect();
    let last = at.iter().map(|p| p.bucket).max()?;
    let below = at.iter().filter(|p| p.bucket < last).count();
    if below > 0 && below * 2 >= at.len() {
        return Some(Pos {
            bucket: last,
            key: None,
        });
    }
    let least = *at.iter().min()?;
    let mid = at.len() / 2;
    let (_, median, _) = at.select_nth_unstable(mid);
    if *median > least {
        return Some(*median);
    }
    at.into_iter().filter(|p| *p > least).min()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys;
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

    /// Numbers `44000000n` for `n` in `0..`, with their group's bucket.
    fn in_bucket(b: u8, count: usize) -> Vec<SideRecord> {
        (0..100_000)
            .map(|n| at(&n.to_string(), "1"))
            .filter(|r| pos_of(r).bucket.index() == b)
            .take(count)
            .collect()
    }

    #[test]
    fn a_cut_is_at_the_last_bucket_when_half_is_below_it() {
        let (low, high) = (in_bucket(3, 3), in_bucket(7, 3));
        let bucket = |b| Bucket::new(b).unwrap();
        // Three below bucket 7 and one in it: cut where bucket 7 starts.
        let sides = [low.clone(), vec![high[0].clone()]];
        let cut = cut_point(&sides);
        assert_eq!(
            cut,
            Some(Pos {
                bucket: bucket(7),
                key: None
            })
        );
        // One below and three in it: about half stay, at the median.
        let sides = [vec![low[0].clone()], high.clone()];
        let median = cut_point(&sides).unwrap();
        assert_eq!(median.bucket, bucket(7));
        assert!(median.key.is_some());
        let kept = sides
            .iter()
            .flatten()
            .filter(|r| pos_of(r) < median)
            .count();
        assert_eq!(kept, 2);
        // Most share the least position: cut after that group.
        let sides = [
            vec![low[0].clone(), low[0].clone()],
            vec![low[0].clone(), low[1].clone()],
        ];
        let after = cut_point(&sides).unwrap();
        assert!(pos_of(&low[0]) < after && after <= pos_of(&low[1]));
        // One group: no cut.
        let sides = [vec![low[0].clone(), low[0].clone()], vec![low[0].clone()]];
        assert_eq!(cut_point(&sides), None);
        assert_eq!(cut_point(&[Vec::new(), Vec::new()]), None);
    }

    #[test]
    fn ranges_are_half_open_and_name_their_buckets() {
        let bucket = |b| Bucket::new(b).unwrap();
        let pos = |b, a: &str| Pos {
            bucket: bucket(b),
            key: Some(key(a, "1")),
        };
        let r = Range {
            from: Some(pos(2, "442")),
            until: Some(Pos {
                bucket: bucket(5),
                key: None,
            }),
        };
        assert!(!r.contains(&pos(2, "441")));
        assert!(r.contains(&pos(2, "442")));
        assert!(r.contains(&pos(4, "1")));
        assert!(!r.contains(&pos(5, "1")));
        assert_eq!(r.buckets(), (2, 5));
        let r = Range {
            from: None,
            until: Some(pos(5, "443")),
        };
        assert!(r.contains(&pos(5, "442")));
        assert!(!r.contains(&pos(5, "443")));
        assert_eq!(r.buckets(), (0, 6));
        assert!(Range::ALL.contains(&pos(31, "1")));
        assert_eq!(Range::ALL.buckets(), (0, BUCKETS));
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

    /// The world state and the scope of the read tests: alpha's batch of `rows` submitted
    /// through `usage.submit` (kept by bucket) and committed, with `before` committed as a
    /// batch kept before buckets.
    mod read {
        use super::*;
        use crate::usage::{StoredBatch, StoredRecord, SubmitBatch, submit};
        use ledger::contract::Creator;
        use ledger::identity::Role;
        use ledger::proto::Version;
        use ledger::state::{BlockUpdate, SqliteState, StateWrite, WorldState};
        use settlement::carrier::CarrierId;
        use settlement::money::Rounding;
        use settlement::period::Period;
        use settlement::ratesheet::SheetTerms;
        use settlement::service::Service;

        fn carrier(s: &str) -> CarrierId {
            CarrierId::parse(s).unwrap()
        }

        fn alpha() -> Creator {
            Creator {
                msp_id: "alpha".into(),
                role: Role::Client,
                name: "client".into(),
            }
        }

        fn csv(ids: std::ops::Range<u32>) -> String {
            let mut csv = String::from(
                "record_id,service,orig_carrier,term_carrier,a_number,b_number,start_time,units\n",
            );
            for i in ids {
                csv.push_str(&format!(
                    "A{i},voice,alpha,beta,4412{:05},49301{:03},2026-10-01T10:{:02}:00Z,61\n",
                    i % 17,
                    i % 5,
                    i % 60
                ));
            }
            csv
        }

        async fn commit(state: &SqliteState, block: u64, writes: Vec<(String, Vec<u8>)>) {
            let writes = writes
                .into_iter()
                .map(|(key, value)| StateWrite {
                    namespace: crate::CLEARING.into(),
                    key,
                    value: Some(value),
                    version: Version {
                        block_num: block,
                        tx_num: 0,
                    },
                })
                .collect();
            state
                .commit(&BlockUpdate {
                    block_num: block,
                    writes,
                    claims: Vec::new(),
                })
                .await
                .unwrap();
        }

        /// A state with 60 of alpha's records kept by bucket and 20 kept before buckets.
        async fn state() -> SqliteState {
            let state = SqliteState::in_memory().await.unwrap();
            let mut ctx = Context::new(crate::CLEARING, &state, alpha(), 0, "tx1")
                .with_members(vec!["alpha".into(), "beta".into()]);
            let req = SubmitBatch {
                counterparty: carrier("beta"),
                csv: csv(0..60).into_bytes(),
                stream: None,
            };
            assert_eq!(submit(&mut ctx, req).await.unwrap().accepted, 60);
            let ns = ctx.into_results().0.ns_rwsets.remove(0);
            let writes: Vec<_> = ns
                .writes
                .into_iter()
                .filter(|w| !w.is_delete)
                .map(|w| (w.key, w.value))
                .collect();
            let bucketed = keys::bucketed_range(("alpha", "beta", "voice"), 0, BUCKETS);
            assert!(
                writes
                    .iter()
                    .filter(|(k, _)| (&bucketed.0..&bucketed.1).contains(&k))
                    .count()
                    > 4,
                "the batch is kept in several buckets"
            );
            assert!(!writes.iter().any(|(k, _)| {
                k.starts_with(&keys::records("alpha", "beta", "voice", "", "")[..20])
            }));
            let before: StoredBatch = StoredBatch {
                reporter: carrier("alpha"),
                records: (60..80)
                    .map(|i| {
                        let a = format!("4412{:05}", i % 17);
                        let b = format!("49301{:03}", i % 5);
                        StoredRecord {
                            id: format!("A{i}"),
                            a,
                            b,
                            start: 1_790_848_800 + i64::from(i),
                            units: 61,
                        }
                    })
                    .collect(),
            };
            commit(&state, 0, writes).await;
            commit(
                &state,
                1,
                vec![(
                    keys::records("alpha", "beta", "voice", "alpha", "tx0"),
                    before.to_stored().unwrap(),
                )],
            )
            .await;
            state
        }

        fn scope() -> StatementScope {
            StatementScope {
                payer: carrier("alpha"),
                payee: carrier("beta"),
                service: Service::Voice,
                period: Period::parse("2026-10-01", "2026-11-01").unwrap(),
            }
        }

        fn sheet() -> Ratesheet {
            let terms = SheetTerms::new(
                Service::Voice,
                Currency::parse("EUR").unwrap(),
                4,
                Rounding::HalfUp,
            )
            .unwrap();
            let csv = "prefix,destination,rate,effective_from,effective_to,first_increment,next_increment,connect_fee\n49,Germany,0.0100,2026-01-01,,60,60,\n";
            Ratesheet::read(csv.as_bytes(), terms).unwrap()
        }

        /// Every record of the period, by bucket and before buckets, is held by exactly one
        /// pass, whatever a pass may hold.
        #[tokio::test]
        async fn every_record_is_read_by_exactly_one_pass() {
            let state = state().await;
            let (scope, sheet) = (scope(), sheet());
            for per_pass in [1, 7, 30, 1000] {
                let mut ctx = Context::new(crate::CLEARING, &state, alpha(), 0, "tx2");
                let mut passes = Passes::new(per_pass);
                let mut held: Vec<String> = Vec::new();
                let mut count = 0;
                while let Some(mut pass) = passes.next() {
                    read(&mut ctx, &scope, &sheet, &mut pass).await.unwrap();
                    let [p, q] = pass.into_sides();
                    assert!(q.is_empty());
                    held.extend(p.iter().map(|r| r.record_id.to_string()));
                    count += 1;
                }
                held.sort();
                let mut all: Vec<String> = (0..80).map(|i| format!("A{i}")).collect();
                all.sort();
                assert_eq!(held, all, "{per_pass} a pass");
                assert!(
                    count > 1 || per_pass == 1000,
                    "{per_pass} a pass: {count} passes"
                );
            }
        }

        /// A record kept in a bucket that is not its own is corrupt state, not a record to
        /// reconcile elsewhere or to skip.
        #[tokio::test]
        async fn a_record_in_another_bucket_is_corrupt() {
            let state = state().await;
            let number = |a: &str, b: &str| {
                Bucket::of(&Number::parse(a).unwrap(), &Number::parse(b).unwrap())
            };
            let (a, b) = ("441299999", "493019999");
            let wrong = (number(a, b).index() + 1) % BUCKETS;
            let stray: StoredBatch = StoredBatch {
                reporter: carrier("alpha"),
                records: vec![StoredRecord {
                    id: "S1".into(),
                    a: a.into(),
                    b: b.into(),
                    start: 1_790_848_800,
                    units: 1,
                }],
            };
            commit(
                &state,
                2,
                vec![(
                    keys::bucketed(("alpha", "beta", "voice"), wrong, "alpha", "tx9"),
                    stray.to_stored().unwrap(),
                )],
            )
            .await;
            let mut ctx = Context::new(crate::CLEARING, &state, alpha(), 0, "tx2");
            let mut passes = Passes::new(1000);
            let mut pass = passes.next().unwrap();
            let err = read(&mut ctx, &scope(), &sheet(), &mut pass)
                .await
                .unwrap_err();
            assert!(matches!(err, ContractError::Corrupt { .. }), "{err}");
            assert!(err.to_string().contains("S1"), "{err}");
        }
    }

    proptest! {
        /// However small a pass, whichever records were kept before buckets and in whatever
        /// order the records are read, the passes pair the records as one pass over all of
        /// them does, and write the same `discrepancies.csv`.
        #[test]
        fn passes_pair_and_write_as_one_pass_does(
            payer in proptest::collection::vec((0u8..6, 0u8..4, 0i64..30, 0u64..4, any::<bool>()), 0..60),
            payee in proptest::collection::vec((0u8..6, 0u8..4, 0i64..30, 0u64..4, any::<bool>()), 0..60),
            per_pass in 1usize..24,
            seed in any::<u64>(),
            in_a_file in any::<bool>(),
        ) {
            let (payer, payee) = (side("p", &payer), side("q", &payee));
            let whole = match_records(&payer, &payee, RULES);
            let expected_file = write_discrepancies(Vec::new(), &payer, &payee, &whole, 2).unwrap();
            // The order the stored batches are read in: a fixed shuffle of both sides, and
            // about a third kept before buckets (read by every pass, first).
            let mix = |s: usize, i: usize| (((s * 1000 + i) as u64) ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut order: Vec<(usize, usize)> = (0..payer.len())
                .map(|i| (0, i))
                .chain((0..payee.len()).map(|i| (1, i)))
                .collect();
            order.sort_by_key(|&(s, i)| mix(s, i));
            let record = |(s, i): (usize, usize)| if s == 0 { &payer[i] } else { &payee[i] };
            let unbucketed = |(s, i): (usize, usize)| mix(s, i) % 3 == 0;
            let mut passes = Passes::new(per_pass);
            let mut got = Vec::new();
            let mut file = Discrepancies::new(2, if in_a_file { 0 } else { SPILL_AFTER }).unwrap();
            let mut count = 0;
            while let Some(mut pass) = passes.next() {
                count += 1;
                let offer = |pass: &mut Pass<'_>, at: (usize, usize)| {
                    let r = record(at);
                    if pass.wants(&pos_of(r)) {
                        pass.hold(at.0, r.clone());
                    }
                };
                for &at in order.iter().filter(|&&at| unbucketed(at)) {
                    offer(&mut pass, at);
                }
                let (mut b, _) = pass.range.buckets();
                while b < pass.range.buckets().1 {
                    for &at in order.iter().filter(|&&at| !unbucketed(at)) {
                        if pos_of(record(at)).bucket.index() == b {
                            offer(&mut pass, at);
                        }
                    }
                    b += 1;
                }
                let [p, q] = pass.into_sides();
                prop_assert!(count == 1 || !p.is_empty() || !q.is_empty(), "an empty pass after a cut");
                let pairings = match_records(&p, &q, RULES);
                for (pairing, named) in pairings.iter().zip(named(&p, &q, &pairings)) {
                    let r = pairing.payee.map(|k| &q[k as usize]).or(pairing.payer.map(|k| &p[k as usize]));
                    got.push((key_of(r.unwrap()), named));
                }
                file.add(&p, &q, &pairings).unwrap();
            }
            // Passes go by bucket, not by number: put the pairings in number order, each
            // group's as its pass made them.
            got.sort_by_key(|(k, _)| *k);
            let got: Vec<_> = got.into_iter().map(|(_, n)| n).collect();
            prop_assert_eq!(got, named(&payer, &payee, &whole));
            prop_assert_eq!(file.finish().into_vec(), expected_file);
        }
    }
}
