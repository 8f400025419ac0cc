//! Matching the payer's records to the payee's (SPEC §6.1).

use std::cmp::Ordering;
use std::fmt;

use smol_str::SmolStr;

use crate::cdr::CdrView;
use crate::number::Number;
use crate::rating::Rated;
use crate::time::Timestamp;

/// A record of one side of a statement, with its rating. Service and carriers are the
/// statement's own, so they are not kept: millions of these are held at once.
#[derive(Debug, Clone)]
pub struct SideRecord {
    /// The reporting carrier's id of the record: inline up to 23 bytes, so that the
    /// millions of a period's records take no allocation of their own for it.
    pub record_id: SmolStr,
    /// Calling party.
    pub a_number: Number,
    /// Called party.
    pub b_number: Number,
    /// Start, whole UTC seconds.
    pub start: Timestamp,
    /// Units in the service's own units.
    pub units: u64,
    /// Its rating with the statement's ratesheet.
    pub rated: Rated,
}

impl SideRecord {
    /// Keeps what a statement needs of an in-scope record.
    pub fn new(cdr: &CdrView<'_>, rated: Rated) -> SideRecord {
        SideRecord {
            record_id: SmolStr::new(cdr.record_id),
            a_number: cdr.usage.a_number,
            b_number: cdr.usage.b_number,
            start: cdr.usage.start,
            units: cdr.usage.units,
            rated,
        }
    }
}

/// What became of a record or a pair (SPEC §6.1), in the order the table is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Outcome {
    /// A pair within the units tolerance.
    Matched,
    /// A pair whose units differ by more.
    UnitsMismatch,
    /// A payee record with no partner.
    MissingAtPayer,
    /// A payer record with no partner.
    MissingAtPayee,
    /// Nothing to bill: an unrated payee record, or an unrated payer record alone.
    NoRate,
}

impl Outcome {
    /// Every outcome, in the order `summary.json` lists them.
    pub const ALL: [Outcome; 5] = [
        Outcome::Matched,
        Outcome::UnitsMismatch,
        Outcome::MissingAtPayer,
        Outcome::MissingAtPayee,
        Outcome::NoRate,
    ];

    /// The outcome as written in exports.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Matched => "matched",
            Outcome::UnitsMismatch => "units_mismatch",
            Outcome::MissingAtPayer => "missing_at_payer",
            Outcome::MissingAtPayee => "missing_at_payee",
            Outcome::NoRate => "no_rate",
        }
    }
}

impl fmt::Display for Outcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A pair or a lone record with its outcome; sides are indices into the inputs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pairing {
    /// The outcome.
    pub outcome: Outcome,
    /// Index of the payer record, if any.
    pub payer: Option<u32>,
    /// Index of the payee record, if any.
    pub payee: Option<u32>,
}

/// The matching parameters of SPEC §6.1.
#[derive(Debug, Clone, Copy)]
pub struct MatchRules {
    /// Largest start-time difference of a pair, in seconds, inclusive.
    pub match_window: u64,
    /// Largest units difference of a `matched` pair.
    pub units_tolerance: u64,
}

/// Indices of a side in `(a_number, b_number, start_time, record_id)` order.
///
/// Sorts a contiguous array of keys rather than chasing indices into the records: the
/// sides hold millions.
fn sorted(side: &[SideRecord]) -> Vec<u32> {
    let mut keys: Vec<(Number, Number, i64, u32)> = side
        .iter()
        .enumerate()
        .map(|(i, r)| (r.a_number, r.b_number, r.start.0, i as u32))
        .collect();
    keys.sort_unstable_by(|x, y| {
        (x.0, x.1, x.2).cmp(&(y.0, y.1, y.2)).then_with(|| {
            side[x.3 as usize]
                .record_id
                .as_bytes()
                .cmp(side[y.3 as usize].record_id.as_bytes())
        })
    });
    keys.into_iter().map(|k| k.3).collect()
}

fn group_of(r: &SideRecord) -> (Number, Number) {
    (r.a_number, r.b_number)
}

/// Where the group that starts at `start` ends (groups are short: scan).
fn group_end(ix: &[u32], side: &[SideRecord], start: usize) -> usize {
    let g = group_of(&side[ix[start] as usize]);
    start
        + ix[start..]
            .iter()
            .take_while(|&&k| group_of(&side[k as usize]) == g)
            .count()
}

