//! What changed between two versions of a sheet, as a rate notification shows it: rows that
//! are new, dearer, cheaper or closed. A later version of a published sheet keeps every row
//! of the earlier one (§3.1: rows are closed, never edited or deleted), so its difference is
//! the rows it adds and the open rows it closes; each added row is compared with the row
//! that rated its prefix at its start in the earlier version, as the notice rule compares it.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use super::change::{closes, references, same_terms, term_changes};
use super::{RateRow, Ratesheet};
use crate::time::Instant;

/// How a row of the later version differs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChangeClass {
    /// Nothing rated its prefix at its start before: pricing it is new.
    New,
    /// At least one term is higher than the row it replaces: a raise (§3.1).
    Dearer,
    /// Some term is lower and none higher.
    Cheaper,
    /// The same terms as the row it replaces, from a new date.
    Same,
    /// An open row closed from `effective_to`.
    Closed,
    /// A row of the earlier version that the later one does not hold (never the case between
    /// two versions of one published sheet).
    Removed,
}

impl ChangeClass {
    /// The class's name, as the API writes it.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeClass::New => "new",
            ChangeClass::Dearer => "dearer",
            ChangeClass::Cheaper => "cheaper",
            ChangeClass::Same => "same",
            ChangeClass::Closed => "closed",
            ChangeClass::Removed => "removed",
        }
    }
}

/// One changed row.
#[derive(Debug, Clone, PartialEq)]
pub struct RowChange {
    /// How it changed.
    pub class: ChangeClass,
    /// The row as the later version has it (for `removed`, as the earlier one had it).
    pub row: RateRow,
    /// The earlier version's row it is compared with, if any.
    pub reference: Option<RateRow>,
    /// The terms that moved, each as `name old → new`, higher first.
    pub terms: Vec<String>,
}

impl RowChange {
    /// When the change takes effect: a closure at its `effective_to`, anything else at the
    /// row's `effective_from`.
    pub fn takes_effect(&self) -> &Instant {
        match (self.class, &self.row.to) {
            (ChangeClass::Closed, Some(to)) => to,
            _ => &self.row.from,
        }
    }
}

/// The rows of `later` that `earlier` does not hold as they are, in `later`'s order, then the
/// rows of `earlier` that `later` lacks. `earlier` is `None` for a first version: every row
/// is new.
pub fn diff(earlier: Option<&Ratesheet>, later: &Ratesheet) -> Vec<RowChange> {
    let old: HashMap<(&str, &Instant), &RateRow> = earlier
        .map(|s| {
            s.rows()
                .iter()
                .map(|r| ((&*r.prefix, &r.from), r))
                .collect()
        })
        .unwrap_or_default();
    let mut out = Vec::new();
    for row in later.rows() {
        let change = match old.get(&(&*row.prefix, &row.from)) {
            Some(o) if same_terms(o, row) => continue,
            Some(o) if closes(o, row) => RowChange {
                class: ChangeClass::Closed,
                row: row.clone(),
                reference: Some((*o).clone()),
                terms: vec![format!(
                    "effective_to → {}",
                    row.to.as_ref().map(ToString::to_string).unwrap_or_default()
                )],
            },
            Some(o) => compared(row, Some(o), None),
            None => {
                let (in_force, ended) = references(earlier, row);
                compared(row, in_force, ended)
            }
        };
        out.push(change);
    }
    let kept: HashMap<(&str, &Instant), ()> = later
        .rows()
        .iter()
        .map(|r| ((&*r.prefix, &r.from), ()))
        .collect();
    if let Some(e) = earlier {
        out.extend(
            e.rows()
                .iter()
                .filter(|r| !kept.contains_key(&(&*r.prefix, &r.from)))
                .map(|r| RowChange {
                    class: ChangeClass::Removed,
                    row: r.clone(),
                    reference: None,
                    terms: Vec::new(),
                }),
        );
    }
    out
}

