//! Changing published rates (SPEC §3.1): published rows are never edited or deleted; a later
//! publication may add rows and close open ones, both only from its transaction time on,
//! and a raise needs `notice_days` of notice.

use std::fmt;

use super::{RateRow, Ratesheet, parse};
use crate::time::{Instant, Timestamp};

/// Why a publication is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChangeKind {
    /// A published row edited, or a row or closure that takes effect before the publication.
    RetroactiveChange,
    /// A raise that starts sooner than `notice_days` after the publication.
    InsufficientNotice,
    /// The rows left would overlap.
    Conflict,
}

impl fmt::Display for ChangeKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ChangeKind::RetroactiveChange => "retroactive_change",
            ChangeKind::InsufficientNotice => "insufficient_notice",
            ChangeKind::Conflict => "conflict",
        })
    }
}

/// One refused row of a publication.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChangeProblem {
    /// The publication's line.
    pub line: u64,
    /// The rule broken.
    pub kind: ChangeKind,
    /// What and why.
    pub message: String,
}

impl fmt::Display for ChangeProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}: {}", self.line, self.kind, self.message)
    }
}

/// Whether two rows say the same thing, whatever line they came from.
fn same_terms(a: &RateRow, b: &RateRow) -> bool {
    a.destination == b.destination
        && a.rate == b.rate
        && a.to == b.to
        && a.first_increment == b.first_increment
        && a.next_increment == b.next_increment
        && a.connect_fee == b.connect_fee
}