/// Matches every record of the period; each ends in exactly one pairing. The pairings come
/// in a canonical order — by numbers, then start time and record ids — whatever the order
/// of the inputs.
pub fn match_records(
    payer: &[SideRecord],
    payee: &[SideRecord],
    rules: MatchRules,
) -> Vec<Pairing> {
    let (p_ix, q_ix) = (sorted(payer), sorted(payee));
    let mut out = Vec::with_capacity(payer.len().max(payee.len()) + payer.len() / 16);
    let (mut i, mut j) = (0, 0);
    while i < p_ix.len() || j < q_ix.len() {
        let cmp = match (p_ix.get(i), q_ix.get(j)) {
            (Some(&p), Some(&q)) => group_of(&payer[p as usize]).cmp(&group_of(&payee[q as usize])),
            (Some(_), None) => Ordering::Less,
            _ => Ordering::Greater,
        };
        let (pe, qe) = match cmp {
            Ordering::Less => (group_end(&p_ix, payer, i), j),
            Ordering::Greater => (i, group_end(&q_ix, payee, j)),
            Ordering::Equal => (group_end(&p_ix, payer, i), group_end(&q_ix, payee, j)),
        };
        match_group(payer, &p_ix[i..pe], payee, &q_ix[j..qe], rules, &mut out);
        (i, j) = (pe, qe);
    }
    out
}

