//! `iclear reconcile`: both sides' files, matched and stated (SPEC §6, §10).

use std::io::Read;

use rust_decimal::Decimal;

use super::RunError;
use crate::cdr::{CdrReader, RejectReason};
use crate::deal::Deal;
use crate::export::{SummaryContext, write_discrepancies, write_statement, write_summary};
use crate::intake::{ExactIds, Tally};
use crate::ratesheet::Ratesheet;
use crate::reconcile::{MatchRules, Pairing, SideRecord, match_records};
use crate::statement::{Statement, StatementScope, build_statement};

/// One side's file, read: the in-scope records rated, the rejected rows, the counts.
#[derive(Debug, Default)]
pub struct SideLoad {
    /// Records of the statement's payer, payee, service and period, rated.
    pub records: Vec<SideRecord>,
    /// Rejected rows: line, reason, raw bytes.
    pub rejects: Vec<(u64, RejectReason, Vec<u8>)>,
    /// Accepted and rejected counts.
    pub tally: Tally,
    /// Valid rows outside the scope.
    pub out_of_scope: u64,
}

/// Reads one side's file (its reporter set on the reader) and rates what is in scope;
/// `progress` hears the bytes read now and then.
pub fn load_side<R: Read>(
    mut input: CdrReader<R>,
    scope: &StatementScope,
    sheet: &Ratesheet,
    progress: &mut dyn FnMut(u64),
) -> Result<SideLoad, RunError> {
    let mut load = SideLoad::default();
    let mut seen = ExactIds::default();
    let mut rows = 0u64;
    while let Some(row) = super::next_judged(&mut input, &mut seen, &mut rows, progress)? {
        match row.outcome {
            Ok(rec) => {
                load.tally.accept();
                let u = &rec.usage;
                let in_scope = u.orig == scope.payer
                    && u.term == scope.payee
                    && u.service == scope.service
                    && scope.period.contains(u.start);
                if !in_scope {
                    load.out_of_scope =
                        load.out_of_scope
                            .checked_add(1)
                            .ok_or(RunError::CountOverflow {
                                what: "out-of-scope rows",
                            })?;
                    continue;
                }
                let rated = sheet.rate(u).map_err(|source| RunError::Charge {
                    line: row.line,
                    source,
                })?;
                load.records.push(SideRecord::new(&rec, rated));
            }
            Err(reason) => {
                load.tally.reject(reason);
                load.rejects.push((row.line, reason, row.raw.to_vec()));
            }
        }
    }
    progress(input.bytes_read());
    Ok(load)
}

/// Both sides matched and stated.
#[derive(Debug)]
pub struct Reconciliation {
    /// Every pair and lone record, in canonical order.
    pub pairings: Vec<Pairing>,
    /// The statement.
    pub statement: Statement,
}

/// The three files of a statement, as bytes (SPEC §9): the same bytes whether the
/// verification tool writes them or a peer computes them while endorsing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatementFiles {
    /// `discrepancies.csv`.
    pub discrepancies: Vec<u8>,
    /// `statement.csv`.
    pub statement: Vec<u8>,
    /// `summary.json`.
    pub summary: Vec<u8>,
}

impl StatementFiles {
    /// The files of `statement`, whose `discrepancies.csv` is already written (whole, or a
    /// part at a time by a peer).
    pub fn write(
        discrepancies: Vec<u8>,
        statement: &Statement,
        ctx: &SummaryContext<'_>,
    ) -> std::io::Result<StatementFiles> {
        Ok(StatementFiles {
            discrepancies,
            statement: write_statement(Vec::new(), statement, ctx.decimals)?,
            summary: write_summary(Vec::new(), statement, ctx)?,
        })
    }
}

impl Reconciliation {
    /// Writes the statement's files for these sides.
    pub fn files(
        &self,
        payer: &[SideRecord],
        payee: &[SideRecord],
        ctx: &SummaryContext<'_>,
    ) -> std::io::Result<StatementFiles> {
        let discrepancies =
            write_discrepancies(Vec::new(), payer, payee, &self.pairings, ctx.decimals)?;
        StatementFiles::write(discrepancies, &self.statement, ctx)
    }
}

/// Matches the two sides and computes the statement.
pub fn reconcile(
    scope: &StatementScope,
    payer: &SideLoad,
    payee: &SideLoad,
    sheet: &Ratesheet,
    deal: Option<&Deal>,
    rules: MatchRules,
    threshold_pct: Decimal,
) -> Result<Reconciliation, RunError> {
    let pairings = match_records(&payer.records, &payee.records, rules);
    let statement = build_statement(
        scope,
        &payer.records,
        &payee.records,
        &pairings,
        sheet,
        deal,
        threshold_pct,
    )?;
    Ok(Reconciliation {
        pairings,
        statement,
    })
}