/// A row compared with the row in force at its start and the prefix's last, ended row: dearer
/// if any term is higher than either's (as §3.1 judges a raise), else cheaper if any is lower
/// than the reference's, else the same.
fn compared(row: &RateRow, in_force: Option<&RateRow>, ended: Option<&RateRow>) -> RowChange {
    let Some(reference) = in_force.or(ended) else {
        return RowChange {
            class: ChangeClass::New,
            row: row.clone(),
            reference: None,
            terms: Vec::new(),
        };
    };
    let (mut up, down) = term_changes(row, reference);
    if up.is_empty()
        && let Some(e) = ended.filter(|_| in_force.is_some())
    {
        up = term_changes(row, e).0;
    }
    let class = match (up.is_empty(), down.is_empty()) {
        (false, _) => ChangeClass::Dearer,
        (true, false) => ChangeClass::Cheaper,
        (true, true) => ChangeClass::Same,
    };
    RowChange {
        class,
        row: row.clone(),
        reference: Some(reference.clone()),
        terms: up.into_iter().chain(down).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ratesheet::change::Prior;
    use crate::ratesheet::change::check_publication;
    use crate::time::Timestamp;

    use crate::ratesheet::test_sheet as sheet;

    fn classes(d: &[RowChange]) -> Vec<(String, ChangeClass)> {
        d.iter()
            .map(|c| (c.row.prefix.to_string(), c.class))
            .collect()
    }

    const V1: [&str; 3] = [
        "44,UK,0.0200,2026-01-01,,1,1,0",
        "49,Germany,0.0100,2026-01-01,,1,1,0",
        "33,France,0.0100,2026-01-01,,60,60,0",
    ];

    #[test]
    fn a_first_version_is_all_new() {
        let d = diff(None, &sheet(&V1));
        assert_eq!(d.len(), 3);
        assert!(d.iter().all(|c| c.class == ChangeClass::New));
        assert!(diff(Some(&sheet(&V1)), &sheet(&V1)).is_empty());
    }

    #[test]
    fn each_row_is_classed_against_the_row_it_replaces() {
        let at = Timestamp::parse_rfc3339("2026-10-10T12:00:00Z").unwrap();
        let v1 = sheet(&V1);
        // Close 44, 49 and 33 from tomorrow; reopen 44 dearer, 49 cheaper, 33 at the same
        // terms; price 86 for the first time; a fee on 4915 with a lower rate is still dearer.
        let upload = sheet(&[
            "44,UK,0.0200,2026-01-01,2026-10-11,1,1,0",
            "44,UK,0.0300,2026-10-20,,1,1,0",
            "49,Germany,0.0100,2026-01-01,2026-10-11,1,1,0",
            "49,Germany,0.0090,2026-10-11,,1,1,0",
            "4915,Germany Mobile,0.0050,2026-10-20,,1,1,0.05",
            "33,France,0.0100,2026-01-01,2026-10-11,60,60,0",
            "33,France,0.0100,2026-10-11,,60,60,0",
            "86,China,0.0500,2026-10-20,,1,1,0",
        ]);
        let v2 = check_publication(
            Prior::Published {
                scope: Some(&v1),
                general: None,
            },
            upload,
            at,
            7,
        )
        .unwrap();
        let d = diff(Some(&v1), &v2);
        let mut got = classes(&d);
        got.sort();
        assert_eq!(
            got,
            [
                ("33".into(), ChangeClass::Same),
                ("33".into(), ChangeClass::Closed),
                ("44".into(), ChangeClass::Dearer),
                ("44".into(), ChangeClass::Closed),
                ("49".into(), ChangeClass::Cheaper),
                ("49".into(), ChangeClass::Closed),
                ("4915".into(), ChangeClass::Dearer),
                ("86".into(), ChangeClass::New),
            ]
        );
        let dearer = d
            .iter()
            .find(|c| c.class == ChangeClass::Dearer && &*c.row.prefix == "4915")
            .unwrap();
        assert_eq!(
            dearer.terms,
            ["connect_fee 0 → 0.05", "rate 0.0100 → 0.0050"]
        );
        assert_eq!(dearer.takes_effect().to_string(), "2026-10-20T00:00:00Z");
        let closed = d
            .iter()
            .find(|c| c.class == ChangeClass::Closed && &*c.row.prefix == "44")
            .unwrap();
        assert_eq!(closed.takes_effect().to_string(), "2026-10-11T00:00:00Z");
        // 44 reopens after a gap: compared with its last, ended row.
        let reopened = d
            .iter()
            .find(|c| c.class == ChangeClass::Dearer && &*c.row.prefix == "44")
            .unwrap();
        assert_eq!(reopened.terms, ["rate 0.0200 → 0.0300"]);
        // Read backwards, the earlier version lacks the later rows: they are removed.
        let back = diff(Some(&v2), &v1);
        assert_eq!(
            back.iter()
                .filter(|c| c.class == ChangeClass::Removed)
                .count(),
            5
        );
    }
}
