//! A world state's claims of consecutively numbered keys, kept as *runs*: one row
//! for `prefix` + `first` … `last` + `suffix`, where a claims table would hold a row a key.
//!
//! Carriers number their records: a switch's call references mostly count up, so a batch
//! claims `…A1000…`, `…A1001…`, … `…A10999…` (keys that differ only in one decimal
//! number). Each claim was a B-tree insert on each peer, about a fifth of the CPU of
//! clearing a million records (BENCHMARKS.md, session forty-five); a run is one insert for
//! a few dozen of them (a run ends at each id the batch rejected).
//!
//! A key is *numbered* when it holds an ASCII decimal number of at most
//! [`MAX_DIGITS`] digits, without a leading zero: its last such run of digits splits it into
//! prefix, number and suffix. The split is a bijection: the prefix does not end with a
//! digit and the suffix holds none, so `prefix + n + suffix` splits back into the same
//! three parts for every `n`, and two runs of the same prefix and suffix hold the same key
//! only if their numbers overlap. Other keys (`A007`, ids of twenty digits, ids without a
//! digit), and numbered keys a transaction claims without a neighbour, stay one row each in
//! the claims table (on SQLite, in its epochs: module `epochs`). SQLite keeps runs in a file
//! made with epochs, PostgreSQL in every schema.
//!
//! *Invariants:* a run is one transaction's claims (they share a version); runs of one
//! namespace, prefix and suffix never overlap, because no key is claimed twice (validation
//! refuses it, and `commit` looks every claim up in runs and claims before it writes), so
//! the run with the greatest `first` not above `n` is the only one that may hold `n`; every
//! key of every run is in the table-wide claims filter.

use super::{BlockUpdate, StateClaim, StateClaimRun, StateError, grouped, key_string, to_u64};
use crate::proto::Version;

/// The most digits of a numbered key's number: every such number fits SQLite's and
/// PostgreSQL's signed 64-bit integers.
pub(crate) const MAX_DIGITS: usize = 18;

/// A run holds at least this many keys; a transaction's numbered claims that form no run
/// stay rows of the claims table.
pub(crate) const MIN_RUN: u64 = 2;

/// A numbered key, split at its last decimal number.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Numbered<'a> {
    pub prefix: &'a str,
    pub suffix: &'a str,
    pub n: u64,
}

impl<'a> Numbered<'a> {
    /// `key` split at its last run of ASCII digits, if that run is a number of at most
    /// [`MAX_DIGITS`] digits without a leading zero.
    pub(crate) fn of(key: &'a str) -> Option<Numbered<'a>> {
        let bytes = key.as_bytes();
        let end = bytes.iter().rposition(u8::is_ascii_digit)? + 1;
        let start = bytes[..end]
            .iter()
            .rposition(|b| !b.is_ascii_digit())
            .map_or(0, |i| i + 1);
        let digits = &bytes[start..end];
        if digits.len() > MAX_DIGITS || (digits.len() > 1 && digits[0] == b'0') {
            return None;
        }
        let n = digits
            .iter()
            .fold(0u64, |n, d| n * 10 + u64::from(d - b'0'));
        // Both ends are at ASCII bytes, so both are character boundaries.
        Some(Numbered {
            prefix: &key[..start],
            suffix: &key[end..],
            n,
        })
    }
}

/// The numbered ones of `keys`, each with its parts, in order: what a lookup in runs asks.
pub(crate) fn numbered(keys: &[String]) -> Vec<(Numbered<'_>, &String)> {
    keys.iter()
        .filter_map(|k| Numbered::of(k).map(|n| (n, k)))
        .collect()
}

/// The key at `place` (from 0) of the `asked` a lookup in runs was given.
pub(crate) fn key_at<'a>(
    asked: &[(Numbered<'_>, &'a String)],
    place: i64,
) -> Result<&'a String, StateError> {
    usize::try_from(place)
        .ok()
        .and_then(|place| asked.get(place))
        .map(|(_, key)| *key)
        .ok_or(StateError::Corrupt("claim run lookup's place"))
}

/// The key of number `n` between `prefix` and `suffix`.
pub(crate) fn key(prefix: &str, n: u64, suffix: &str) -> String {
    let mut key = String::with_capacity(prefix.len() + 20 + suffix.len());
    key.push_str(prefix);
    key.push_str(&n.to_string());
    key.push_str(suffix);
    key
}

/// One transaction's claims of `prefix + first + suffix` … `prefix + last + suffix`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct ClaimRun<'a> {
    pub namespace: &'a str,
    pub prefix: &'a str,
    pub suffix: &'a str,
    pub first: u64,
    pub last: u64,
    pub version: Version,
}