/// One `(a_number, b_number)` group; both sides already in `(start_time, record_id)` order.
fn match_group(
    payer: &[SideRecord],
    ps: &[u32],
    payee: &[SideRecord],
    qs: &[u32],
    rules: MatchRules,
    out: &mut Vec<Pairing>,
) {
    let window = i64::try_from(rules.match_window).unwrap_or(i64::MAX);
    let mut taken = vec![false; ps.len()];
    let mut partner: Vec<Option<usize>> = vec![None; qs.len()];
    for (qk, &q) in qs.iter().enumerate() {
        let rec = &payee[q as usize];
        let lo =
            ps.partition_point(|&p| payer[p as usize].start.0 < rec.start.0.saturating_sub(window));
        let mut best: Option<(u64, u64, usize)> = None;
        for (pk, &p) in ps.iter().enumerate().skip(lo) {
            let cand = &payer[p as usize];
            if cand.start.0 > rec.start.0.saturating_add(window) {
                break;
            }
            if taken[pk] {
                continue;
            }
            let key = (
                cand.units.abs_diff(rec.units),
                cand.start.0.abs_diff(rec.start.0),
                pk,
            );
            if best.is_none_or(|b| key < b) {
                best = Some(key);
            }
        }
        if let Some((_, _, pk)) = best {
            taken[pk] = true;
            partner[qk] = Some(pk);
        }
    }
    // Emit in time order across both sides so the output is canonical.
    let mut events: Vec<(i64, Pairing)> = Vec::with_capacity(ps.len() + qs.len());
    for (qk, &q) in qs.iter().enumerate() {
        let qrec = &payee[q as usize];
        let pairing = match partner[qk] {
            Some(pk) => {
                let p = ps[pk];
                let prec = &payer[p as usize];
                let outcome = if qrec.rated.row.is_none() {
                    Outcome::NoRate
                } else if prec.units.abs_diff(qrec.units) <= rules.units_tolerance {
                    Outcome::Matched
                } else {
                    Outcome::UnitsMismatch
                };
                Pairing {
                    outcome,
                    payer: Some(p),
                    payee: Some(q),
                }
            }
            None => Pairing {
                outcome: if qrec.rated.row.is_none() {
                    Outcome::NoRate
                } else {
                    Outcome::MissingAtPayer
                },
                payer: None,
                payee: Some(q),
            },
        };
        events.push((qrec.start.0, pairing));
    }
    for (pk, &p) in ps.iter().enumerate() {
        if !taken[pk] {
            let prec = &payer[p as usize];
            events.push((
                prec.start.0,
                Pairing {
                    outcome: if prec.rated.row.is_none() {
                        Outcome::NoRate
                    } else {
                        Outcome::MissingAtPayee
                    },
                    payer: Some(p),
                    payee: None,
                },
            ));
        }
    }
    fn id(side: &[SideRecord], k: Option<u32>) -> Option<&[u8]> {
        k.map(|k| side[k as usize].record_id.as_bytes())
    }
    events.sort_by(|(ta, a), (tb, b)| {
        ta.cmp(tb)
            .then_with(|| id(payee, a.payee).cmp(&id(payee, b.payee)))
            .then_with(|| id(payer, a.payer).cmp(&id(payer, b.payer)))
    });
    out.extend(events.into_iter().map(|(_, p)| p));
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    fn rec(id: &str, b: &str, start: i64, units: u64, rated: bool) -> SideRecord {
        SideRecord {
            record_id: id.into(),
            a_number: Number::parse("441234567890").unwrap(),
            b_number: Number::parse(b).unwrap(),
            start: Timestamp(start),
            units,
            rated: Rated {
                row: rated.then_some(0),
                billable: units,
                charge: Decimal::ZERO,
            },
        }
    }

    const RULES: MatchRules = MatchRules {
        match_window: 10,
        units_tolerance: 1,
    };

    fn summary(
        payer: &[SideRecord],
        payee: &[SideRecord],
    ) -> Vec<(Outcome, Option<&'static str>, Option<&'static str>)> {
        let name = |side: &[SideRecord], k: Option<u32>| {
            k.map(|k| -> &'static str {
                Box::leak(side[k as usize].record_id.to_string().into_boxed_str())
            })
        };
        match_records(payer, payee, RULES)
            .into_iter()
            .map(|p| (p.outcome, name(payer, p.payer), name(payee, p.payee)))
            .collect()
    }

    #[test]
    fn window_is_inclusive_and_tolerance_applies() {
        let payer = [
            rec("p1", "491511111111", 100, 60, true),
            rec("p2", "491511111111", 200, 60, true),
        ];
        let payee = [
            rec("q1", "491511111111", 110, 61, true),
            rec("q2", "491511111111", 211, 90, true),
        ];
        assert_eq!(
            summary(&payer, &payee),
            vec![
                (Outcome::Matched, Some("p1"), Some("q1")),
                (Outcome::MissingAtPayee, Some("p2"), None),
                (Outcome::MissingAtPayer, None, Some("q2")),
            ]
        );
    }

    #[test]
    fn candidate_choice_units_then_time_then_order() {
        // Smaller units difference wins over closer time.
        let payer = [
            rec("a", "491511111111", 100, 50, true),
            rec("b", "491511111111", 105, 60, true),
        ];
        let payee = [rec("q", "491511111111", 100, 60, true)];
        assert_eq!(
            summary(&payer, &payee)[1],
            (Outcome::Matched, Some("b"), Some("q"))
        );
        // Equal units: the closer start time wins.
        let payer = [
            rec("a", "491511111111", 96, 60, true),
            rec("b", "491511111111", 102, 60, true),
        ];
        assert_eq!(
            summary(&payer, &payee),
            vec![
                (Outcome::MissingAtPayee, Some("a"), None),
                (Outcome::Matched, Some("b"), Some("q"))
            ]
        );
        // Equal on both: the first in (start_time, record_id) order wins.
        let payer = [
            rec("b", "491511111111", 98, 60, true),
            rec("a", "491511111111", 102, 60, true),
        ];
        assert_eq!(
            summary(&payer, &payee)[0],
            (Outcome::Matched, Some("b"), Some("q"))
        );
        let payer = [
            rec("b", "491511111111", 100, 60, true),
            rec("a", "491511111111", 100, 60, true),
        ];
        let got = summary(&payer, &payee);
        assert!(
            got.contains(&(Outcome::Matched, Some("a"), Some("q"))),
            "{got:?}"
        );
    }

    #[test]
    fn no_rate_rules() {
        // An unrated payee record is no_rate, matched or not; an unrated lone payer record too.
        let payer = [
            rec("p1", "861011111111", 100, 60, false),
            rec("p2", "861022222222", 100, 60, false),
        ];
        let payee = [
            rec("q1", "861011111111", 100, 60, false),
            rec("q3", "861033333333", 100, 60, false),
        ];
        let got = summary(&payer, &payee);
        assert_eq!(
            got,
            vec![
                (Outcome::NoRate, Some("p1"), Some("q1")),
                (Outcome::NoRate, Some("p2"), None),
                (Outcome::NoRate, None, Some("q3")),
            ]
        );
        // A rated payee record paired with an unrated payer record is still billed.
        let payer = [rec("p", "491511111111", 100, 60, false)];
        let payee = [rec("q", "491511111111", 100, 200, true)];
        assert_eq!(summary(&payer, &payee)[0].0, Outcome::UnitsMismatch);
    }
}
