//! A statement's files as typed rows, for the pages: its lines (per destination) and its
//! discrepancies, filtered by outcome, destination and date and paged. The files are the
//! ones the contract issued (SPEC §9); a discrepancy's destination comes from the rated
//! records of the same scope.

use std::collections::HashMap;

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::errors::PortalError;
use settlement::reconcile::Outcome;

/// One line of `statement.csv`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Line {
    /// The destination (empty for records without a rate).
    pub destination: String,
    /// Payer's records.
    pub payer_count: u64,
    /// Payer's units.
    pub payer_units: u64,
    /// Payer's charge.
    pub payer_charge: Decimal,
    /// Payee's records.
    pub payee_count: u64,
    /// Payee's units.
    pub payee_units: u64,
    /// Payee's charge.
    pub payee_charge: Decimal,
    /// Payee − payer.
    pub variance: Decimal,
    /// Percent of the payee's charge, if any.
    pub variance_pct: Option<Decimal>,
}

/// One row of `discrepancies.csv`, with its destination.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Discrepancy {
    /// The outcome of §6.1.
    pub outcome: String,
    /// The payer's record.
    pub payer_record_id: String,
    /// The payee's record.
    pub payee_record_id: String,
    /// Caller.
    pub a_number: String,
    /// Called.
    pub b_number: String,
    /// Payer's start.
    pub payer_start_time: String,
    /// Payee's start.
    pub payee_start_time: String,
    /// Payer's units.
    pub payer_units: String,
    /// Payee's units.
    pub payee_units: String,
    /// Payer's charge.
    pub payer_charge: String,
    /// Payee's charge.
    pub payee_charge: String,
    /// Payee − payer.
    pub charge_delta: Decimal,
    /// The destination either side's record was rated to.
    #[serde(default)]
    pub destination: String,
}

impl Discrepancy {
    /// The day of the record (`YYYY-MM-DD`), either side's.
    pub fn day(&self) -> &str {
        let t = if self.payer_start_time.is_empty() {
            &self.payee_start_time
        } else {
            &self.payer_start_time
        };
        t.get(..10).unwrap_or(t)
    }
}

fn bad(file: &str, e: csv::Error) -> PortalError {
    PortalError::Fault(format!("the issued {file} does not read: {e}"))
}

/// The lines of `statement.csv`.
pub fn lines(statement_csv: &str) -> Result<Vec<Line>, PortalError> {
    let mut r = csv::Reader::from_reader(statement_csv.as_bytes());
    r.deserialize()
        .map(|row| row.map_err(|e| bad("statement.csv", e)))
        .collect()
}

/// The destination of every rated record, by record id and reporter role (`payer`'s ids
/// and `payee`'s ids may coincide).
pub fn destinations(
    rated_csv: &str,
    payer: &str,
) -> Result<HashMap<(bool, String), String>, PortalError> {
    #[derive(Deserialize)]
    struct Rated {
        record_id: String,
        reporter: String,
        destination: String,
    }
    let mut r = csv::Reader::from_reader(rated_csv.as_bytes());
    let mut out = HashMap::new();
    for row in r.deserialize::<Rated>() {
        let row = row.map_err(|e| bad("rated.csv", e))?;
        out.insert((row.reporter == payer, row.record_id), row.destination);
    }
    Ok(out)
}

/// The discrepancies, each with its destination.
pub fn discrepancies(
    discrepancies_csv: &str,
    destinations: &HashMap<(bool, String), String>,
) -> Result<Vec<Discrepancy>, PortalError> {
    let mut r = csv::Reader::from_reader(discrepancies_csv.as_bytes());
    let mut out = Vec::new();
    for row in r.deserialize::<Discrepancy>() {
        let mut d = row.map_err(|e| bad("discrepancies.csv", e))?;
        d.destination = destinations
            .get(&(true, d.payer_record_id.clone()))
            .or_else(|| destinations.get(&(false, d.payee_record_id.clone())))
            .cloned()
            .unwrap_or_default();
        out.push(d);
    }
    Ok(out)
}

/// What the discrepancy table shows.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
pub struct Filter {
    /// One outcome.
    pub outcome: Option<String>,
    /// Destinations containing this text.
    pub destination: Option<String>,
    /// One day, `YYYY-MM-DD`.
    pub date: Option<String>,
    /// Page, from 1.
    pub page: Option<usize>,
}

/// Rows per page.
pub const PAGE: usize = 50;

/// A page of filtered rows and the number of matches.
pub fn filter(all: &[Discrepancy], f: &Filter) -> (Vec<Discrepancy>, usize) {
    let keep = |d: &&Discrepancy| {
        f.outcome
            .as_deref()
            .filter(|o| !o.is_empty())
            .is_none_or(|o| d.outcome == o)
            && f.destination
                .as_deref()
                .filter(|x| !x.is_empty())
                .is_none_or(|x| d.destination.to_lowercase().contains(&x.to_lowercase()))
            && f.date
                .as_deref()
                .filter(|x| !x.is_empty())
                .is_none_or(|x| d.day() == x)
    };
    let matching: Vec<&Discrepancy> = all.iter().filter(keep).collect();
    let page = f.page.unwrap_or(1).max(1);
    let rows = matching
        .iter()
        .skip((page - 1) * PAGE)
        .take(PAGE)
        .map(|d| (*d).clone())
        .collect();
    (rows, matching.len())
}