impl<'a> ClaimRun<'a> {
    /// A run as a transaction carried it.
    pub(crate) fn carried(run: &'a StateClaimRun) -> ClaimRun<'a> {
        ClaimRun {
            namespace: &run.namespace,
            prefix: &run.run.prefix,
            suffix: &run.run.suffix,
            first: run.run.first,
            last: run.run.last,
            version: run.version,
        }
    }

    /// How many keys it holds.
    pub(crate) fn len(&self) -> u64 {
        self.last - self.first + 1
    }

    /// Its keys, in the order of their numbers.
    #[cfg(test)]
    pub(crate) fn keys(&self) -> impl Iterator<Item = String> + '_ {
        (self.first..=self.last).map(|n| key(self.prefix, n, self.suffix))
    }
}

/// A run as a backend reads it back: its claims are those of every number from `first` to
/// `last`.
pub(crate) struct RunRow {
    pub namespace: String,
    pub prefix: String,
    pub suffix: String,
    pub first: u64,
    pub last: u64,
    pub version: Version,
}

/// Every row of `claim_runs`, as [`RunRow::read`] reads it (the same on both backends).
pub(crate) const RUNS: &str =
    "SELECT ns, prefix, suffix, first, last, block_num, tx_num FROM claim_runs";

impl RunRow {
    /// A row of [`RUNS`] read back, from either backend.
    pub(crate) fn read<R>(row: &R) -> Result<RunRow, StateError>
    where
        R: sqlx::Row,
        &'static str: sqlx::ColumnIndex<R>,
        for<'r> String: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        for<'r> Vec<u8>: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
        for<'r> i64: sqlx::Decode<'r, R::Database> + sqlx::Type<R::Database>,
    {
        let number = |column: &'static str| to_u64(row.get::<i64, _>(column));
        Ok(RunRow {
            namespace: row.get("ns"),
            prefix: key_string(row.get("prefix"))?,
            suffix: key_string(row.get("suffix"))?,
            first: number("first")?,
            last: number("last")?,
            version: Version {
                block_num: number("block_num")?,
                tx_num: number("tx_num")?,
            },
        })
    }

    /// The claims it holds, in the order of their numbers.
    pub(crate) fn claims(self) -> impl Iterator<Item = StateClaim> {
        let RunRow {
            namespace,
            prefix,
            suffix,
            first,
            last,
            version,
        } = self;
        (first..=last).map(move |n| StateClaim {
            namespace: namespace.clone(),
            key: key(&prefix, n, &suffix),
            version,
        })
    }
}

/// Every claim in `pool`, in (namespace, key) order: the rows of its claims table and every
/// key of every run (the same on both backends).
pub(crate) async fn all_claims<DB>(pool: &sqlx::Pool<DB>) -> Result<Vec<StateClaim>, StateError>
where
    DB: sqlx::Database,
    for<'c> &'c mut DB::Connection: sqlx::Executor<'c, Database = DB>,
    DB::Arguments: sqlx::IntoArguments<DB>,
    &'static str: sqlx::ColumnIndex<DB::Row>,
    for<'r> String: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'r> Vec<u8>: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
    for<'r> i64: sqlx::Decode<'r, DB> + sqlx::Type<DB>,
{
    use sqlx::Row;
    let rows = sqlx::query("SELECT ns, key, block_num, tx_num FROM claims")
        .fetch_all(pool)
        .await
        .map_err(super::db("reading all claims"))?;
    let mut all = Vec::with_capacity(rows.len());
    for r in &rows {
        all.push(StateClaim {
            namespace: r.get("ns"),
            key: key_string(r.get("key"))?,
            version: Version {
                block_num: to_u64(r.get("block_num"))?,
                tx_num: to_u64(r.get("tx_num"))?,
            },
        });
    }
    let runs = sqlx::query(RUNS)
        .fetch_all(pool)
        .await
        .map_err(super::db("reading all claim runs"))?;
    for r in &runs {
        all.extend(RunRow::read(r)?.claims());
    }
    all.sort_unstable_by(|a, b| (&a.namespace, &a.key).cmp(&(&b.namespace, &b.key)));
    Ok(all)
}

