//! A statement computed from the stored records a bucket at a time, so that a peer holds a
//! bounded share of the period's records whatever its volume and reads each stored record
//! once (issue 13's memory goal).
//!
//! Records are kept by bucket (`stored::Bucket`, a function of the `(a_number, b_number)`
//! group): every batch kept before buckets is read first, then the buckets one after the
//! other, and each record of the period is rated and held (`held`). Whole groups are handed
//! on as passes of about [`RECORDS_PER_PASS`] records; a bucket larger than that is sorted
//! by its numbers through a scratch file and cut between groups. A group is never split, so
//! each pass's pairings are the canonical pairings of its groups; sums are added up, and
//! `discrepancies.csv`'s rows, each pass's a sorted run kept in a scratch file (`runs`), are
//! merged back into number order at the end, a group's rows in the order its pass wrote
//! them: the same bytes as from one pass over everything (`settlement::offline::reconcile`).
//! Which passes a peer makes depends on the order it reads in and on nothing the other peer
//! must agree on: only the files are compared.

use std::sync::atomic::AtomicUsize;
use std::sync::atomic::Ordering::Relaxed;

use ledger::contract::{Context, ContractError};
use settlement::carrier::CarrierId;
use settlement::cdr::CdrView;
use settlement::money::Currency;
use settlement::number::Number;
use settlement::ratesheet::Ratesheet;
use settlement::reconcile::{SideRecord, match_records};
use settlement::statement::{Statement, StatementScope, StatementSums};

use super::held::{Held, Sides};
use super::runs::{Discrepancies, SPILL_AFTER, SortedRows};
use super::{StatementId, deal_in_force, refused, usage_of};
use crate::stored::{self, BUCKETS, Bucket, RecordRef};
use crate::{agreement, ratesheet};

/// The records (both sides) a pass holds, unless set otherwise ([`set_records_per_pass`]):
/// about 40 MB of a peer's memory at its peak, with the sort keys and pairings of matching
/// them (about 80 MB for 262,144, measured at twenty million records, where two peers
/// computing at once took a process past 512 MB). A bucket of more records is sorted
/// through a scratch file.
pub const RECORDS_PER_PASS: usize = 131_072;

static PER_PASS: AtomicUsize = AtomicUsize::new(RECORDS_PER_PASS);

/// Sets how many records a peer of this process holds at a time while it computes a
/// statement (at least 1): fewer hold less memory and sort more of them through the scratch
/// file. Only the work changes, never a statement's bytes.
pub fn set_records_per_pass(n: usize) {
    PER_PASS.store(n.max(1), Relaxed);
}

/// Stored batches read from the world state at a time.
pub(super) const BATCHES_PER_READ: u32 = 4;

/// Bytes of a bucket's stored values read from the world state at a time. A batch's share
/// of a bucket is about a thirty-second of the batch (some 12 KB for 10,000 records, 48 KB
/// for the default 40,000), so reading them a few at a time cost a round trip to the
/// state's thread every few dozen KB: 1,600 a peer at a million records each side with
/// 10,000 a batch, about a twentieth of the statement's CPU (BENCHMARKS.md, session
/// fifty-six). Two peers computing at once hold two such reads.
const BUCKET_BYTES_PER_READ: usize = 1 << 20;

/// What a statement is ordered and grouped by.
pub(super) type Key = (Number, Number);

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
    // Records sorted away are a period larger than a pass: they go straight to a file,
    // whose pages the kernel may drop, rather than to memory first.
    let mut held = Held::new(PER_PASS.load(Relaxed), 0);
    let mut reconcile = |[payer_side, payee_side]: &Sides| {
        in_scope = in_scope
            .checked_add((payer_side.len() + payee_side.len()) as u64)
            .ok_or_else(|| refused("the statement's record count does not fit in 64 bits"))?;
        let pairings = match_records(payer_side, payee_side, rules);
        sums.add(payer_side, payee_side, &pairings)
            .map_err(|e| not_computed(&e))?;
        file.add(payer_side, payee_side, &pairings).map_err(written)
    };
    read(ctx, &scope, &sheet, &mut held, &mut reconcile).await?;
    Ok(Computed {
        statement: sums.finish(threshold).map_err(|e| not_computed(&e))?,
        discrepancies: file.finish(),
        in_scope,
        decimals,
        currency: sheet.terms().currency,
    })
}

/// Reads the stored batches of the statement's direction, first every batch kept before
/// buckets and then bucket by bucket, holds the period's records, each rated, and hands
/// `pass` every one of them, as passes of whole groups.
async fn read(
    ctx: &mut Context<'_>,
    scope: &StatementScope,
    sheet: &Ratesheet,
    held: &mut Held,
    pass: &mut impl FnMut(&Sides) -> Result<(), ContractError>,
) -> Result<(), ContractError> {
    let dir = (scope.payer, scope.payee, scope.service);
    let mut take = Take::new(scope, sheet);
    stored::records_unbucketed(ctx, dir, BATCHES_PER_READ, |reporter, r| {
        take.record(held, None, reporter, r)
    })
    .await?;
    for b in 0..BUCKETS {
        let bucket = Bucket::new(b).ok_or_else(|| ContractError::internal("no such bucket"))?;
        take.taken = 0;
        stored::records_in_bucket(ctx, dir, bucket, BUCKET_BYTES_PER_READ, |reporter, r| {
            take.record(held, Some(bucket), reporter, r)
        })
        .await?;
        held.bucket_read(take.taken, &mut *pass)?;
    }
    held.finish(pass)
}