/// Discrepancies per outcome, in the order first seen.
pub fn by_outcome(all: &[Discrepancy]) -> Vec<(String, u64)> {
    let mut out: Vec<(String, u64)> = Vec::new();
    for d in all {
        match out.iter_mut().find(|(o, _)| *o == d.outcome) {
            Some(e) => e.1 += 1,
            None => out.push((d.outcome.clone(), 1)),
        }
    }
    out
}

/// The discrepancies of a statement per outcome (every outcome but `matched`, in §6's
/// order), from its summary (§9); an outcome the summary lacks counts 0 and is left out.
pub fn discrepancy_counts(summary_json: &str) -> Result<Vec<(String, u64)>, PortalError> {
    #[derive(serde::Deserialize)]
    struct Summary {
        outcomes: std::collections::BTreeMap<String, u64>,
    }
    let s: Summary = serde_json::from_str(summary_json)
        .map_err(|e| PortalError::Fault(format!("a statement's summary is unreadable: {e}")))?;
    Ok(Outcome::ALL
        .iter()
        .filter(|o| **o != Outcome::Matched)
        .filter_map(|o| {
            s.outcomes
                .get(o.as_str())
                .filter(|n| **n > 0)
                .map(|n| (o.as_str().to_string(), *n))
        })
        .collect())
}

/// The `n` lines with the largest variance in absolute value.
pub fn largest_variance(lines: &[Line], n: usize) -> Vec<Line> {
    let mut v: Vec<Line> = lines
        .iter()
        .filter(|l| !l.variance.is_zero())
        .cloned()
        .collect();
    v.sort_by_key(|l| std::cmp::Reverse(l.variance.abs()));
    v.truncate(n);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATEMENT: &str = "destination,payer_count,payer_units,payer_charge,payee_count,payee_units,payee_charge,variance,variance_pct\n\
        ,2,645,0.0000,2,691,0.0000,0.0000,\n\
        France,3,495,0.1350,3,495,0.1350,0.0000,0.00\n\
        UK,3,495,0.1350,3,495,0.3350,0.2000,59.70\n";
    const DISC: &str = "outcome,payer_record_id,payee_record_id,a_number,b_number,payer_start_time,payee_start_time,payer_units,payee_units,payer_charge,payee_charge,charge_delta\n\
        units_mismatch,A-1003,B-5003,4930,4916,2026-10-03T12:00:00Z,2026-10-03T12:00:02Z,180,245,0.1800,0.3000,0.1200\n\
        missing_at_payer,,B-5004,4930,4420,,2026-10-04T09:00:00Z,,47,,0.0096,0.0096\n";
    const RATED: &str = "record_id,reporter,service,orig_carrier,term_carrier,a_number,b_number,start_time,units,prefix,destination,billable_units,rate,charge,currency,status\n\
        A-1003,alpha,voice,alpha,beta,4930,4916,2026-10-03T12:00:00Z,180,4916,Germany mobile,180,0.06,0.1800,EUR,rated\n\
        B-5004,beta,voice,alpha,beta,4930,4420,2026-10-04T09:00:00Z,47,44,UK,47,0.012,0.0096,EUR,rated\n";

    #[test]
    fn discrepancies_per_outcome_come_from_the_summary() {
        let summary = include_str!("../../fixtures/small/expected/reconcile/summary.json");
        let got = discrepancy_counts(summary).unwrap();
        let want = [
            ("units_mismatch", 2),
            ("missing_at_payer", 4),
            ("missing_at_payee", 6),
            ("no_rate", 3),
        ];
        assert_eq!(
            got,
            want.map(|(o, n)| (o.to_string(), n)).to_vec(),
            "matched is no discrepancy"
        );
        // The same as counting the discrepancies file of that statement.
        let csv = include_str!("../../fixtures/small/expected/reconcile/discrepancies.csv");
        let all = discrepancies(csv, &HashMap::new()).unwrap();
        let mut counted = by_outcome(&all);
        counted.sort_by_key(|(o, _)| want.iter().position(|(w, _)| w == o));
        assert_eq!(counted, got);
        assert!(discrepancy_counts("{}").is_err());
    }

    #[test]
    fn lines_discrepancies_filters_and_pages() {
        let l = lines(STATEMENT).expect("lines");
        assert_eq!(l.len(), 3);
        assert_eq!(largest_variance(&l, 5).len(), 1);
        assert_eq!(largest_variance(&l, 5)[0].destination, "UK");
        let dest = destinations(RATED, "alpha").expect("rated");
        let d = discrepancies(DISC, &dest).expect("discrepancies");
        assert_eq!(d[0].destination, "Germany mobile");
        assert_eq!(d[1].destination, "UK");
        let only = |f: Filter| filter(&d, &f).1;
        assert_eq!(
            only(Filter {
                outcome: Some("units_mismatch".into()),
                ..Filter::default()
            }),
            1
        );
        assert_eq!(
            only(Filter {
                destination: Some("uk".into()),
                ..Filter::default()
            }),
            1
        );
        assert_eq!(
            only(Filter {
                date: Some("2026-10-04".into()),
                ..Filter::default()
            }),
            1
        );
        assert_eq!(
            only(Filter {
                date: Some("2026-10-05".into()),
                ..Filter::default()
            }),
            0
        );
        assert_eq!(
            filter(
                &d,
                &Filter {
                    page: Some(2),
                    ..Filter::default()
                }
            )
            .0
            .len(),
            0
        );
        assert_eq!(
            by_outcome(&d),
            vec![("units_mismatch".into(), 1), ("missing_at_payer".into(), 1)]
        );
    }
}