/// The longest spans of `items` (sorted) in which each item `joins` the one before, in
/// order: where runs of consecutive numbers begin and end.
pub(crate) fn spans<'a, T>(
    items: &'a [T],
    joins: impl Fn(&T, &T) -> bool + 'a,
) -> impl Iterator<Item = std::ops::Range<usize>> + 'a {
    let mut start = 0;
    std::iter::from_fn(move || {
        (start < items.len()).then(|| {
            let mut end = start + 1;
            while end < items.len() && joins(&items[end - 1], &items[end]) {
                end += 1;
            }
            let span = start..end;
            start = end;
            span
        })
    })
}

/// The last of `runs` that `not_after` holds of (true of a first part of `runs`, false of
/// the rest): sorted by their place, the last whose place is not after a key's is, where
/// runs of one family never overlap, the only one that may hold that key.
pub(crate) fn last_not_after<R>(runs: &[R], not_after: impl Fn(&R) -> bool) -> Option<&R> {
    let after = runs.partition_point(not_after);
    after.checked_sub(1).map(|i| &runs[i])
}

/// A block's claims as runs of at least [`MIN_RUN`] consecutive numbers of one
/// transaction, namespace, prefix and suffix, and the claims that are in none, in the
/// block's order. Every claim is in exactly one of the two. A numbered key the block claims
/// twice is refused here, since two runs, or a run and a claim left alone, would both take
/// it (the claims table's primary key refuses the others).
pub(crate) fn runs_of(
    claims: &[StateClaim],
) -> Result<(Vec<ClaimRun<'_>>, Vec<&StateClaim>), StateError> {
    // Each group's numbered claims (number, version, place in `claims`), the groups by
    // (namespace, prefix, suffix); the others are alone.
    let mut alone = vec![false; claims.len()];
    let mut numbered = grouped(claims.iter().enumerate().filter_map(|(i, c)| {
        let Some(k) = Numbered::of(&c.key) else {
            alone[i] = true;
            return None;
        };
        Some((
            (c.namespace.as_str(), k.prefix, k.suffix),
            (k.n, c.version, i),
        ))
    }));
    // Runs in the order of their groups.
    numbered.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut runs = Vec::new();
    for ((namespace, prefix, suffix), mut ns) in numbered {
        ns.sort_unstable();
        if let Some(pair) = ns.windows(2).find(|p| p[0].0 == p[1].0) {
            return Err(StateError::ClaimedTwice {
                namespace: namespace.to_string(),
                key: claims[pair[1].2].key.clone(),
            });
        }
        for span in spans(&ns, |a, b| a.0.checked_add(1) == Some(b.0) && a.1 == b.1) {
            let (first, version, _) = ns[span.start];
            let run = ClaimRun {
                namespace,
                prefix,
                suffix,
                first,
                last: ns[span.end - 1].0,
                version,
            };
            if run.len() >= MIN_RUN {
                runs.push(run);
            } else {
                for &(_, _, i) in &ns[span] {
                    alone[i] = true;
                }
            }
        }
    }
    let rest = claims
        .iter()
        .zip(alone)
        .filter_map(|(c, alone)| alone.then_some(c))
        .collect();
    Ok((runs, rest))
}

/// A block's runs — those its transactions carried and those its other claims form — and
/// the claims in none, as a state that keeps runs stores them: refused if a key is in two
/// runs, or in a run and among the other claims ([`runs_of`], [`refuse_overlaps`]).
pub(crate) fn of_block(
    update: &BlockUpdate,
) -> Result<(Vec<ClaimRun<'_>>, Vec<&StateClaim>), StateError> {
    let (mut runs, alone) = runs_of(&update.claims)?;
    runs.extend(update.claim_runs.iter().map(ClaimRun::carried));
    refuse_overlaps(&mut runs, &alone)?;
    Ok((runs, alone))
}

/// Refuses a block whose `runs` (in any order; sorted here) hold a key twice, or hold a
/// key of `alone`: validation refuses a transaction that claims a key twice, or one an
/// earlier transaction of its block claimed, so such a block was not validated.
pub(crate) fn refuse_overlaps(
    runs: &mut [ClaimRun<'_>],
    alone: &[&StateClaim],
) -> Result<(), StateError> {
    fn place<'a>(r: &ClaimRun<'a>) -> (&'a str, &'a str, &'a str, u64) {
        (r.namespace, r.prefix, r.suffix, r.first)
    }
    runs.sort_unstable_by(|a, b| place(a).cmp(&place(b)));
    let twice = |namespace: &str, key: String| StateError::ClaimedTwice {
        namespace: namespace.to_string(),
        key,
    };
    for pair in runs.windows(2) {
        let (a, b) = (&pair[0], &pair[1]);
        if (a.namespace, a.prefix, a.suffix) == (b.namespace, b.prefix, b.suffix)
            && a.last >= b.first
        {
            return Err(twice(b.namespace, key(b.prefix, b.first, b.suffix)));
        }
    }
    for c in alone {
        let Some(k) = Numbered::of(&c.key) else {
            continue;
        };
        let at = (c.namespace.as_str(), k.prefix, k.suffix, k.n);
        if last_not_after(runs, |r| place(r) <= at).is_some_and(|r| {
            (r.namespace, r.prefix, r.suffix) == (c.namespace.as_str(), k.prefix, k.suffix)
                && r.last >= k.n
        }) {
            return Err(twice(&c.namespace, c.key.clone()));
        }
    }
    Ok(())
}