/// Checks a publication made at `at` against what the owner already published for the
/// same scope (`None`: the first, the agreed baseline, which may carry any dates) and
/// returns the sheet in force afterwards.
pub fn publish(
    published: Option<&Ratesheet>,
    publication: Ratesheet,
    at: Timestamp,
    notice_days: u32,
) -> Result<Ratesheet, Vec<ChangeProblem>> {
    let Some(old) = published else {
        return Ok(publication);
    };
    let now = Instant {
        secs: at.0,
        frac: "".into(),
    };
    let notice = Instant {
        secs: at.0 + i64::from(notice_days) * 86_400,
        frac: "".into(),
    };
    let mut rows: Vec<RateRow> = old.rows().to_vec();
    let mut problems = Vec::new();
    for new in publication.rows() {
        let mut problem = |kind, message: String| {
            problems.push(ChangeProblem {
                line: new.line,
                kind,
                message,
            })
        };
        let existing = rows
            .iter_mut()
            .find(|r| r.prefix == new.prefix && r.from == new.from);
        match existing {
            Some(r) if same_terms(r, new) => {}
            Some(r) => {
                let closes = r.to.is_none()
                    && new.to.is_some()
                    && RateRow {
                        to: None,
                        ..new.clone()
                    } == RateRow {
                        line: new.line,
                        ..r.clone()
                    };
                match &new.to {
                    Some(to) if closes && *to >= now => r.to = Some(to.clone()),
                    Some(to) if closes => problem(
                        ChangeKind::RetroactiveChange,
                        format!(
                            "prefix {} may be closed from {now} on, not at {to}",
                            new.prefix
                        ),
                    ),
                    _ => problem(
                        ChangeKind::RetroactiveChange,
                        format!(
                            "prefix {} from {} is published and cannot be edited (only an open row may be closed)",
                            new.prefix, new.from
                        ),
                    ),
                }
            }
            None if new.from < now => problem(
                ChangeKind::RetroactiveChange,
                format!(
                    "prefix {}: a new row may start from {now} on, not at {}",
                    new.prefix, new.from
                ),
            ),
            None => {
                let in_force = old.find(new.prefix.as_bytes(), at.0).map(|i| old.row(i));
                match in_force {
                    Some(cur) if new.rate > cur.rate && new.from < notice => problem(
                        ChangeKind::InsufficientNotice,
                        format!(
                            "prefix {} raises the rate from {} to {}: it may start from {notice} on ({notice_days} days' notice), not at {}",
                            new.prefix, cur.rate, new.rate, new.from
                        ),
                    ),
                    _ => rows.push(new.clone()),
                }
            }
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let conflicts = parse::whole_sheet_problems(&rows);
    if !conflicts.is_empty() {
        return Err(conflicts
            .into_iter()
            .map(|p| ChangeProblem {
                line: p.line,
                kind: ChangeKind::Conflict,
                message: p.message,
            })
            .collect());
    }
    Ok(Ratesheet::from_rows(publication.terms().clone(), rows))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::{Currency, Rounding};
    use crate::ratesheet::SheetTerms;
    use crate::service::Service;

    fn sheet(rows: &[&str]) -> Ratesheet {
        let terms = SheetTerms::new(
            Service::Voice,
            Currency::parse("EUR").unwrap(),
            4,
            Rounding::HalfUp,
        )
        .unwrap();
        let text = format!(
            "prefix,destination,rate,effective_from,effective_to\n{}\n",
            rows.join("\n")
        );
        Ratesheet::read(text.as_bytes(), terms).unwrap()
    }

    fn at(s: &str) -> Timestamp {
        Timestamp::parse_rfc3339(s).unwrap()
    }

    fn kinds(r: Result<Ratesheet, Vec<ChangeProblem>>) -> Vec<ChangeKind> {
        r.err()
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.kind)
            .collect()
    }

    const BASE: [&str; 2] = ["49,Germany,0.0100,2026-01-01,", "44,UK,0.0200,2026-01-01,"];
    const NOW: &str = "2026-10-10T12:00:00Z";

    #[test]
    fn the_first_publication_is_the_baseline() {
        assert!(publish(None, sheet(&["49,Germany,0.5,2020-01-01,"]), at(NOW), 7).is_ok());
    }

    #[test]
    fn adding_closing_and_repeating_rows() {
        let old = sheet(&BASE);
        // Repeat the baseline, close 49 from tomorrow, open a cheaper 49 then (no notice needed).
        let new = sheet(&[
            "44,UK,0.0200,2026-01-01,",
            "49,Germany,0.0100,2026-01-01,2026-10-11",
            "49,Germany,0.0090,2026-10-11,",
        ]);
        let merged = publish(Some(&old), new, at(NOW), 7).unwrap();
        assert_eq!(merged.rows().len(), 3);
        let t = at("2026-10-12T00:00:00Z").0;
        assert_eq!(
            merged
                .row(merged.find(b"4930123456", t).unwrap())
                .rate
                .to_string(),
            "0.0090"
        );
    }

    #[test]
    fn retroactive_changes_are_refused() {
        let old = sheet(&BASE);
        // Editing a published row's rate.
        let r = publish(
            Some(&old),
            sheet(&["49,Germany,0.0200,2026-01-01,"]),
            at(NOW),
            7,
        );
        assert_eq!(kinds(r), [ChangeKind::RetroactiveChange]);
        // Closing in the past.
        let r = publish(
            Some(&old),
            sheet(&["49,Germany,0.0100,2026-01-01,2026-10-01"]),
            at(NOW),
            7,
        );
        assert_eq!(kinds(r), [ChangeKind::RetroactiveChange]);
        // A new row that starts before the publication.
        let r = publish(
            Some(&old),
            sheet(&["33,France,0.0100,2026-10-01,"]),
            at(NOW),
            7,
        );
        assert_eq!(kinds(r), [ChangeKind::RetroactiveChange]);
    }

    #[test]
    fn raises_need_notice() {
        let old = sheet(&["49,Germany,0.0100,2026-01-01,2026-10-20"]);
        // A raise on 4915 (priced by 49 today) eight days out: refused with 10 days' notice.
        let r = publish(
            Some(&old),
            sheet(&["4915,Germany Mobile,0.0300,2026-10-18T12:00:00Z,"]),
            at(NOW),
            10,
        );
        assert_eq!(kinds(r), [ChangeKind::InsufficientNotice]);
        // Exactly the notice is enough, and a cut needs none.
        assert!(
            publish(
                Some(&old),
                sheet(&["4915,Germany Mobile,0.0300,2026-10-20T12:00:00Z,"]),
                at(NOW),
                10
            )
            .is_ok()
        );
        assert!(
            publish(
                Some(&old),
                sheet(&["4915,Germany Mobile,0.0050,2026-10-11,"]),
                at(NOW),
                10
            )
            .is_ok()
        );
        // A new row that overlaps a published open row is a conflict.
        let r = publish(
            Some(&sheet(&BASE)),
            sheet(&["49,Germany,0.0050,2026-11-01,"]),
            at(NOW),
            7,
        );
        assert_eq!(kinds(r), [ChangeKind::Conflict]);
    }
}