/// Holds the stored records that start in the statement's period, each rated, and counts
/// them. The records' text is borrowed from the stored bytes.
struct Take<'s> {
    scope: &'s StatementScope,
    sheet: &'s Ratesheet,
    /// The period's bounds, UTC seconds: `[lo, hi)`.
    lo: i64,
    hi: i64,
    /// The records held since it was last set.
    taken: usize,
}

impl<'s> Take<'s> {
    fn new(scope: &'s StatementScope, sheet: &'s Ratesheet) -> Self {
        Take {
            scope,
            sheet,
            lo: scope.period.from().ceil_secs(),
            hi: scope.period.to().ceil_secs(),
            taken: 0,
        }
    }

    /// Holds `r`, `reporter`'s record read from `bucket` (or kept before buckets), if it
    /// starts in the period.
    fn record(
        &mut self,
        held: &mut Held,
        bucket: Option<Bucket>,
        reporter: CarrierId,
        r: RecordRef<'_>,
    ) -> Result<(), ContractError> {
        if !(self.lo <= r.start && r.start < self.hi) {
            return Ok(());
        }
        let (payer, payee, service) = (self.scope.payer, self.scope.payee, self.scope.service);
        let usage = usage_of(&r, payer, payee, service)?;
        if let Some(bucket) = bucket
            && bucket != Bucket::of(&usage.a_number, &usage.b_number)
        {
            return Err(ContractError::corrupt(
                crate::keys::bucketed(
                    (payer.as_str(), payee.as_str(), service.as_str()),
                    bucket.index(),
                    reporter.as_str(),
                    "*",
                ),
                format!("stored record {} is not of this bucket", r.id),
            ));
        }
        let rated = self
            .sheet
            .rate(&usage)
            .map_err(|e| refused(e.to_string()))?;
        let record = CdrView {
            record_id: r.id,
            usage,
        };
        let side = usize::from(reporter != payer);
        held.push(side, SideRecord::new(&record, rated), bucket.is_some())?;
        self.taken += 1;
        Ok(())
    }
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

