//! Changing published rates (SPEC §3.1): published rows are never edited or deleted; a later
//! publication may add rows and close open ones, both only from its transaction time on,
//! and a raise — any of `rate`, `connect_fee`, `first_increment`, `next_increment` higher
//! than the reference row's — needs `notice_days` of notice. Only the owner's very first
//! publication for a service on a channel is a baseline that may carry any dates.

use std::collections::HashMap;
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

/// What the owner has already published for the service, as the contract knows it.
#[derive(Debug, Clone, Copy)]
pub enum Prior<'a> {
    /// The owner has no sheet at all for this service on the channel, in any scope: the
    /// publication is the agreed baseline and may carry any dates.
    Baseline,
    /// The owner has published for this service on the channel before.
    Published {
        /// The sheet in force for the publication's own scope (its counterparty, or the
        /// general scope), if that scope has one.
        scope: Option<&'a Ratesheet>,
        /// The owner's general sheet for the service, if there is one; used when the
        /// publication is for a named counterparty that has no sheet yet (§3.2's fallback).
        /// For a general publication it is the same sheet as `scope` and may be given or not.
        general: Option<&'a Ratesheet>,
    },
}

/// Whether two rows say the same thing, whatever line they came from.
pub(super) fn same_terms(a: &RateRow, b: &RateRow) -> bool {
    a.destination == b.destination
        && a.rate == b.rate
        && a.to == b.to
        && a.first_increment == b.first_increment
        && a.next_increment == b.next_increment
        && a.connect_fee == b.connect_fee
}

/// Whether `new` closes the open row `old`: the same row but for its new `effective_to`.
pub(super) fn closes(old: &RateRow, new: &RateRow) -> bool {
    old.to.is_none()
        && new.to.is_some()
        && same_terms(
            old,
            &RateRow {
                to: None,
                ..new.clone()
            },
        )
}

/// The terms of `new` that are higher (`up`) or lower (`down`) than those of `reference`:
/// each as `name old → new`. Any term higher makes `new` a raise (§3.1), whatever else is
/// lower.
pub(super) fn term_changes(new: &RateRow, reference: &RateRow) -> (Vec<String>, Vec<String>) {
    let (mut up, mut down) = (Vec::new(), Vec::new());
    let mut compare = |name: &str, old: String, new: String, ord: std::cmp::Ordering| match ord {
        std::cmp::Ordering::Greater => up.push(format!("{name} {old} → {new}")),
        std::cmp::Ordering::Less => down.push(format!("{name} {old} → {new}")),
        std::cmp::Ordering::Equal => {}
    };
    compare(
        "rate",
        reference.rate.to_string(),
        new.rate.to_string(),
        new.rate.cmp(&reference.rate),
    );
    compare(
        "connect_fee",
        reference.connect_fee.to_string(),
        new.connect_fee.to_string(),
        new.connect_fee.cmp(&reference.connect_fee),
    );
    compare(
        "first_increment",
        reference.first_increment.to_string(),
        new.first_increment.to_string(),
        new.first_increment.cmp(&reference.first_increment),
    );
    compare(
        "next_increment",
        reference.next_increment.to_string(),
        new.next_increment.to_string(),
        new.next_increment.cmp(&reference.next_increment),
    );
    (up, down)
}

/// The row a new row is compared with (§3.1): the one that would rate its prefix at its
/// `effective_from` without it, and the prefix's own last row where that row has ended
/// before it.
pub(super) fn references<'a>(
    reference: Option<&'a Ratesheet>,
    new: &RateRow,
) -> (Option<&'a RateRow>, Option<&'a RateRow>) {
    let prefix = new.prefix.as_bytes();
    let in_force = reference.and_then(|s| s.find_at(prefix, &new.from).map(|i| s.row(i)));
    let ended = reference
        .and_then(|s| s.last_row_before(prefix, &new.from).map(|i| s.row(i)))
        .filter(|r| r.to.as_ref().is_some_and(|to| *to <= new.from));
    (in_force, ended)
}