/// Which keys, by their place in a JSON list of `[prefix, suffix, n]` (prefix and suffix
/// in hex), a namespace's runs hold: for each, the run of its prefix and suffix with the
/// greatest `first` not above `n`, one seek of the primary key, and whether its `last`
/// reaches `n`.
pub(crate) const CLAIMED_IN_RUNS: &str = "SELECT j.key AS at FROM json_each(?1) AS j \
     WHERE (SELECT r.last FROM claim_runs AS r \
            WHERE r.ns = ?2 AND r.prefix = unhex(j.value ->> 0) \
            AND r.suffix = unhex(j.value ->> 1) AND r.first <= j.value ->> 2 \
            ORDER BY r.first DESC LIMIT 1) >= j.value ->> 2";

/// The JSON list [`CLAIMED_IN_RUNS`] reads.
pub(crate) fn run_key_list<'a>(keys: impl Iterator<Item = &'a Numbered<'a>> + Clone) -> String {
    let mut list = String::with_capacity(
        keys.clone()
            .map(|k| 2 * (k.prefix.len() + k.suffix.len()) + 28)
            .sum::<usize>()
            + 2,
    );
    list.push('[');
    for (i, k) in keys.enumerate() {
        if i > 0 {
            list.push(',');
        }
        list.push_str("[\"");
        list.push_str(&hex::encode(k.prefix));
        list.push_str("\",\"");
        list.push_str(&hex::encode(k.suffix));
        list.push_str("\",");
        list.push_str(&k.n.to_string());
        list.push(']');
    }
    list.push(']');
    list
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::collections::BTreeSet;

    fn claim(ns: &str, key: &str, tx_num: u64) -> StateClaim {
        StateClaim {
            namespace: ns.into(),
            key: key.into(),
            version: Version {
                block_num: 7,
                tx_num,
            },
        }
    }

    #[test]
    fn a_key_splits_at_its_last_number() {
        let k = Numbered::of("\0seen\0alpha\0A123\0").unwrap();
        assert_eq!((k.prefix, k.n, k.suffix), ("\0seen\0alpha\0A", 123, "\0"));
        let k = Numbered::of("12-34x").unwrap();
        assert_eq!((k.prefix, k.n, k.suffix), ("12-", 34, "x"));
        let k = Numbered::of("0").unwrap();
        assert_eq!((k.prefix, k.n, k.suffix), ("", 0, ""));
        let k = Numbered::of("é9ü").unwrap();
        assert_eq!((k.prefix, k.n, k.suffix), ("é", 9, "ü"));
        let most = "9".repeat(MAX_DIGITS);
        assert_eq!(Numbered::of(&most).unwrap().n, 999_999_999_999_999_999);
    }

    #[test]
    fn keys_without_one_canonical_number_are_not_numbered() {
        for key in ["", "abc", "A007", "A00", "\0seen\0b\0x0123\0"] {
            assert_eq!(Numbered::of(key), None, "{key:?}");
        }
        assert_eq!(Numbered::of(&"1".repeat(MAX_DIGITS + 1)), None);
    }

    #[test]
    fn consecutive_numbers_of_a_transaction_are_one_run() {
        let claims: Vec<StateClaim> = ["A9", "A10", "A11", "A13", "B1", "A12", "C", "A20"]
            .iter()
            .map(|k| claim("n", k, 0))
            .chain([claim("n", "A14", 1), claim("n", "A15", 1)])
            .collect();
        let (runs, rest) = runs_of(&claims).unwrap();
        let spans: Vec<_> = runs
            .iter()
            .map(|r| (r.prefix, r.first, r.last, r.version.tx_num))
            .collect();
        assert_eq!(spans, vec![("A", 9, 13, 0), ("A", 14, 15, 1)]);
        let rest: Vec<&str> = rest.iter().map(|c| c.key.as_str()).collect();
        assert_eq!(rest, vec!["B1", "C", "A20"]);
    }

    #[test]
    fn a_numbered_key_claimed_twice_in_a_block_is_refused() {
        for twice in [
            vec![
                claim("n", "A1", 0),
                claim("n", "A2", 0),
                claim("n", "A2", 1),
            ],
            vec![
                claim("n", "A5", 0),
                claim("n", "A1", 1),
                claim("n", "A5", 2),
            ],
        ] {
            assert!(matches!(
                runs_of(&twice),
                Err(StateError::ClaimedTwice { key, .. }) if key == "A2" || key == "A5"
            ));
        }
        assert!(runs_of(&[claim("a", "A1", 0), claim("b", "A1", 0)]).is_ok());
    }

    /// A block whose runs, carried or formed from its other claims, hold a key twice, or
    /// a key of a claim left alone, is refused before anything is written.
    #[test]
    fn runs_that_hold_a_key_twice_are_refused() {
        let run = |ns: &'static str, first, last, tx_num| ClaimRun {
            namespace: ns,
            prefix: "A",
            suffix: "",
            first,
            last,
            version: Version {
                block_num: 7,
                tx_num,
            },
        };
        let alone = [
            claim("n", "A20", 2),
            claim("n", "B5", 2),
            claim("m", "A3", 2),
        ];
        let alone: Vec<&StateClaim> = alone.iter().collect();
        let mut apart = vec![run("n", 10, 19, 1), run("n", 1, 9, 0), run("m", 5, 6, 0)];
        assert!(refuse_overlaps(&mut apart, &alone).is_ok());
        for (mut runs, twice) in [
            (vec![run("n", 10, 19, 1), run("n", 1, 10, 0)], "A10"),
            (vec![run("n", 1, 30, 1), run("n", 5, 6, 0)], "A5"),
            (vec![run("n", 18, 25, 1)], "A20"),
            (vec![run("m", 2, 4, 1)], "A3"),
        ] {
            assert!(matches!(
                refuse_overlaps(&mut runs, &alone),
                Err(StateError::ClaimedTwice { key, .. }) if key == twice
            ));
        }
    }

    #[test]
    fn a_run_never_spans_namespaces() {
        let claims = vec![claim("a", "K1", 0), claim("b", "K2", 0)];
        let (runs, rest) = runs_of(&claims).unwrap();
        assert!(runs.is_empty());
        assert_eq!(rest.len(), 2);
    }

    proptest! {
        /// Every claim is in exactly one run or left alone, each run's keys are one
        /// transaction's and consecutive, and each key splits back into its run.
        #[test]
        fn runs_and_the_rest_are_the_claims(
            keys in proptest::collection::btree_map(
                (0u8..3, prop_oneof![Just("A"), Just("B"), Just("x0")], 0u64..40),
                0u64..2,
                0..80,
            ),
        ) {
            let claims: Vec<StateClaim> = keys
                .iter()
                .map(|(&(ns, p, n), &tx)| claim(&format!("ns{ns}"), &format!("{p}{n}\0"), tx))
                .collect();
            let (runs, rest) = runs_of(&claims).unwrap();
            let mut seen = BTreeSet::new();
            for r in &runs {
                prop_assert!(r.len() >= MIN_RUN);
                for k in r.keys() {
                    let n = Numbered::of(&k).unwrap();
                    prop_assert_eq!((n.prefix, n.suffix), (r.prefix, r.suffix));
                    prop_assert!(seen.insert((r.namespace.to_string(), k, r.version)));
                }
            }
            for c in &rest {
                prop_assert!(seen.insert((c.namespace.clone(), c.key.clone(), c.version)));
            }
            let all: BTreeSet<_> = claims
                .iter()
                .map(|c| (c.namespace.clone(), c.key.clone(), c.version))
                .collect();
            prop_assert_eq!(seen, all);
        }

        /// A numbered key is made again from its parts.
        #[test]
        fn a_numbered_key_is_its_parts(
            key in prop_oneof!["[a-z0-9\\x00é-]{0,24}", "\\PC{0,30}"],
        ) {
            if let Some(k) = Numbered::of(&key) {
                prop_assert_eq!(super::key(k.prefix, k.n, k.suffix), key.clone());
                prop_assume!(k.n < 999_999_999_999_999_999);
                let other = super::key(k.prefix, k.n + 1, k.suffix);
                let o = Numbered::of(&other).unwrap();
                prop_assert_eq!((o.prefix, o.suffix, o.n), (k.prefix, k.suffix, k.n + 1));
            }
        }
    }
}