    fn key_of(r: &SideRecord) -> Key {
        (r.a_number, r.b_number)
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
                    claim_runs: Vec::new(),
                })
                .await
                .unwrap();
        }

        /// A state with 60 of alpha's records kept by bucket and, `with_before`, 20 kept
        /// before buckets.
        async fn state(with_before: bool) -> SqliteState {
            let state = SqliteState::in_memory().await.unwrap();
            let mut ctx = Context::new(crate::CLEARING, &state, alpha(), 0, "tx1")
                .with_members(vec!["alpha".into(), "beta".into()]);
            let req = SubmitBatch {
                counterparty: carrier("beta"),
                rows: csv(0..60).into_bytes(),
                stream: None,
            };
            let sheets = crate::parsed::ParsedSheets::default();
            assert_eq!(submit(&mut ctx, req, &sheets).await.unwrap().accepted, 60);
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
            if !with_before {
                return state;
            }
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

        /// Every record of the period, by bucket and before buckets, is in exactly one pass,
        /// and every group in one pass, whatever a pass may hold and wherever the records
        /// sorted away are kept.
        #[tokio::test]
        async fn every_record_is_in_exactly_one_pass_and_every_group_whole() {
            for before in [false, true] {
                let state = state(before).await;
                let (scope, sheet) = (scope(), sheet());
                let records = if before { 80 } else { 60 };
                for (per_pass, spill_after) in
                    [(1, 0), (7, 0), (7, SPILL_AFTER), (30, 0), (1000, 0)]
                {
                    let mut ctx = Context::new(crate::CLEARING, &state, alpha(), 0, "tx2");
                    let mut held = Held::new(per_pass, spill_after);
                    let mut ids: Vec<String> = Vec::new();
                    let mut groups: Vec<(Key, usize)> = Vec::new();
                    let mut count = 0;
                    let mut pass = |[p, q]: &Sides| {
                        assert!(q.is_empty());
                        assert!(!p.is_empty(), "an empty pass");
                        ids.extend(p.iter().map(|r| r.record_id.to_string()));
                        groups.extend(p.iter().map(|r| (key_of(r), count)));
                        count += 1;
                        Ok(())
                    };
                    read(&mut ctx, &scope, &sheet, &mut held, &mut pass)
                        .await
                        .unwrap();
                    let what =
                        format!("{per_pass} a pass, {spill_after}, before buckets: {before}");
                    ids.sort();
                    let mut all: Vec<String> = (0..records).map(|i| format!("A{i}")).collect();
                    all.sort();
                    assert_eq!(ids, all, "{what}");
                    groups.sort();
                    groups.dedup();
                    assert!(
                        groups.windows(2).all(|w| w[0].0 != w[1].0),
                        "a group split: {what}"
                    );
                    assert!(count > 1 || per_pass == 1000, "{what}: {count} passes");
                }
            }
        }

        /// The error of reading `state` for the statement, which must be corrupt state.
        async fn corrupt(state: &SqliteState) -> ContractError {
            let mut ctx = Context::new(crate::CLEARING, state, alpha(), 0, "tx2");
            let mut held = Held::new(1000, SPILL_AFTER);
            let err = read(&mut ctx, &scope(), &sheet(), &mut held, &mut |_| Ok(()))
                .await
                .unwrap_err();
            assert!(matches!(err, ContractError::Corrupt { .. }), "{err}");
            err
        }

        /// A record kept in a bucket that is not its own is corrupt state, not a record to
        /// reconcile elsewhere or to skip.
        #[tokio::test]
        async fn a_record_in_another_bucket_is_corrupt() {
            let state = state(true).await;
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
            let err = corrupt(&state).await;
            assert!(err.to_string().contains("S1"), "{err}");
        }

        /// A stored value read in place that does not decode, or whose record's number is
        /// not digits, is corrupt state: the statement stops, naming the value's key or the
        /// record, and never reconciles without it.
        #[tokio::test]
        async fn a_stored_value_that_does_not_read_is_corrupt() {
            let stray = |a: &str| StoredBatch::<String> {
                reporter: carrier("alpha"),
                records: vec![StoredRecord {
                    id: "S2".into(),
                    a: a.into(),
                    b: "493019999".into(),
                    start: 1_790_848_800,
                    units: 1,
                }],
            };
            let key = keys::bucketed(("alpha", "beta", "voice"), 3, "alpha", "tx9");
            let mut torn = stray("441299999").to_stored().unwrap();
            torn.pop();
            let not_digits = stray("4412x9999").to_stored().unwrap();
            let mut not_text = not_digits.clone();
            let x = not_text.iter().position(|&c| c == b'x').unwrap();
            not_text[x] = 0xff;
            for (value, names) in [
                (torn, "tx9\\0\": the value does not decode"),
                (not_digits, "S2 has a bad number"),
                (not_text, "S2 has a bad number"),
            ] {
                let state = state(false).await;
                commit(&state, 1, vec![(key.clone(), value)]).await;
                let err = corrupt(&state).await;
                assert!(err.to_string().contains(names), "{err}");
            }
        }
    }

    proptest! {
        /// However small a pass, whichever records were kept before buckets, in whatever
        /// order the records are read and wherever those sorted away are kept, the passes
        /// pair the records as one pass over all of them does, and write the same
        /// `discrepancies.csv`.
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
            // for half the seeds about a third kept before buckets (read first).
            let mix = |s: usize, i: usize| (((s * 1000 + i) as u64) ^ seed).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            let mut order: Vec<(usize, usize)> = (0..payer.len())
                .map(|i| (0, i))
                .chain((0..payee.len()).map(|i| (1, i)))
                .collect();
            order.sort_by_key(|&(s, i)| mix(s, i));
            let record = |(s, i): (usize, usize)| if s == 0 { &payer[i] } else { &payee[i] };
            let unbucketed = |(s, i): (usize, usize)| seed % 2 == 0 && mix(s, i) % 3 == 0;
            let bucket_of = |r: &SideRecord| Bucket::of(&r.a_number, &r.b_number).index();
            let mut held = Held::new(per_pass, if in_a_file { 0 } else { SPILL_AFTER });
            let mut got = Vec::new();
            let mut file = Discrepancies::new(2, if in_a_file { 0 } else { SPILL_AFTER }).unwrap();
            let mut empty = false;
            let mut pass = |[p, q]: &Sides| {
                empty |= p.is_empty() && q.is_empty();
                let pairings = match_records(p, q, RULES);
                for (pairing, named) in pairings.iter().zip(named(p, q, &pairings)) {
                    let r = pairing.payee.map(|k| &q[k as usize]).or(pairing.payer.map(|k| &p[k as usize]));
                    got.push((key_of(r.unwrap()), named));
                }
                file.add(p, q, &pairings).unwrap();
                Ok(())
            };
            for &at in order.iter().filter(|&&at| unbucketed(at)) {
                held.push(at.0, record(at).clone(), false).unwrap();
            }
            for b in 0..BUCKETS {
                let mut read = 0;
                for &at in order.iter().filter(|&&at| !unbucketed(at)) {
                    if bucket_of(record(at)) == b {
                        held.push(at.0, record(at).clone(), true).unwrap();
                        read += 1;
                    }
                }
                held.bucket_read(read, &mut pass).unwrap();
            }
            held.finish(&mut pass).unwrap();
            prop_assert!(!empty, "an empty pass");
            // Passes go by bucket, not by number: put the pairings in number order, each
            // group's as its pass made them.
            got.sort_by_key(|(k, _)| *k);
            let got: Vec<_> = got.into_iter().map(|(_, n)| n).collect();
            prop_assert_eq!(got, named(&payer, &payee, &whole));
            prop_assert_eq!(file.finish().into_vec(), expected_file);
        }
    }
}