/// Why a new row is a raise (§3.1), or `None` when it is not: compared with the row that
/// would rate its prefix at its `effective_from` without this publication, and with the
/// prefix's own last row where that row has ended; with neither, every term counts as 0.
fn raise(reference: Option<&Ratesheet>, new: &RateRow) -> Option<String> {
    let (in_force, ended) = references(reference, new);
    if in_force.is_none() && ended.is_none() {
        return Some(format!(
            "nothing rates prefix {} at {}, so pricing it is a raise",
            new.prefix, new.from
        ));
    }
    let describe = |r: &RateRow, what: &str| {
        let (up, _) = term_changes(new, r);
        (!up.is_empty()).then(|| {
            format!(
                "{} over {what} (prefix {} from {}, line {})",
                up.join(", "),
                r.prefix,
                r.from,
                r.line
            )
        })
    };
    let reasons: Vec<String> = in_force
        .and_then(|r| describe(r, "the row in force then"))
        .into_iter()
        .chain(ended.and_then(|r| describe(r, "the prefix's last row, ended")))
        .collect();
    (!reasons.is_empty()).then(|| format!("raises {}", reasons.join("; ")))
}

/// Checks a publication made at `at` (the transaction's time, §1.2) against what the owner
/// already published (SPEC §3.1) and returns the sheet in force for the publication's scope
/// afterwards, or every problem with its line.
///
/// - [`Prior::Baseline`]: the upload is the agreed baseline, any dates.
/// - Otherwise the rows are judged against the scope's own sheet, or, for a named
///   counterparty that has none yet, the general sheet: a row that repeats a published row
///   (same prefix and `effective_from`, same terms) is kept; one that closes a published open
///   row does so from `at` on; any other edit, and any new row starting before `at`, is
///   `retroactive_change`; a new row that is a raise must start at least `notice_days` after
///   `at` (`insufficient_notice`). A counterparty's first sheet holds only its upload's rows
///   (the general sheet keeps its own).
pub fn check_publication(
    prior: Prior<'_>,
    upload: Ratesheet,
    at: Timestamp,
    notice_days: u32,
) -> Result<Ratesheet, Vec<ChangeProblem>> {
    let (reference, new_scope) = match prior {
        Prior::Baseline => return Ok(upload),
        Prior::Published { scope: Some(s), .. } => (Some(s), false),
        Prior::Published {
            scope: None,
            general,
        } => (general, true),
    };
    let now = Instant::from(at);
    let notice = Instant::from(Timestamp(
        at.0.saturating_add(i64::from(notice_days).saturating_mul(86_400)),
    ));
    // The scope's sheet grows by this publication; a new scope starts empty.
    let mut rows: Vec<RateRow> = match (reference, new_scope) {
        (Some(s), false) => s.rows().to_vec(),
        _ => Vec::new(),
    };
    let published: HashMap<(&str, &Instant), usize> = reference
        .map(|s| {
            s.rows()
                .iter()
                .enumerate()
                .map(|(i, r)| ((&*r.prefix, &r.from), i))
                .collect()
        })
        .unwrap_or_default();
    let mut problems = Vec::new();
    for new in upload.rows() {
        let mut problem = |kind, message: String| {
            problems.push(ChangeProblem {
                line: new.line,
                kind,
                message,
            })
        };
        let existing = published
            .get(&(&*new.prefix, &new.from))
            .map(|&i| (i, &reference.map_or(&[][..], Ratesheet::rows)[i]));
        match existing {
            Some((_, old)) if same_terms(old, new) => {
                if new_scope {
                    rows.push(new.clone());
                }
            }
            Some((i, old)) if closes(old, new) => match &new.to {
                Some(to) if *to >= now => {
                    if new_scope {
                        rows.push(new.clone());
                    } else {
                        rows[i].to = Some(to.clone());
                    }
                }
                to => problem(
                    ChangeKind::RetroactiveChange,
                    format!(
                        "prefix {} may be closed from {now} on, not at {}",
                        new.prefix,
                        to.as_ref().map(ToString::to_string).unwrap_or_default()
                    ),
                ),
            },
            Some(_) => problem(
                ChangeKind::RetroactiveChange,
                format!(
                    "prefix {} from {} is published and cannot be edited (only an open row may be closed)",
                    new.prefix, new.from
                ),
            ),
            None if new.from < now => problem(
                ChangeKind::RetroactiveChange,
                format!(
                    "prefix {}: a new row may start from {now} on, not at {}",
                    new.prefix, new.from
                ),
            ),
            None => match raise(reference, new) {
                Some(why) if new.from < notice => problem(
                    ChangeKind::InsufficientNotice,
                    format!(
                        "prefix {} {why}: it may start from {notice} on ({notice_days} days' notice), not at {}",
                        new.prefix, new.from
                    ),
                ),
                _ => rows.push(new.clone()),
            },
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let conflicts = parse::whole_sheet_problems(&rows);
    if !conflicts.is_empty() {
        let mut conflicts: Vec<ChangeProblem> = conflicts
            .into_iter()
            .map(|p| ChangeProblem {
                line: p.line,
                kind: ChangeKind::Conflict,
                message: p.message,
            })
            .collect();
        conflicts.sort_by_key(|p| p.line);
        return Err(conflicts);
    }
    Ok(Ratesheet::from_rows(upload.terms().clone(), rows))
}

/// [`check_publication`] for a scope's own history alone: `published` is the scope's sheet,
/// `None` meaning the baseline. Kept for callers that know no more; it cannot judge a
/// counterparty's first sheet against the general sheet, so new callers should use
/// [`check_publication`].
pub fn publish(
    published: Option<&Ratesheet>,
    publication: Ratesheet,
    at: Timestamp,
    notice_days: u32,
) -> Result<Ratesheet, Vec<ChangeProblem>> {
    let prior = match published {
        None => Prior::Baseline,
        Some(scope) => Prior::Published {
            scope: Some(scope),
            general: None,
        },
    };
    check_publication(prior, publication, at, notice_days)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::money::{Currency, Rounding};
    use crate::ratesheet::SheetTerms;
    use crate::service::Service;

    use crate::ratesheet::test_sheet as sheet;

    fn published<'a>(scope: Option<&'a Ratesheet>, general: Option<&'a Ratesheet>) -> Prior<'a> {
        Prior::Published { scope, general }
    }

    fn messages(r: Result<Ratesheet, Vec<ChangeProblem>>) -> Vec<String> {
        r.err()
            .unwrap_or_default()
            .into_iter()
            .map(|p| p.to_string())
            .collect()
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

    /// The tester's cheat (a): a first sheet for a named counterparty repriced the past.
    #[test]
    fn a_counterparty_first_sheet_is_judged_against_the_general_sheet() {
        let general = sheet(&BASE);
        let prior = published(None, Some(&general));
        // Repricing 49 from the general sheet's own start: an edit of a published row.
        let r = check_publication(prior, sheet(&["49,Germany,0.0330,2026-01-01,"]), at(NOW), 7);
        assert_eq!(kinds(r), [ChangeKind::RetroactiveChange]);
        // A new row that starts in the past.
        let r = check_publication(prior, sheet(&["49,Germany,0.0330,2026-02-01,"]), at(NOW), 7);
        assert_eq!(kinds(r), [ChangeKind::RetroactiveChange]);
        // A raise from tomorrow, judged against the general row in force: needs notice.
        let r = check_publication(prior, sheet(&["49,Germany,0.0330,2026-10-11,"]), at(NOW), 7);
        assert_eq!(kinds(r), [ChangeKind::InsufficientNotice]);
        // The same as the baseline it would have been: accepted with any dates.
        assert!(
            check_publication(
                Prior::Baseline,
                sheet(&["49,Germany,0.0330,2026-01-01,"]),
                at(NOW),
                7
            )
            .is_ok()
        );
        // Allowed: the general rows repeated (one closed from tomorrow), a cut from tomorrow,
        // a raise with the notice. The counterparty's sheet holds exactly the upload's rows.
        let merged = check_publication(
            prior,
            sheet(&[
                "44,UK,0.0200,2026-01-01,",
                "49,Germany,0.0100,2026-01-01,2026-10-11",
                "49,Germany,0.0090,2026-10-11,2026-10-20",
                "49,Germany,0.0330,2026-10-20,",
            ]),
            at(NOW),
            7,
        )
        .unwrap();
        assert_eq!(merged.rows().len(), 4);
        let rate = |t: &str| {
            merged
                .find(b"4930", at(t).0)
                .map(|i| merged.row(i).rate.to_string())
        };
        assert_eq!(rate("2026-06-01T00:00:00Z").as_deref(), Some("0.0100"));
        assert_eq!(rate("2026-10-12T00:00:00Z").as_deref(), Some("0.0090"));
        assert_eq!(rate("2026-10-21T00:00:00Z").as_deref(), Some("0.0330"));
        // A counterparty's sheet that exists is its own reference: the general sheet is not.
        let own = sheet(&["44,UK,0.0200,2026-01-01,"]);
        let r = check_publication(
            published(Some(&own), Some(&general)),
            sheet(&["49,Germany,0.0001,2026-10-11,"]),
            at(NOW),
            7,
        );
        // Nothing rates 49 for this counterparty today: pricing it is a raise.
        assert_eq!(kinds(r), [ChangeKind::InsufficientNotice]);
    }

    /// The tester's cheat (b): a row closed and reopened with dearer increments and a fee.
    #[test]
    fn every_term_counts_in_a_raise() {
        let old = sheet(&["44,UK,0.0200,2026-01-01,,1,1,0"]);
        let prior = published(Some(&old), None);
        // Close 44 from tomorrow and reopen it at the same rate with other increments and fee.
        let reopen = |terms: &str, from: &str| {
            sheet(&[
                "44,UK,0.0200,2026-01-01,2026-10-11,1,1,0",
                &format!("44,UK,0.0200,{from},,{terms}"),
            ])
        };
        for (terms, says) in [
            (
                "60,60,5.00",
                "connect_fee 0 → 5.00, first_increment 1 → 60, next_increment 1 → 60",
            ),
            ("1,1,0.01", "connect_fee 0 → 0.01"),
            ("2,1,0", "first_increment 1 → 2"),
            ("1,6,0", "next_increment 1 → 6"),
        ] {
            let m = messages(check_publication(
                prior,
                reopen(terms, "2026-10-11"),
                at(NOW),
                7,
            ));
            assert_eq!(m.len(), 1, "{terms}: {m:?}");
            assert!(
                m[0].contains("insufficient_notice") && m[0].contains(says),
                "{terms}: {m:?}"
            );
            // With seven days' notice (exactly) the same change is allowed.
            assert!(
                check_publication(prior, reopen(terms, "2026-10-17T12:00:00Z"), at(NOW), 7).is_ok(),
                "{terms}"
            );
        }
        // The same terms again, or cheaper ones, need no notice.
        assert!(check_publication(prior, reopen("1,1,0", "2026-10-11"), at(NOW), 7).is_ok());
        let cheaper = sheet(&[
            "44,UK,0.0200,2026-01-01,2026-10-11,1,1,0",
            "44,UK,0.0150,2026-10-11,,1,1,0",
        ]);
        assert!(check_publication(prior, cheaper, at(NOW), 7).is_ok());
        // A rate raise in the same publication as a cut of the fee is still a raise.
        let mixed = sheet(&[
            "44,UK,0.0200,2026-01-01,2026-10-11,1,1,0",
            "44,UK,0.0210,2026-10-11,,1,1,0",
        ]);
        assert_eq!(
            kinds(check_publication(prior, mixed, at(NOW), 7)),
            [ChangeKind::InsufficientNotice]
        );
    }

    /// The tester's cheat (c): a prefix closed a moment ago reopened at 40 times the rate.
    #[test]
    fn reopening_an_ended_prefix_is_judged_against_its_last_row() {
        let old = sheet(&["33,France,0.0100,2026-01-01,2026-10-10T11:59:00Z"]);
        let prior = published(Some(&old), None);
        let m = messages(check_publication(
            prior,
            sheet(&["33,France,0.4000,2026-10-10T12:00:00Z,"]),
            at(NOW),
            7,
        ));
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(
            m[0].contains("raises rate 0.0100 → 0.4000 over the prefix's last row, ended"),
            "{m:?}"
        );
        // Even where a shorter prefix, dearer still, would rate it: the ended row counts too.
        let with_world = sheet(&[
            "33,France,0.0100,2026-01-01,2026-10-10T11:59:00Z",
            "3,World,0.5000,2026-01-01,",
        ]);
        let r = check_publication(
            published(Some(&with_world), None),
            sheet(&["33,France,0.4000,2026-10-10T12:00:00Z,"]),
            at(NOW),
            7,
        );
        assert_eq!(kinds(r), [ChangeKind::InsufficientNotice]);
        // Reopening at the old terms or cheaper needs no notice; dearer, with notice, passes.
        for (rate, from) in [
            ("0.0100", "2026-10-10T12:00:00Z"),
            ("0.0090", "2026-10-11"),
            ("0.4000", "2026-10-17T12:00:00Z"),
        ] {
            let upload = sheet(&[format!("33,France,{rate},{from},").as_str()]);
            assert!(
                check_publication(prior, upload, at(NOW), 7).is_ok(),
                "{rate} {from}"
            );
        }
    }

    #[test]
    fn pricing_what_nothing_rated_is_a_raise() {
        let old = sheet(&BASE);
        let prior = published(Some(&old), None);
        let m = messages(check_publication(
            prior,
            sheet(&["86,China,0.0001,2026-10-11,"]),
            at(NOW),
            7,
        ));
        assert_eq!(m.len(), 1, "{m:?}");
        assert!(m[0].contains("nothing rates prefix 86"), "{m:?}");
        assert!(
            check_publication(
                prior,
                sheet(&["86,China,0.0001,2026-10-17T12:00:00Z,"]),
                at(NOW),
                7
            )
            .is_ok()
        );
        // Half a second short of the notice is refused: bounds are exact.
        let r = check_publication(
            prior,
            sheet(&["86,China,0.0001,2026-10-17T11:59:59.5Z,"]),
            at(NOW),
            7,
        );
        assert_eq!(kinds(r), [ChangeKind::InsufficientNotice]);
        // An owner with sheets in other scopes only: nothing to judge against, still no baseline.
        let r = check_publication(
            published(None, None),
            sheet(&["49,Germany,0.01,2026-01-01,"]),
            at(NOW),
            7,
        );
        assert_eq!(kinds(r), [ChangeKind::RetroactiveChange]);
        let r = check_publication(
            published(None, None),
            sheet(&["49,Germany,0.01,2026-10-11,"]),
            at(NOW),
            7,
        );
        assert_eq!(kinds(r), [ChangeKind::InsufficientNotice]);
    }

    #[test]
    fn every_problem_is_listed_with_its_line() {
        let old = sheet(&BASE);
        let r = check_publication(
            published(Some(&old), None),
            sheet(&[
                "49,Germany,0.0200,2026-01-01,",
                "33,France,0.0100,2026-10-01,",
                "86,China,0.0100,2026-10-11,",
                "44,UK,0.0200,2026-01-01,",
            ]),
            at(NOW),
            7,
        );
        let got: Vec<(u64, ChangeKind)> = r
            .unwrap_err()
            .into_iter()
            .map(|p| (p.line, p.kind))
            .collect();
        assert_eq!(
            got,
            [
                (2, ChangeKind::RetroactiveChange),
                (3, ChangeKind::RetroactiveChange),
                (4, ChangeKind::InsufficientNotice)
            ]
        );
    }

    mod properties {
        use super::*;
        use proptest::prelude::*;

        const PREFIXES: [&str; 4] = ["4", "49", "491", "33"];
        const NUMBERS: [&str; 5] = ["4912345", "4934567", "3311111", "4000000", "5000000"];

        fn day(d: u32) -> String {
            format!("2026-10-{:02}", d + 1)
        }

        /// A row: prefix, start day, optional length in days, rate in cents, first increment.
        fn row() -> impl Strategy<Value = (usize, u32, Option<u32>, u32, u64)> {
            (
                0..PREFIXES.len(),
                0u32..20,
                proptest::option::of(1u32..8),
                1u32..6,
                1u64..3,
            )
        }

        fn text((p, from, len, rate, first): (usize, u32, Option<u32>, u32, u64)) -> String {
            let to = len.map(|l| day((from + l).min(29))).unwrap_or_default();
            format!(
                "{},D{p},0.0{rate},{},{to},{first},1,",
                PREFIXES[p],
                day(from)
            )
        }

        fn try_sheet(rows: &[String]) -> Option<Ratesheet> {
            let terms = SheetTerms::new(
                Service::Voice,
                Currency::parse("EUR").unwrap(),
                4,
                Rounding::HalfUp,
            )
            .ok()?;
            let text = format!(
                "prefix,destination,rate,effective_from,effective_to,first_increment,next_increment,connect_fee\n{}\n",
                rows.join("\n")
            );
            Ratesheet::read(text.as_bytes(), terms).ok()
        }

        proptest! {
            /// Whatever a later publication holds, if it is accepted no record that started
            /// before its transaction time rates differently.
            #[test]
            fn an_accepted_publication_never_changes_the_past(
                old in proptest::collection::vec(row(), 1..6),
                keep in proptest::collection::vec((proptest::bool::ANY, proptest::option::of(0u32..25)), 6),
                new in proptest::collection::vec(row(), 0..4),
                now_day in 0u32..22,
            ) {
                let old_text: Vec<String> = old.iter().copied().map(text).collect();
                let Some(old_sheet) = try_sheet(&old_text) else { return Ok(()) };
                // The upload: some published rows repeated (an open one maybe closed), and new rows.
                let mut upload: Vec<String> = Vec::new();
                for (r, (repeat, close)) in old.iter().zip(&keep) {
                    if *repeat {
                        let mut r = *r;
                        if r.2.is_none() && let Some(c) = close && *c > r.1 {
                            r.2 = Some(*c - r.1);
                        }
                        upload.push(text(r));
                    }
                }
                upload.extend(new.iter().copied().map(text));
                let Some(upload) = try_sheet(&upload) else { return Ok(()) };
                let now = Timestamp::parse_rfc3339(&format!("{}T12:00:00Z", day(now_day))).unwrap();
                let Ok(merged) = check_publication(
                    Prior::Published { scope: Some(&old_sheet), general: None },
                    upload,
                    now,
                    3,
                ) else { return Ok(()) };
                for n in NUMBERS {
                    for h in (0..now.0).rev().step_by(6 * 3600).take(200) {
                        let terms = |s: &Ratesheet| s.find(n.as_bytes(), h).map(|i| {
                            let r = s.row(i);
                            (r.prefix.clone(), r.rate, r.first_increment, r.connect_fee)
                        });
                        prop_assert_eq!(terms(&merged), terms(&old_sheet), "{} at {}", n, Timestamp(h));
                    }
                }
            }
        }
    }
}
